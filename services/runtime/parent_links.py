"""The parents' accounts a school or the municipality linked to a child, as a service that
takes a parent's own decisions keeps them: from the plan's `parent-linked` and
`parent-unlinked` on PLAN (the plan service checks who may link). Handover (consent on a
dossier) and arrangements (consent on an OPP's handelingsdeel) each keep their own copy in
their own store; a parent's account acts only for a child it is linked to."""

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
        registry = self.registry or PartnerRegistry.load()
        if registry.role_of(partner) != PARENT_ROLE:
            return None
        links = current.get(LinkedParents.create_id(child), lambda: LinkedParents(child))
        return links.has(partner)


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
