"""Who may read which part of a plan: signed queries checked, sections filtered per role.

A partner signs its query with its Ed25519 key (`ketenbus_contracts.plan.sign_plan_query`).
It gets the plan of a child only when it is a party to that plan (or told of its match), and
only the sealed sections of purposes its role may hold under the processing register; the
others are listed as withheld, so it knows something is there. Signals are the signallers':
a partner sees its own, and those of a match it is told of without their sections
(`domain.signalling_seen_by`). It opens what it got with its own keys
(`ketenbus_partner.plan.open_plan`); this side never opens anything.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey

from ketenbus_contracts.plan import PlanQuery, PlanQueryError, sealed_items, verify_plan_query
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.register import ProcessingRegister
from ketenbus_contracts.sealing import MAX_REQUEST_SKEW_SECONDS
from ketenbus_partner.plan import kinds_only
from services.integral_plan.domain import match_parties, signalling_seen_by
from services.integral_plan.views import DOSSIER, HANDOVERS
from services.policy.loading import load_register
from services.runtime.parent_links import OWN_ACCOUNT_ROLES
from services.runtime.partners import PartnerRegistry
from services.runtime.replay import ReplayGuard, Replays


class NotOnPlanError(PermissionError):
    """The partner takes no part in this child's plan."""


class PlanAccess:
    """Checks signed queries against the partner registry and the processing register."""

    def __init__(
        self,
        directory: PartnerRegistry,
        register: ProcessingRegister,
        replays: Replays | None = None,
    ) -> None:
        self.directory = directory
        self.register = register
        # The running service's shared guard (its instances', kept over a restart), else one
        # in memory.
        self.replays: Replays = replays or ReplayGuard(MAX_REQUEST_SKEW_SECONDS)

    @classmethod
    def load(cls, data_dir: Path) -> PlanAccess:
        return cls(PartnerRegistry.load(data_dir), load_register())

    @classmethod
    def of(cls, directory: PartnerRegistry | None, replays: Replays | None = None) -> PlanAccess:
        """With the registry the service's composition root loaded (`Service`) and its running
        service's replay guard."""
        if directory is None:
            raise RuntimeError("the plan's queries are answered with its service's registry")
        return cls(directory, load_register(), replays)

    def _signing_key(self, partner: str) -> OKPKey | None:
        keys = self.directory.public_keys(partner)
        if keys is None:
            # Demo partners get their keys on first use: look again before refusing.
            self.directory.forget_keys()
            keys = self.directory.public_keys(partner)
        return keys.signing if keys else None

    async def verify(self, token: str) -> PlanQuery:
        """The query, if signed by a registered partner, fresh and not answered before (by any
        instance); raises PlanQueryError."""
        now = time.time()
        query = verify_plan_query(token, self._signing_key, now=now)
        if not await self.replays.first(query.partner, query.nonce, now):
            raise PlanQueryError("replayed-request", "this signed request was answered before")
        return query

    def role_of(self, partner: str) -> str:
        try:
            return self.directory.entry(partner).role
        except LookupError:
            raise PlanQueryError("unknown-partner", "the partner is not registered") from None

    def may_hold(self, role: str) -> set[str]:
        return {
            purpose.value
            for purpose in Purpose
            if role in self.register.activity(purpose).holder_roles
        }

    def visible_plan(
        self, plan: dict[str, Any], partner: str, parents: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The plan as `partner` may receive it; raises NotOnPlanError. A parent's account
        (role parent), or the pupil's own (role pupil), gets the parents' view, when `parents`
        (the accounts a school or the municipality linked to the child) has it."""
        if self.role_of(partner) in OWN_ACCOUNT_ROLES:
            return parents_view(plan, partner, parents)
        if not takes_part(plan, partner):
            raise NotOnPlanError("the partner takes no part in this plan")
        allowed = self.may_hold(self.role_of(partner))
        visible = without_dossier(signalling_seen_by(copy.deepcopy(plan), partner))
        # A parent's objection is for the organisation objected to alone.
        visible["objections"] = [
            o for o in visible.get("objections", []) if o["partner"] == partner
        ]
        for item in sealed_items(visible):
            _filter(item, allowed)
        return visible


PARENT_ROLE = "parent"


def parents_view(plan: dict[str, Any], parent: str, parents: frozenset[str]) -> dict[str, Any]:
    """What a linked parent sees: who takes part and how to reach them, the kinds of
    information on the plan (never the content: every section reduced to its purpose), no
    signal of anyone (Jeugdwet afdeling 7.1: those stay with their signallers), and which
    actions are theirs to do or to hear back about, and each handover's prepared dossier
    still sealed (`dossier`: their inzage before it goes, opened with the parent account's
    keys through kluis). Raises NotOnPlanError when the parent is not linked to the child."""
    if parent not in parents:
        raise NotOnPlanError("the parent is not linked to this child")
    view = kinds_only(signalling_seen_by(copy.deepcopy(plan), parent))
    view["objections"] = [o for o in view.get("objections", []) if o["parent"] == parent]
    view["for_parent"] = [
        a["action_id"] for a in view.get("actions", []) if parent in (a["actor"], a["reports_to"])
    ]
    return view


def without_dossier(view: dict[str, Any]) -> dict[str, Any]:
    """`view` without the handovers' prepared dossiers: those go to the linked parents only (the
    sender has its own; the receiver gets what may leave with `dossier-delivered`)."""
    for handover in view.get(HANDOVERS, []):
        handover.pop(DOSSIER, None)
    return view


def takes_part(plan: dict[str, Any], partner: str) -> bool:
    parties = {p["partner"] for p in plan.get("parties", []) if p.get("active", True)}
    return partner in parties | match_parties(plan.get("match"))


def _filter(item: dict[str, Any], allowed: set[str]) -> None:
    sealed: dict[str, str] = item.get("sealed", {})
    item["sealed"] = {p: t for p, t in sealed.items() if p in allowed}
    withheld = sorted(p for p in sealed if p not in allowed)
    if withheld:
        item["withheld"] = withheld


__all__ = ["NotOnPlanError", "PlanAccess", "PlanQueryError", "parents_view", "takes_part"]
