"""handover's composition root."""

from __future__ import annotations

from services.handover.application import HandoverApplication
from services.handover.handlers import INBOUND, LINKS, NEEDED, attachment_desk
from services.handover.translation import apply_inbound, to_contract
from services.policy.handover import load_rules
from services.runtime.service import Service, Translation
from services.runtime.streams import HANDOVER_ATTACHMENTS

SERVICE = Service(
    HandoverApplication,
    (INBOUND, NEEDED, LINKS),
    translation=Translation(apply_inbound, to_contract),
    routes=attachment_desk,
    tick_every=lambda: load_rules().tick_seconds,  # deadlines as data (infra/handover/)
    object_stores=(HANDOVER_ATTACHMENTS,),
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec
