"""The feed's composition root: its rules from infra/, its signing key, its application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ketenbus_contracts.feed import FEED_SIGNER, sign_feed_entry
from ketenbus_contracts.purposes import Purpose
from services.feed.application import FeedApplication
from services.feed.domain import Audience, FeedRules
from services.feed.handlers import CONSUMES, publishers
from services.infra import INFRA_DIR
from services.policy.loading import REGISTER_PATH, RELATIONS_PATH, load_register, load_relations
from services.runtime.partners import PartnerRegistry
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.runtime.signers import OwnKeys
from services.runtime.streams import FEED

FEED_RULES_PATH = INFRA_DIR / "feed.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeedFile(_Strict):
    version: str
    # How long FEED keeps an entry (read by services.runtime.streams `feed_max_age`).
    retention: str = Field(pattern=r"^P[1-9][0-9]{0,3}D$")
    default_audience: Audience = "related"
    audiences: dict[str, Audience] = {}


def load_rules(
    feed_path: Path = FEED_RULES_PATH,
    register_path: Path = REGISTER_PATH,
    relations_path: Path = RELATIONS_PATH,
    partners: PartnerRegistry | None = None,
) -> FeedRules:
    """Who has a feed (every registered partner that is not a backbone service), what each
    role may hold (the register's holder roles), which relation bases open each purpose (the
    relation rules) and each event type's audience."""
    feed = FeedFile.model_validate(yaml.safe_load(feed_path.read_text(encoding="utf-8")))
    register = load_register(register_path)
    relations = load_relations(relations_path)
    holder: dict[str, set[str]] = {}
    for purpose, activity in register.activities.items():
        for role in activity.holder_roles:
            holder.setdefault(role, set()).add(purpose.value)
    registry = partners or PartnerRegistry.load()
    return FeedRules(
        roles={p.id: p.role for p in registry.entries if not p.is_service},
        holder_purposes={role: frozenset(purposes) for role, purposes in holder.items()},
        audiences=feed.audiences,
        default_audience=feed.default_audience,
        granting_bases={p.value: relations.granting_bases(p) for p in Purpose},
    )


def _needs(settings: Settings, registry: PartnerRegistry) -> dict[str, Any]:
    own = OwnKeys(settings.data_dir, FEED_SIGNER)  # a rotation is taken in within a second
    return {
        "rules": load_rules(partners=registry),
        "sign": lambda body: sign_feed_entry(body, own.current()),
    }


SERVICE = Service(
    FeedApplication,
    CONSUMES,
    _needs,
    routes=publishers,
    publish_subjects=FEED.subjects,  # the copies, on `feed.<partner>.>`
)
create_application = SERVICE.create_application
service_spec = SERVICE.service_spec
