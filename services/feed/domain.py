"""The feed's rules: which partner gets a copy of which event, with which sections. No I/O.

- A partner gets a copy of an event about a child while it has a current relation with that
  child (before or after the event: the signaller gets its own signal, and the end of a
  relation is told to whom it ended for). An event type may narrow that to the partners whose
  relation rests on the basis the event itself starts or ends (`basis`: a signal is visible
  only to its signaller); both come from `infra/feed.yaml`.
- Relations are derived from the contract events (`relation_changes_of`: the relation kinds
  of `infra/relations.yaml` are the events' bases).
- A copy holds only the sealed sections the partner may hold (`trim`): the purposes whose
  holder roles in the processing register include the partner's role **and** for which the
  partner has a current relation on a basis the relation rules (`services/policy`) let open
  that purpose. The rule, so a partner can check a copy: `data.sealed` keeps only those
  purposes, `purposes` likewise, and the handover's dossier `data.sections` (each sealed under
  `handover`) are dropped for a partner that may not hold `handover`. Every remaining JWE is
  left as it was (bound to the event id, which the copy keeps), so the partner opens it with
  its own key; the feed signs the copy. Which scope of a purpose (own, record, child) a
  partner's key opens is kluis's to decide when it releases the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from eventsourcing.domain import event

from ketenbus_contracts.envelope import CloudEvent, RelationChange
from services.runtime.aggregate import PerChild

NAMESPACE = uuid.UUID("2f0c3a4e-5d8b-4e61-9a77-666565642d31")
HANDOVER = "handover"

Audience = Literal["related", "basis", "match", "addressed"]
# The relations of the parties to a match (Jeugdwet art. 7.1.4.1): its signallers and its
# coordinator; a `match` event goes to them and to whom the match names in `data.notify`.
MATCH_BASES = frozenset({"signal", "coordination"})


class FeedError(Exception):
    """A rule of the feed refused the input."""


class InvalidFeedRulesError(FeedError):
    """The feed's rules (infra/feed.yaml, register, registry) are inconsistent."""


@dataclass(frozen=True)
class FeedRules:
    """Who reads what: the partners with a feed and their roles, the purposes each role may
    hold (the processing register's holder roles), and each event type's audience."""

    roles: Mapping[str, str]
    holder_purposes: Mapping[str, frozenset[str]]
    audiences: Mapping[str, Audience] = field(default_factory=dict)
    default_audience: Audience = "related"
    # purpose → the relation bases that open it (none given: the role alone decides)
    granting_bases: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = {a for a in (*self.audiences.values(), self.default_audience)} - {
            "related",
            "basis",
            "match",
            "addressed",
        }
        if unknown:
            raise InvalidFeedRulesError(f"unknown audience {sorted(unknown)}")

    def has_feed(self, partner: str) -> bool:
        return partner in self.roles

    def purposes_of(self, partner: str, bases: Iterable[str] | None = None) -> frozenset[str]:
        """The purposes whose sections `partner` may hold, with a relation on `bases` (none
        for an unknown partner)."""
        role = self.roles.get(partner)
        held = frozenset() if role is None else self.holder_purposes.get(role, frozenset())
        if bases is None or not self.granting_bases:
            return held
        on = set(bases)
        return frozenset(p for p in held if self.granting_bases.get(p, frozenset()) & on)

    def audience_of(self, event_type: str) -> Audience:
        return self.audiences.get(event_type, self.default_audience)


def relation_changes_of(event: CloudEvent[Any]) -> list[RelationChange]:
    """The relations with the child the event starts or ends (swap for the shared rules)."""
    return event.relation_changes()


class ChildFeed(PerChild):
    """The partners with a current relation with one child (by pseudonym), and on what basis."""

    namespace, kind = NAMESPACE, "child-feed"

    def opened(self) -> None:
        # "partner|basis|basis_id" of every current relation
        self.relations: list[str] = []

    @staticmethod
    def key(partner: str, basis: str, basis_id: str) -> str:
        return f"{partner}|{basis}|{basis_id}"

    def partners(self) -> set[str]:
        return {key.split("|", 1)[0] for key in self.relations}

    def bases_of(self, partner: str) -> set[str]:
        """The kinds of the partner's current relations (signal, enrolment, plan-party, …)."""
        return {key.split("|")[1] for key in self.relations if key.split("|", 1)[0] == partner}

    def on_basis(self, basis: str, basis_id: str) -> set[str]:
        """The partners whose current relation rests on this basis."""
        suffix = f"|{basis}|{basis_id}"
        return {key.split("|", 1)[0] for key in self.relations if key.endswith(suffix)}

    def apply(self, change: RelationChange) -> set[str]:
        """Start or end a relation; the partners the change concerns."""
        if change.partner is None:
            ended = self.on_basis(change.basis, change.basis_id)
            for partner in sorted(ended):
                self._end(ChildFeed.key(partner, change.basis, change.basis_id))
            return ended
        key = ChildFeed.key(change.partner, change.basis, change.basis_id)
        if change.active and key not in self.relations:
            self._start(key)
        elif not change.active and key in self.relations:
            self._end(key)
        return {change.partner}

    @event("RelationStarted")
    def _start(self, key: str) -> None:
        self.relations.append(key)

    @event("RelationEnded")
    def _end(self, key: str) -> None:
        self.relations.remove(key)

    @event("Erased")
    def erase(self) -> None:
        self.relations = []


def recipients(
    rules: FeedRules,
    event_type: str,
    bases: Mapping[str, Iterable[str]],
    named: Iterable[str],
    notified: Iterable[str] = (),
    notify: Iterable[str] = (),
) -> list[str]:
    """The partners that get a copy (only partners that have a feed): for a `related` event
    every partner related to the child (`bases`: partner → its relation kinds) and whom the
    event names in `data.notify` (`notify`: a thuiszitter's leerplicht); for a `basis`
    event only those the event's own relation changes concern; for a `match` event the parties
    to the match (a signal or coordination relation) and whom the event notifies; for an
    `addressed` event only whom it notifies."""
    audience = rules.audience_of(event_type)
    if audience == "addressed":
        chosen = set(notified)
    elif audience == "basis":
        chosen = set(named)
    elif audience == "match":
        chosen = {p for p, kinds in bases.items() if MATCH_BASES & set(kinds)} | set(notified)
    else:
        chosen = set(bases) | set(notify)
    return sorted(p for p in chosen if rules.has_feed(p))


def trim(envelope: Mapping[str, Any], purposes: frozenset[str]) -> dict[str, Any]:
    """The envelope with only the sections of `purposes` (see the module's rule)."""
    data = dict(envelope.get("data") or {})
    sealed = data.get("sealed")
    if isinstance(sealed, dict):
        data["sealed"] = {p: token for p, token in sealed.items() if p in purposes}
    sections = data.get("sections")
    if HANDOVER not in purposes and isinstance(sections, list):
        data["sections"] = [s for s in sections if not (isinstance(s, dict) and "sealed" in s)]
    copy = dict(envelope)
    copy["data"] = data
    if isinstance(envelope.get("purposes"), list):
        copy["purposes"] = [p for p in envelope["purposes"] if p in purposes]
    return copy
