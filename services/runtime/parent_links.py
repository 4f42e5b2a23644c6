"""The parents' accounts a school or the municipality linked to a child, as a service that
takes a parent's own decisions keeps them: from the plan's `parent-linked` and
`parent-unlinked` on PLAN (the plan service checks who may link). Handover (consent on a
dossier) and arrangements (consent on an OPP's handelingsdeel) each keep their own copy in
their own store; a parent's account acts only for a child it is linked to. A link may name the
pupil's own account (registry role pupil, from 16): handover takes the pupil's own consent
from it where the pupil decides; it is no parent's account anywhere."""

from __future__ import annotations

import uuid
from typing import Annotated

from eventsourcing.domain import Aggregate, event
from pydantic import Field

from ketenbus_contracts.plan import ParentLinked, ParentUnlinked
from services.runtime.partners import PartnerRegistry
from services.runtime.service import Consumes, ServiceApplication
from services.runtime.store import Batch
from services.runtime.streams import ConsumerSpec

NAMESPACE = uuid.UUID("5f1d0c3a-2b7e-4c61-9a0d-706172656e74")
PARENT_ROLE = "parent"
PUPIL_ROLE = "pupil"
# The roles of a person's own account (not an organisation's), linked to a child by a link.
OWN_ACCOUNT_ROLES = (PARENT_ROLE, PUPIL_ROLE)


class LinkedParents(Aggregate):
    """The parents' accounts linked to one child, by link."""

    class Created(Aggregate.Created):
        child: str

    class Linked(Aggregate.Event):
        link_id: uuid.UUID
        parent: str

    class Unlinked(Aggregate.Event):
        link_id: uuid.UUID

    @staticmethod
    def create_id(child: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"parents/{child}")

    @event(Created)
    def __init__(self, child: str) -> None:
        self.child = child
        self.links: dict[uuid.UUID, str] = {}

    def link(self, link_id: uuid.UUID, parent: str) -> None:
        if self.links.get(link_id) != parent:
            self._linked(link_id=link_id, parent=parent)

    def unlink(self, link_id: uuid.UUID) -> None:
        if link_id in self.links:
            self._unlinked(link_id=link_id)

    def has(self, parent: str) -> bool:
        return parent in self.links.values()

    @event(Linked)
    def _linked(self, link_id: uuid.UUID, parent: str) -> None:
        self.links[link_id] = parent

    @event(Unlinked)
    def _unlinked(self, link_id: uuid.UUID) -> None:
        del self.links[link_id]


class TakesParentLinks(ServiceApplication):
    """A service application that keeps the parents' links (`LinkedParents`) and takes a
    parent's account's own decisions only for a child it is linked to."""

    def link_parent(
        self, *, child: str, link_id: uuid.UUID, parent: str, batch: Batch | None = None
    ) -> None:
        """The plan recorded a parent's link (checked there against the relation rules)."""
        self.run(batch, lambda now: self.load(now, LinkedParents, child).link(link_id, parent))

    def unlink_parent(self, *, child: str, link_id: uuid.UUID, batch: Batch | None = None) -> None:
        self.run(batch, lambda now: self.load(now, LinkedParents, child).unlink(link_id))

    def parent_link(self, current: Batch, child: str, partner: str) -> bool | None:
        """None when `partner` is no parent's account; else whether it is linked to `child`."""
        found = self.own_account_link(current, child, partner)
        if found is None or found[0] != PARENT_ROLE:
            return None
        return found[1]

    def own_account_link(self, current: Batch, child: str, partner: str) -> tuple[str, bool] | None:
        """None when `partner` is an organisation's account; else its role (a parent's or the
        pupil's own account) and whether a link names it for `child`."""
        registry = self.registry or PartnerRegistry.load()
        role = registry.role_of(partner)
        if role not in OWN_ACCOUNT_ROLES:
            return None
        links = current.get(LinkedParents.create_id(child), lambda: LinkedParents(child))
        return str(role), links.has(partner)


ParentLinks = ParentLinked | ParentUnlinked


def parent_links(consumer: ConsumerSpec, what: str) -> Consumes:
    """The service's consumer of the plan's parent links (`consumer`: its PLAN consumer)."""
    return Consumes(
        consumer,
        "a school or the municipality linked a parent's account to a child, or ended the link: "
        f"that account {what} itself.",
        payload=Annotated[ParentLinks, Field(discriminator="type")],
    )


def apply_link(app: TakesParentLinks, event: ParentLinks, batch: Batch | None) -> None:
    """Keep the parent link `event` tells."""
    if isinstance(event, ParentLinked):
        link = event.data
        app.link_parent(child=event.subject, link_id=link.link_id, parent=link.parent, batch=batch)
    else:
        app.unlink_parent(child=event.subject, link_id=event.data.link_id, batch=batch)
