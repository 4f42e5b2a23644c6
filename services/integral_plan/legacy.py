"""Plans recorded before the views: their `…Noted` events, upcast where they are read.

Until the plan's views were projected beside it, `Plan` recorded every other domain's event
again as a `…Noted` event of its own (`Plan.SignalNoted`, `Plan.HandoverStepNoted`, …). A data
dir from then still holds them. They stay in the store (and go with the plan on erasure):

- loading a plan applies of each only what the plan's rules need (parties that took part
  through the event and their bases, regie from the arrangements domain, the end of an
  enrolment), as the current events for those facts do; the rest is ignored there;
- `project` hands each to the view method of the same name and arguments, so a store opened
  without views gets them from its own events (`IntegralPlanApplication.migrate_views`), the
  same as a replay of the streams would write them.

The old topics resolve to the classes here (`register_topic`); nothing records them any more.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from services.integral_plan.domain import ENROLMENT, Plan, Regie
from services.integral_plan.views import PlanView

OLD_TOPIC = "services.integral_plan.domain:Plan.{}"
_META = {"originator_id", "originator_version", "timestamp"}


class Noted(Aggregate.Event):
    """A `…Noted` event of a plan from before the views. `view_method`: the `PlanView` method
    it is projected by; `involved_on`: the field dating the parties it involved."""

    view_method: ClassVar[str]
    involved_on: ClassVar[str | None] = None

    def apply(self, aggregate: Any) -> None:
        plan: Plan = aggregate
        if self.involved_on is not None:
            plan.add_parties(self.__dict__.get("parties") or [], self.__dict__[self.involved_on])

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _META}


def project(noted: Noted, view: PlanView) -> None:
    """The old event's view: the view method of its name, with the arguments it takes."""
    method = getattr(view, noted.view_method)
    takes = inspect.signature(method).parameters
    method(**{k: v for k, v in noted.fields().items() if k in takes})


def _noted(name: str, view_method: str, involved_on: str | None = None) -> type[Noted]:
    cls = type(name, (Noted,), {"view_method": view_method, "involved_on": involved_on})
    cls.__module__ = __name__
    register_topic(OLD_TOPIC.format(name), cls)
    return cls


class SignalNoted(Noted):
    view_method = "note_signal"

    def apply(self, aggregate: Any) -> None:
        aggregate.add_signaller(self.__dict__["signaller"], self.__dict__["registered_on"])


class RegieNoted(Noted):
    view_method = "note_regie"
    involved_on = "since"

    def apply(self, aggregate: Any) -> None:
        super().apply(aggregate)
        d = self.__dict__
        aggregate.regie[d["domain"]] = Regie(d["domain"], d["regisseur"], d["since"])


class EnrolmentNoted(Noted):
    view_method = "note_enrolment"
    involved_on = "on"

    def apply(self, aggregate: Any) -> None:
        super().apply(aggregate)
        if not self.__dict__["enrolled"]:
            aggregate.remove_basis(self.__dict__["school"], ENROLMENT, self.__dict__.get("on"))


for _cls in (SignalNoted, RegieNoted, EnrolmentNoted):
    register_topic(OLD_TOPIC.format(_cls.__name__), _cls)

OTHERS = (
    _noted("SignalWithdrawalNoted", "note_withdrawal"),
    _noted("MatchNoted", "note_match"),
    _noted("MatchCoordinatorNoted", "note_match_coordinator"),
    _noted("MatchContactNoted", "note_match_contact"),
    _noted("MatchEndNoted", "note_match_ended"),
    _noted("HandoverStartedNoted", "note_handover_started", "started_on"),
    _noted("HandoverStepNoted", "note_handover_step", "on"),
    _noted("ContinuityGapNoted", "note_continuity_gap"),
    _noted("HandoverEscalationNoted", "note_handover_escalation"),
    _noted("ArrangementNoted", "note_arrangement", "on"),
    _noted("DisputeNoted", "note_dispute"),
    _noted("VerzuimReportNoted", "note_verzuim_report", "end_on"),
    _noted("ThuiszitterNoted", "note_thuiszitter"),
    _noted("ThreeMonthRuleNoted", "note_three_month_rule"),
    _noted("ExemptionNoted", "note_exemption"),
    _noted("OfferNoted", "note_offer"),
)
