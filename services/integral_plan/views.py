"""The plan's views: what other domains recorded about the child, and the plan's timeline.

Signals and the match, handovers, arrangements and their disputes, attendance (enrolments, a
thuiszitter, the three-month rule, exemptions, offers, verzuim reports) and the timeline are
projected from the events the plan consumes, not recorded as the plan's own events. A
`PlanView` holds one child's items, keyed by section and item (the rows of the views table,
`services.integral_plan.index`); a batch changes the views of the plans it touches and the
recorder writes the changed rows in the batch's transaction, with the plan's events, so they
never disagree and a replay of the streams rebuilds them. Items are kept as their readers get
them (clear fields, ISO dates; sealed sections still sealed, bound to their event id).

`plan_view` puts the plan's decisions (the aggregate's values) and its views together into the
plan as readers get it. No I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Any

from services.integral_plan.domain import Plan, PlanParty

SIGNALS, MATCH, HANDOVERS, ARRANGEMENTS = "signals", "match", "handovers", "arrangements"
INFORMING = "informing"  # a signal's informing task (the signaller's alone)
# A handover's prepared dossier, still sealed: kept in the view for the linked parents only.
DOSSIER = "dossier"
ENROLMENTS, EXEMPTIONS, OFFERS, REPORTS = "enrolments", "exemptions", "offers", "reports"
JGZ_REFERRALS = "jgz_referrals"
THUISZITTER, THREE_MONTH, TIMELINE = "thuiszitter", "three_month", "timeline"
RESIDENCE = "residence"  # the municipality where the child lives (the population feed)
ONE = ""  # the key of a section that holds one item (the match, the thuiszitter, …)

Row = tuple[str, str, dict[str, Any]]
Change = tuple[str, str, dict[str, Any] | None]  # None: the item is gone


class PlanView:
    """One child's projected items: loaded from its rows, changed by the events it notes.

    `source` names the event being applied (its id): the timeline entries it adds are keyed by
    it, so a replay of the same events writes the same rows.
    """

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        self._items: dict[str, dict[str, dict[str, Any]]] = {}
        self._timeline: dict[str, dict[str, Any]] = {}
        for section, key, body in rows:
            if section == TIMELINE:
                self._timeline[key] = body
            else:
                self._items.setdefault(section, {})[key] = body
        self._changed: set[tuple[str, str]] = set()
        self._entries: dict[str, int] = {}  # timeline entries added per source
        self.source = ""

    # rows

    def settle(self) -> None:
        """Forget what changed, as a view loaded again from its rows would (a replay that
        keeps the view in memory between batches, `services.integral_plan.replaying`)."""
        self._changed.clear()
        self._entries.clear()

    def changes(self) -> list[Change]:
        """The items changed since loaded (None: dropped), timeline entries included."""
        out: list[Change] = []
        for section, key in sorted(self._changed):
            items = self._timeline if section == TIMELINE else self._items.get(section, {})
            out.append((section, key, items.get(key)))
        return out

    def _section(self, section: str) -> dict[str, dict[str, Any]]:
        return self._items.setdefault(section, {})

    def _one(self, section: str) -> dict[str, Any] | None:
        return self._items.get(section, {}).get(ONE)

    def _put(self, section: str, key: str, body: dict[str, Any] | None) -> None:
        items = self._section(section)
        if body is None:
            items.pop(key, None)
        else:
            items[key] = body
        self._changed.add((section, key))

    def _timeline_entry(
        self, at: str, kind: str, partner: str, *, ref: str = "", by: str = ""
    ) -> None:
        what = f"{kind} {'between' if kind == 'match' else 'by'} {partner}"
        entry = {"at": at, "kind": kind, "partner": partner, "what": what}
        if ref:
            entry["ref"] = ref
        if by and by != partner:
            entry["by"] = by
        n = self._entries[self.source] = self._entries.get(self.source, -1) + 1
        key = f"{self.source}/{n}"
        self._timeline[key] = entry
        self._changed.add((TIMELINE, key))

    # the plan's own decisions, on the timeline

    def decided(self, decision: Any) -> None:
        """A decision the plan recorded (its own event): its timeline entry."""
        d = decision
        if isinstance(d, Plan.PartyJoined):
            self._timeline_entry(
                d.joined_on.isoformat(), "party-joined", d.party["partner"], by=d.by
            )
        elif isinstance(d, Plan.PartyLeft):
            self._timeline_entry(d.left_on.isoformat(), "party-left", d.partner, by=d.by)
        elif isinstance(d, Plan.RegieAssigned):
            at = d.assigned_on.isoformat()
            self._timeline_entry(at, "regie-assigned", d.regisseur, ref=d.domain, by=d.by)
        elif isinstance(d, Plan.GoalSet):
            self._timeline_entry(d.set_on.isoformat(), "goal-set", d.by, ref=str(d.goal_id))
        elif isinstance(d, Plan.AgreementMade):
            at = d.made_on.isoformat()
            self._timeline_entry(at, "agreement-made", d.by, ref=str(d.agreement_id))
        elif isinstance(d, Plan.ActionAgreed):
            at = d.agreed_on.isoformat()
            self._timeline_entry(at, "action-agreed", d.actor, ref=str(d.action_id))
        elif isinstance(d, Plan.ActionDone):
            self._timeline_entry(d.done_on.isoformat(), "action-done", d.by, ref=str(d.action_id))

    # signalling

    def note_signal(
        self,
        signal_id: uuid.UUID,
        signaller: dict[str, str],
        registered_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        body = {
            "signal_id": str(signal_id),
            "partner": signaller["partner"],
            "role": signaller.get("role", ""),
            "contact": signaller.get("contact", ""),
            "registered_on": registered_on.isoformat(),
            "status": "active",
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._put(SIGNALS, str(signal_id), body)
        at = registered_on.isoformat()
        self._timeline_entry(at, "signal", signaller["partner"], ref=str(signal_id))

    def note_informing(
        self,
        signal_id: uuid.UUID,
        audience: list[str],
        since: date,
        postponed_until: date | None,
    ) -> None:
        """The signaller's informing task on its signal (shown to the signaller alone)."""
        signal = self._section(SIGNALS).get(str(signal_id))
        if signal is not None:
            task = {
                "audience": list(audience),
                "since": since.isoformat(),
                "postponed_until": postponed_until.isoformat() if postponed_until else None,
            }
            self._put(SIGNALS, str(signal_id), signal | {INFORMING: task})

    def note_withdrawal(self, signal_id: uuid.UUID, withdrawn_on: date, reason: str) -> None:
        signal = self._section(SIGNALS).get(str(signal_id))
        if signal is not None:
            self._put(SIGNALS, str(signal_id), signal | {"status": reason})
            at, partner = withdrawn_on.isoformat(), signal["partner"]
            self._timeline_entry(at, f"signal-{reason}", partner, ref=str(signal_id))

    def note_match(
        self,
        match_id: uuid.UUID,
        signal_ids: list[uuid.UUID],
        partners: list[str],
        found_at: datetime,
        contacts: list[dict[str, str]] | None = None,
        coordinator: dict[str, str] | None = None,
        municipal_coordinator: str | None = None,
    ) -> None:
        """A match: who signalled and how to reach them, the coordinator; never a concern."""
        body = {
            "match_id": str(match_id),
            "signal_ids": [str(s) for s in signal_ids],
            "partners": sorted(partners),
            "found_at": found_at.isoformat(),
            "contacts": sorted((dict(c) for c in contacts or []), key=lambda c: c["partner"]),
            "coordinator": dict(coordinator) if coordinator else None,
            "municipal_coordinator": municipal_coordinator,
        }
        self._put(MATCH, ONE, body)
        self._timeline_entry(found_at.isoformat(), "match", ", ".join(sorted(partners)))

    def _this_match(self, match_id: uuid.UUID) -> dict[str, Any] | None:
        match = self._one(MATCH)
        return match if match is not None and match["match_id"] == str(match_id) else None

    def note_match_coordinator(self, match_id: uuid.UUID, coordinator: dict[str, str]) -> None:
        if (match := self._this_match(match_id)) is not None:
            self._put(MATCH, ONE, match | {"coordinator": dict(coordinator)})

    def note_match_contact(self, match_id: uuid.UUID, partner: str, contacted_on: date) -> None:
        """A signaller reported it made contact with the others: the match shows who did."""
        match = self._this_match(match_id)
        if match is not None and partner not in match.get("contacted", []):
            contacted = sorted([*match.get("contacted", []), partner])
            self._put(MATCH, ONE, match | {"contacted": contacted})

    def note_match_ended(self, match_id: uuid.UUID, ended_on: date) -> None:
        """The match lapsed (fewer than two signals left): what remains is a lone signal again,
        shown to its signaller only."""
        if (match := self._this_match(match_id)) is not None:
            self._put(MATCH, ONE, match | {"ended_on": ended_on.isoformat()})

    # handover

    def _handover(self, handover_id: uuid.UUID) -> dict[str, Any]:
        return dict(
            self._section(HANDOVERS).get(str(handover_id))
            or {
                "handover_id": str(handover_id),
                "transition": None,
                "from": None,
                "to": None,
                "swv": None,
                "planned_on": None,
                "status": "started",
                "delivered_on": None,
                "conversation_on": None,
                "closed_on": None,
                "gaps": [],
                "escalations": [],
                "event_id": None,
                "sealed": {},
            }
        )

    def note_handover_started(
        self,
        handover_id: uuid.UUID,
        transition: str,
        sender: str,
        receiver: str | None,
        swv: str | None,
        planned_on: date,
        started_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
        ground: dict[str, Any] | None = None,
    ) -> None:
        """A handover started; `ground`: on what ground its dossier goes (consent or legal
        duty, and the source), whether the backbone started it by itself."""
        handover = (
            self._handover(handover_id)
            | (ground or {})
            | {
                "transition": transition,
                "planned_on": planned_on.isoformat(),
                "event_id": str(event_id),
                "sealed": dict(sealed),
                "from": sender,
                "to": receiver,
                "swv": swv,
            }
        )
        self._put(HANDOVERS, str(handover_id), handover)
        at = started_on.isoformat()
        self._timeline_entry(at, "handover-started", sender, ref=str(handover_id))

    def note_handover_step(
        self,
        handover_id: uuid.UUID,
        step: str,
        on: date,
        partner: str,
        parties: list[dict[str, str]],
        parents_copy_on: date | None = None,
    ) -> None:
        """`dossier-delivered` (by `partner`, the sender, to the first of `parties`; the day the
        parents got their copy), `warm-conversation-held`, `closed` (no `partner`: the receiver
        closes it, or the sender while there is none)."""
        handover = self._handover(handover_id)
        if step == "dossier-delivered":
            handover["delivered_on"] = on.isoformat()
            if parents_copy_on is not None:
                handover["parents_copy_on"] = parents_copy_on.isoformat()
            handover["to"] = handover["to"] or next((p["partner"] for p in parties), None)
            if handover["status"] == "started":
                handover["status"] = "delivered"
        elif step == "warm-conversation-held":
            handover["conversation_on"] = on.isoformat()
            if handover["status"] != "closed":
                handover["status"] = "warm-conversation-held"
        else:
            handover["closed_on"] = on.isoformat()
            handover["status"] = "closed"
        self._put(HANDOVERS, str(handover_id), handover)
        kind = step if step != "closed" else "handover-closed"
        partner = partner or handover["to"] or handover["from"] or ""
        self._timeline_entry(on.isoformat(), kind, partner, ref=str(handover_id))

    def note_dossier_requested(
        self, handover_id: uuid.UUID, receiver: str, requested_on: date
    ) -> None:
        """The receiving school asked for the dossier (after aanmelding or enrolment there):
        the sender may release it once the parents viewed it (and consented where asked)."""
        handover = self._handover(handover_id)
        handover |= {"requested_on": requested_on.isoformat(), "to": handover["to"] or receiver}
        self._put(HANDOVERS, str(handover_id), handover)
        self._timeline_entry(
            requested_on.isoformat(), "dossier-requested", receiver, ref=str(handover_id)
        )

    def note_dossier_prepared(
        self,
        handover_id: uuid.UUID,
        running: list[dict[str, Any]],
        on: date,
        dossier: list[dict[str, Any]] | None = None,
    ) -> None:
        """The dossier is prepared: the running support it names (reference, kind, carried),
        which the werklijst checks against the arrangements actually running, and its sections
        still sealed (category, rule, sealed, sealed_in) for the linked parents' inzage."""
        handover = self._handover(handover_id) | {
            "running": [dict(r) for r in running],
            "prepared_on": on.isoformat(),
        }
        if dossier is not None:
            handover[DOSSIER] = [dict(s) for s in dossier]
        self._put(HANDOVERS, str(handover_id), handover)

    def note_handover_facts(self, handover_id: uuid.UUID, **facts: Any) -> None:
        """Clear facts of a handover's course the parents' page shows: when the parents' view
        was recorded (`parents_viewed_on`), their consent (`consent`: granted, refused or
        withdrawn, by whom, on which day)."""
        self._put(HANDOVERS, str(handover_id), self._handover(handover_id) | facts)

    def note_continuity_gap(
        self, handover_id: uuid.UUID, gaps: list[dict[str, str]], found_on: date
    ) -> None:
        handover = self._handover(handover_id) | {"gaps": [dict(g) for g in gaps]}
        self._put(HANDOVERS, str(handover_id), handover)
        at, sender = found_on.isoformat(), handover["from"] or ""
        self._timeline_entry(at, "continuity-gap-found", sender, ref=str(handover_id))

    def note_handover_escalation(
        self,
        handover_id: uuid.UUID,
        level: int,
        to: str,
        partner: str | None,
        planned_on: date,
        escalated_at: datetime,
    ) -> None:
        handover = self._handover(handover_id)
        handover["planned_on"] = handover["planned_on"] or planned_on.isoformat()
        escalation = {"level": level, "to": to, "partner": partner, "at": escalated_at.isoformat()}
        handover["escalations"] = [*handover["escalations"], escalation]
        self._put(HANDOVERS, str(handover_id), handover)
        at = escalated_at.isoformat()
        self._timeline_entry(at, "handover-escalated", partner or "", ref=str(handover_id))

    # arrangements

    def note_arrangement(
        self,
        ref: uuid.UUID,
        kind: str,
        on: date,
        until: date | None,
        by: str,
        details: dict[str, Any],
        parties: list[dict[str, str]],
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        """A decision of the arrangements domain: support request, TLV, OPP, youth care, an
        arrangement (OZA), a Variawet request; `details` are its clear fields only."""
        previous = self._section(ARRANGEMENTS).get(str(ref), {})
        body = {
            "ref": str(ref),
            "kind": kind,
            "on": on.isoformat(),
            "until": until.isoformat() if until else None,
            "by": by,
            "parties": sorted({p["partner"] for p in parties} | {by}),
            "details": dict(details),
            "dispute": previous.get("dispute"),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._put(ARRANGEMENTS, str(ref), body)
        self._timeline_entry(on.isoformat(), kind, by, ref=str(ref))

    def note_dispute(
        self,
        arrangement_id: uuid.UUID,
        dispute_id: uuid.UUID,
        step: str,
        on: date,
        by: str,
        details: dict[str, Any],
    ) -> None:
        """A funding dispute: `funding-disputed`, `dispute-escalated`, `dispute-decided`."""
        arrangement = dict(
            self._section(ARRANGEMENTS).get(str(arrangement_id))
            or {
                "ref": str(arrangement_id),
                "kind": "arrangement-agreed",
                "on": on.isoformat(),
                "until": None,
                "by": by,
                "parties": [by],
                "details": {},
                "dispute": None,
                "event_id": None,
                "sealed": {},
            }
        )
        dispute = dict(arrangement.get("dispute") or {"dispute_id": str(dispute_id)})
        dispute |= dict(details) | {"status": step, "since": on.isoformat()}
        arrangement["dispute"] = dispute
        if step == "dispute-decided" and "funding" in details:
            arrangement["details"] = arrangement["details"] | {"funding": details["funding"]}
        self._put(ARRANGEMENTS, str(arrangement_id), arrangement)
        self._timeline_entry(on.isoformat(), step, by, ref=str(arrangement_id))

    def note_arrangement_step(
        self, ref: uuid.UUID, step: str, on: date, by: str, details: dict[str, Any]
    ) -> None:
        """A later step on an arrangements item (an aanmelding's extension or decision, the
        parents' consent on an OPP, a TLV's placement, a deadline passed): its clear facts
        merged into the item's details. Nothing when the item is not on the plan."""
        item = self._section(ARRANGEMENTS).get(str(ref))
        if item is None:
            return
        self._put(ARRANGEMENTS, str(ref), item | {"details": item["details"] | dict(details)})
        self._timeline_entry(on.isoformat(), step, by, ref=str(ref))

    def note_regie(
        self, domain: str, regisseur: str, since: date, kind: str = "regie-changed"
    ) -> None:
        """A new regie holder from another domain (held on the plan itself): on the timeline;
        `coordinator-regie` when the match's coordinator takes the integral regie."""
        self._timeline_entry(since.isoformat(), kind, regisseur, ref=domain)

    # truancy (attendance)

    def note_enrolment(
        self,
        school: str,
        brin: str,
        enrolled: bool,
        on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        enrolment = dict(self._section(ENROLMENTS).get(school) or {"school": school, "brin": brin})
        enrolment |= {"enrolled": enrolled, "event_id": str(event_id), "sealed": dict(sealed)}
        enrolment["enrolled_on" if enrolled else "de_enrolled_on"] = on.isoformat()
        self._put(ENROLMENTS, school, enrolment)
        kind = "pupil-enrolled" if enrolled else "pupil-de-enrolled"
        self._timeline_entry(on.isoformat(), kind, school)

    def note_verzuim_report(
        self,
        report_id: uuid.UUID,
        school: str,
        leerplicht: str,
        kind: str,
        begin_on: date,
        end_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        body = {
            "report_id": str(report_id),
            "school": school,
            "leerplicht": leerplicht,
            "kind": kind,
            "begin_on": begin_on.isoformat(),
            "end_on": end_on.isoformat(),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._put(REPORTS, str(report_id), body)
        at = end_on.isoformat()
        self._timeline_entry(at, "verzuim-report-due", school, ref=str(report_id))

    def note_report_answered(
        self, report_id: uuid.UUID, status: str, answered_on: date, closed_reason: str | None
    ) -> None:
        """Leerplicht's answer to a verzuimmelding: in behandeling, or afgesloten (a code)."""
        report = self._items.get(REPORTS, {}).get(str(report_id))
        if report is None:
            return
        answer = {"status": status, "on": answered_on.isoformat(), "reason": closed_reason}
        self._put(REPORTS, str(report_id), report | {"answer": answer})
        at = answered_on.isoformat()
        self._timeline_entry(at, "report-answered", report["leerplicht"], ref=str(report_id))

    def note_thuiszitter(
        self, registered: bool, category: int, on: date, school: str | None, reason: str | None
    ) -> None:
        if registered:
            body = {
                "category": category,
                "since": on.isoformat(),
                "school": school,
                "ended_on": None,
                "reason": None,
            }
        else:
            current = self._one(THUISZITTER) or {"category": category, "since": None}
            body = current | {"ended_on": on.isoformat(), "reason": reason}
            self._put(THREE_MONTH, ONE, None)
        self._put(THUISZITTER, ONE, body)
        kind = "thuiszitter-registered" if registered else "thuiszitter-ended"
        self._timeline_entry(on.isoformat(), kind, school or "")

    def note_three_month_rule(
        self,
        stage: str,
        since: date,
        days_at_home: int,
        deadline: date,
        notify: list[str],
        on: date,
    ) -> None:
        body = {
            "stage": stage,
            "since": since.isoformat(),
            "days_at_home": days_at_home,
            "deadline": deadline.isoformat(),
            "notify": sorted(notify),
            "on": on.isoformat(),
        }
        self._put(THREE_MONTH, ONE, body)
        self._timeline_entry(on.isoformat(), "three-month-rule-reached", ", ".join(sorted(notify)))

    def note_residence(self, municipality: str, region: str, registered_on: date) -> None:
        """Where the child lives, from the municipality's population feed: its leerplicht
        decides on the child's exemptions (Leerplichtwet art. 6)."""
        body = {
            "municipality": municipality,
            "region": region,
            "registered_on": registered_on.isoformat(),
        }
        self._put(RESIDENCE, ONE, body)

    def note_exemption(
        self,
        exemption_id: uuid.UUID,
        leerplicht: str,
        article: str,
        valid_from: date,
        valid_until: date | None,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        body = {
            "exemption_id": str(exemption_id),
            "leerplicht": leerplicht,
            "article": article,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._put(EXEMPTIONS, str(exemption_id), body)
        self._timeline_entry(valid_from.isoformat(), "exemption-granted", leerplicht)

    def note_offer(
        self,
        offer_id: uuid.UUID,
        by: str,
        offered_on: date,
        event_id: uuid.UUID,
        sealed: dict[str, str],
    ) -> None:
        body = {
            "offer_id": str(offer_id),
            "by": by,
            "offered_on": offered_on.isoformat(),
            "event_id": str(event_id),
            "sealed": dict(sealed),
        }
        self._put(OFFERS, str(offer_id), body)
        self._timeline_entry(offered_on.isoformat(), "offer-made", by)

    def note_jgz_referral(self, school: str, jgz: str, since: date, on: date) -> None:
        """Long absence through illness: the school's and the JGZ's (MAZL), not leerplicht's."""
        body = {"school": school, "jgz": jgz, "since": since.isoformat(), "on": on.isoformat()}
        self._put(JGZ_REFERRALS, since.isoformat(), body)
        self._timeline_entry(on.isoformat(), "jgz-referral-due", school, by=jgz)

    def note_thuiszitter_decision(self, by: str, forum: str, on: date) -> None:
        """The integral meeting's or the thuiszitterstafel's decision: on the timeline (who
        and where; the outcome stays with the parties)."""
        self._timeline_entry(on.isoformat(), f"thuiszitter-decision ({forum})", by)

    def note_offer_failed(self, offer_id: uuid.UUID, failed_on: date) -> None:
        offer = self._items.get(OFFERS, {}).get(str(offer_id))
        if offer is None:
            return
        self._put(OFFERS, str(offer_id), offer | {"failed_on": failed_on.isoformat()})
        self._timeline_entry(failed_on.isoformat(), "offer-failed", offer["by"])

    # what readers and worklists ask

    @property
    def match(self) -> dict[str, Any] | None:
        return self._one(MATCH)

    @property
    def thuiszitter(self) -> dict[str, Any] | None:
        return self._one(THUISZITTER)

    @property
    def three_month(self) -> dict[str, Any] | None:
        return self._one(THREE_MONTH)

    @property
    def residence(self) -> dict[str, Any] | None:
        return self._one(RESIDENCE)

    def items(self, section: str) -> list[dict[str, Any]]:
        return list(self._items.get(section, {}).values())

    def offered_since(self, since: str | None) -> bool:
        """A fitting offer was made on or after `since` (an ISO date) and has not failed."""
        return any(
            (since is None or o["offered_on"] >= since) and not o.get("failed_on")
            for o in self.items(OFFERS)
        )

    def attendance_status(self, today: date | None = None) -> str:
        """`thuiszitter`, `exempt`, `enrolled`, `not-enrolled`, or `unknown` (nothing noted)."""
        thuiszitter = self.thuiszitter
        if thuiszitter and not thuiszitter["ended_on"]:
            return "thuiszitter"
        day = (today or date.max).isoformat()
        if any(
            e["valid_from"] <= day and (e["valid_until"] is None or day <= e["valid_until"])
            for e in self.items(EXEMPTIONS)
        ):
            return "exempt"
        enrolments = self.items(ENROLMENTS)
        if any(e["enrolled"] for e in enrolments):
            return "enrolled"
        return "not-enrolled" if enrolments or thuiszitter else "unknown"

    def timeline(self) -> list[dict[str, Any]]:
        # Fully ordered, so a live plan and one rebuilt from the streams list the same.
        return sorted(
            self._timeline.values(),
            key=lambda t: (t["at"], t["kind"], t["partner"], t.get("ref", ""), t.get("by", "")),
        )


def plan_view(plan: Plan, view: PlanView) -> dict[str, Any]:
    """The plan as its readers see it: clear parts, sealed sections still sealed."""
    actions = [
        shown(a) | {"status": "open" if a.is_open else "done"} for a in plan.actions.values()
    ]
    return {
        "child": plan.child,
        "parties": [_party(plan.parties[p]) for p in sorted(plan.parties)],
        "regie": [shown(plan.regie[d]) for d in sorted(plan.regie)],
        "goals": sorted(map(shown, plan.goals.values()), key=lambda g: (g["set_on"], g["goal_id"])),
        "agreements": sorted(
            map(shown, plan.agreements.values()), key=lambda a: (a["made_on"], a["agreement_id"])
        ),
        "actions": sorted(actions, key=lambda a: (a["due_on"], a["action_id"])),
        "signals": sorted(
            view.items(SIGNALS), key=lambda s: (s["registered_on"], s["partner"], s["signal_id"])
        ),
        "match": view.match,
        "handovers": sorted(
            view.items(HANDOVERS), key=lambda h: (h["planned_on"] or "", h["handover_id"])
        ),
        "arrangements": sorted(view.items(ARRANGEMENTS), key=lambda a: (a["on"], a["ref"])),
        "attendance": {
            "status": view.attendance_status(),
            "enrolments": sorted(view.items(ENROLMENTS), key=lambda e: e["school"]),
            "thuiszitter": view.thuiszitter,
            "three_month": view.three_month,
            "exemptions": sorted(
                view.items(EXEMPTIONS), key=lambda e: (e["valid_from"], e["exemption_id"])
            ),
            "offers": sorted(view.items(OFFERS), key=lambda o: (o["offered_on"], o["offer_id"])),
            "reports": sorted(view.items(REPORTS), key=lambda r: (r["end_on"], r["report_id"])),
            # Only once the population feed told it (a plan from before shows as it did).
            **({"residence": view.residence} if view.residence else {}),
        },
        "objections": sorted(
            map(shown, plan.objections.values()),
            key=lambda o: (o["recorded_on"], o["objection_id"]),
        ),
        "timeline": view.timeline(),
        "version": plan.version,
    }


# The types `shown` passes on as they are, and the field names of the dataclasses it met: a
# plan's view is taken for every touched plan (a replay: every plan), asking `is_dataclass` and
# `fields` of each value was most of it.
_AS_IS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}


def shown(value: Any) -> Any:
    """A value of the plan as its readers get it: JSON-ready (ISO dates, ids as text)."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(kind):
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind))
    if names is not None:
        return {name: shown(getattr(value, name)) for name in names}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple | list):
        return [shown(v) for v in value]
    if isinstance(value, Mapping):
        return {k: shown(v) for k, v in value.items()}
    return value


def _party(party: PlanParty) -> dict[str, Any]:
    # A party admitted to the plan alone shows no bases (as it did before the views); one that
    # takes part shows no end.
    shown_party: dict[str, Any] = shown(party)
    if party.bases is None:
        del shown_party["bases"]
    if party.left_on is None:
        del shown_party["left_on"]
    return shown_party
