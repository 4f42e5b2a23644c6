"""The casework forms checked at the edge: a signal registered with the region's concern codes
and the child's age band, a funding dispute decided by a holder of doorzettingsmacht the
escalation names, the parents' view, consent and release of a handover by the sending school,
each as events with the person in them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from ketenbus_contracts.handover import ParentsViewDetails
from ketenbus_contracts.signalling import SignalDetails
from services.integral_plan.web_casework import (
    NewChild,
    dispute_form,
    handover_form,
    new_child_form,
    signal_form,
)
from services.integral_plan.web_forms import OnPlan
from tests.browser.site import KID, story
from tests.events import CHILD, LEERPLICHT, PO, SWV, VO

ACTOR = "mw-" + "2" * 24
TODAY = date(2026, 11, 24)
ROLE = "Intern begeleider"
GEMEENTE = "gemeente-lingewaard"


def _opened(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as the school's portal shows it: its enrolment's identity opened."""
    for enrolment in plan["attendance"]["enrolments"]:
        enrolment["opened"] = {"identity": {"name": "Sem", "birth_date": "2014-05-03"}}
    return plan


NEW_CHILD = {
    "naam": "Noor Jansen",
    "geboortedatum": "2015-06-01",
    "zorg": ["gedrag"],
    "contact": "ib, 026-1",
}


def test_a_new_childs_bsn_is_nine_digits_passing_the_elfproef_with_spaces_and_dots_allowed() -> (
    None
):
    errors = {
        bsn: new_child_form(NEW_CHILD | {"bsn": bsn}, TODAY)[0].errors.get("bsn")
        for bsn in ("", "12345678", "12345678a", "123456789", "2739 10.097")
    }

    assert {
        "": "Vul het BSN van het kind in.",
        "12345678": "Een BSN bestaat uit negen cijfers.",
        "12345678a": "Een BSN bestaat uit negen cijfers.",
        "123456789": "Dit is geen geldig BSN (de elfproef klopt niet): controleer het.",
        "2739 10.097": None,
    } == errors


def test_a_signal_about_a_new_child_carries_its_bsn_name_and_birth_date_sealed() -> None:
    checked, child = new_child_form(NEW_CHILD | {"bsn": "273910097"}, TODAY)
    assert child is not None, checked.errors
    on = OnPlan({"child": CHILD}, TODAY, PO, ACTOR, "", ROLE)

    _, draft = signal_form(NEW_CHILD, on, child)

    assert NewChild("273910097", "Noor Jansen", date(2015, 6, 1)) == child
    assert draft is not None
    assert (
        SignalDetails(
            concern=["gedrag"], bsn="273910097", name="Noor Jansen", birth_date=date(2015, 6, 1)
        )
        == draft.sealed
    )


def test_a_school_registers_a_signal_with_the_age_band_from_the_birth_date_on_the_plan() -> None:
    on = OnPlan(_opened(story().plan_of(KID)), TODAY, PO, ACTOR, "", ROLE)

    posted = {"zorg": ["gedrag", "thuissituatie"], "toelichting": "Boos", "contact": "ib, 026-1"}
    checked, draft = signal_form(posted, on)

    assert checked.ok and draft is not None
    assert (
        SignalDetails(
            concern=["gedrag", "thuissituatie"], notes="Boos", birth_date=date(2014, 5, 3)
        )
        == draft.sealed
    )
    event = draft.build(uuid.uuid4(), {"signalling": "sealed"})
    assert ("nl.ketenbus.signalling.signal-registered.v1", PO, ACTOR, KID) == (
        event.type,
        event.source,
        event.ketenbusactor,
        event.subject,
    )
    signaller = event.data.signaller
    assert (PO, ROLE, "ib, 026-1") == (signaller.partner, signaller.role, signaller.contact)
    assert ("12-15", date(2028, 11, 24)) == (event.data.age_band, event.data.planned_removal_on)
    assert ["signalling"] == event.purposes


def test_a_signal_without_a_concern_or_with_an_unknown_code_comes_back_with_the_errors() -> None:
    on = OnPlan(_opened(story().plan_of(KID)), TODAY, PO, ACTOR, "", ROLE)

    empty, none = signal_form({"contact": ""}, on)
    unknown, also_none = signal_form({"zorg": "geheim-code", "contact": "ib"}, on)

    assert (None, None) == (none, also_none)
    assert "Kies ten minste één zorggebied." == empty.errors["zorg"]
    assert "Vul hoe u bereikbaar bent in." == empty.errors["contact"]
    assert "Kies zorggebieden uit de lijst." == unknown.errors["zorg"]


def test_without_an_opened_identity_the_birth_date_is_asked_and_23_year_olds_refused() -> None:
    on = OnPlan(story().plan_of(KID), TODAY, PO, ACTOR, "", ROLE)

    posted = {"zorg": "gedrag", "contact": "ib"}
    missing, _ = signal_form(posted, on)
    adult, none = signal_form(posted | {"geboortedatum": "2000-01-01"}, on)
    _, draft = signal_form(posted | {"geboortedatum": "2020-02-29"}, on)

    assert "Vul de geboortedatum van het kind in." == missing.errors["geboortedatum"]
    assert (None, "Vanaf 23 jaar is een signaal niet meer mogelijk.") == (
        none,
        adult.errors["geboortedatum"],
    )
    assert draft is not None and "4-11" == draft.build(uuid.uuid4(), {}).data.age_band


def test_an_organisation_with_an_active_signal_registers_no_second_one() -> None:
    on = OnPlan(story().plan_of(CHILD), TODAY, PO, ACTOR, "", ROLE)

    checked, draft = signal_form({"zorg": "gedrag", "contact": "ib"}, on)

    assert None is draft
    assert "U heeft al een actief signaal over dit kind." == checked.errors["actie"]


def _dispute(plan: dict[str, Any]) -> str:
    return str(next(a["dispute"] for a in plan["arrangements"] if a.get("dispute"))["dispute_id"])


def test_a_holder_of_doorzettingsmacht_decides_who_pays() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, SWV, ACTOR, _dispute(plan), "Directeur")

    checked, draft = dispute_form({"swv": "30", "gemeente": "70", "school": ""}, on)

    assert checked.ok and draft is not None and draft.sealed is None
    event = draft.build(uuid.uuid4(), {})
    assert ("nl.ketenbus.arrangements.dispute-decided.v1", SWV, SWV, ACTOR) == (
        event.type,
        event.source,
        event.data.decided_by,
        event.ketenbusactor,
    )
    assert [("swv", 30), ("municipality", 70)] == [(s.payer, s.percent) for s in event.data.funding]


def test_an_escalated_dispute_is_on_each_holders_werklijst_until_decided() -> None:
    app = story()

    due = [
        [
            (i["kind"], i["deadline"])
            for i in app.worklist(p)["items"]
            if i["kind"] == "dispute-decision"
        ]
        for p in (SWV, GEMEENTE, PO)
    ]

    assert [[("dispute-decision", "2027-01-01")]] * 2 + [[]] == due


def test_a_split_that_is_not_100_percent_comes_back_with_the_error() -> None:
    plan = story().plan_of(KID)
    on = OnPlan(plan, TODAY, GEMEENTE, ACTOR, _dispute(plan))

    short, none = dispute_form({"swv": "30", "gemeente": "60"}, on)
    odd, also_none = dispute_form({"swv": "dertig", "gemeente": "100"}, on)

    assert (None, None) == (none, also_none)
    assert "De percentages zijn samen 100." == short.errors["school"]
    assert "Vul een heel percentage in, van 1 tot en met 100." == odd.errors["swv"]


def test_only_a_holder_the_escalation_names_decides_the_dispute() -> None:
    plan = story().plan_of(KID)

    dispute = _dispute(plan)
    school, by_school = dispute_form({"swv": "100"}, OnPlan(plan, TODAY, PO, ACTOR, dispute))
    lpa, by_lpa = dispute_form({"swv": "100"}, OnPlan(plan, TODAY, LEERPLICHT, ACTOR, dispute))

    assert (None, None) == (by_school, by_lpa)
    assert "Dit geschil kunt u niet beslissen." == school.errors["actie"] == lpa.errors["actie"]


def _prepared(transition: str = "po-vo", requested: bool = True) -> dict[str, Any]:
    """KID's plan with its handover prepared (and requested by the vo school)."""
    plan = story().plan_of(KID)
    handover = plan["handovers"][0]
    handover |= {"transition": transition, "prepared_on": "2026-11-20"}
    if requested:
        handover |= {"requested_on": "2026-11-21", "to": VO}
    return plan


def test_the_school_records_the_parents_view_and_releases_the_dossier() -> None:
    plan = _prepared()
    on = OnPlan(plan, TODAY, PO, ACTOR, plan["handovers"][0]["handover_id"], ROLE)
    posted = {
        "ingezien": "2026-11-23",
        "akkoord": "nee",
        "reden": "Het verzuim hoort er niet bij.",
        "opt_uit": ["verzuim"],
        "vrijgeven": "ja",
        "kopie": "2026-11-24",
    }

    checked, draft = handover_form(posted, on)

    assert checked.ok and draft is not None
    assert ParentsViewDetails(reason_not_agreed="Het verzuim hoort er niet bij.") == draft.sealed
    viewed, released = draft.build(uuid.uuid4(), {"handover": "sealed"})
    assert ("nl.ketenbus.handover.parents-viewed.v1", PO, ACTOR) == (
        viewed.type,
        viewed.source,
        viewed.ketenbusactor,
    )
    assert (False, ["verzuim"], ["handover"]) == (
        viewed.data.agreed,
        viewed.data.opted_out,
        viewed.purposes,
    )
    assert ("nl.ketenbus.handover.dossier-released.v1", date(2026, 11, 24), ACTOR) == (
        released.type,
        released.data.parents_copy_on,
        released.ketenbusactor,
    )


def test_consent_is_recorded_where_asked_and_a_refused_one_releases_nothing() -> None:
    plan = _prepared("ko-po")
    on = OnPlan(plan, TODAY, PO, ACTOR, plan["handovers"][0]["handover_id"], ROLE)
    posted = {"ingezien": "2026-11-23", "akkoord": "ja", "kopie": "2026-11-24"}

    missing, none = handover_form(posted | {"vrijgeven": "ja"}, on)
    refused, also_none = handover_form(posted | {"toestemming": "geweigerd", "vrijgeven": "ja"}, on)
    granted, draft = handover_form(posted | {"toestemming": "verleend"}, on)

    assert (None, None) == (none, also_none)
    assert "Kies of er toestemming is." == missing.errors["toestemming"]
    assert "Zonder toestemming gaat het dossier niet." == refused.errors["vrijgeven"]
    assert draft is not None and granted.ok
    _, consent = draft.build(uuid.uuid4(), {})
    assert ("consent-recorded", "parents", True) == (
        type(consent).name,
        consent.data.given_by,
        consent.data.granted,
    )


def test_the_dossier_is_not_released_before_the_receiving_school_asks_for_it() -> None:
    plan = _prepared(requested=False)
    on = OnPlan(plan, TODAY, PO, ACTOR, plan["handovers"][0]["handover_id"], ROLE)
    posted = {"ingezien": "2026-11-23", "akkoord": "ja"}

    early, none = handover_form(posted | {"vrijgeven": "ja", "kopie": "2026-11-24"}, on)
    _, draft = handover_form(posted, on)

    assert None is none
    assert "De ontvangende school vroeg het dossier nog niet op." == early.errors["vrijgeven"]
    assert draft is not None and 1 == len(draft.build(uuid.uuid4(), {}))


def test_only_the_sending_school_records_the_view_of_its_prepared_dossier() -> None:
    plan = _prepared()
    handover_id = plan["handovers"][0]["handover_id"]
    posted = {"ingezien": "2026-11-23", "akkoord": "ja", "opt_uit": ["leerling"]}

    receiver, none = handover_form(posted, OnPlan(plan, TODAY, VO, ACTOR, handover_id))
    sender, also_none = handover_form(posted, OnPlan(plan, TODAY, PO, ACTOR, handover_id))

    assert (None, None) == (none, also_none)
    assert "Voor deze overdracht kunt u dit niet vastleggen." == receiver.errors["actie"]
    assert (
        "Bij deze overgang kunnen ouders daar geen bezwaar tegen maken."
        == (sender.errors["opt_uit"])
    )


def test_once_the_parents_view_is_recorded_the_school_releases_the_dossier_alone() -> None:
    # Recorded on the form before the receiver asked, or in the school's OSO dossier at import.
    plan = _prepared()
    plan["handovers"][0]["parents_viewed_on"] = "2026-11-20"
    on = OnPlan(plan, TODAY, PO, ACTOR, plan["handovers"][0]["handover_id"], ROLE)

    no_copy, none = handover_form({"vrijgeven": "ja"}, on)
    checked, draft = handover_form({"vrijgeven": "ja", "kopie": "2026-11-24"}, on)

    assert None is none and "kopie" in no_copy.errors
    assert checked.ok and draft is not None and draft.sealed is None
    [released] = draft.build(uuid.uuid4(), {})
    assert ("nl.ketenbus.handover.dossier-released.v1", TODAY, date(2026, 11, 24), ACTOR) == (
        released.type,
        released.data.released_on,
        released.data.parents_copy_on,
        released.ketenbusactor,
    )


def test_a_viewed_dossier_is_not_released_before_it_is_asked_for_or_without_consent() -> None:
    early = _prepared(requested=False)
    early["handovers"][0]["parents_viewed_on"] = "2026-11-20"
    ko = _prepared("ko-po")
    ko["handovers"][0]["parents_viewed_on"] = "2026-11-20"
    posted = {"vrijgeven": "ja", "kopie": "2026-11-24"}

    asked, none = handover_form(posted, OnPlan(early, TODAY, PO, ACTOR, _id(early), ROLE))
    refused, also_none = handover_form(posted, OnPlan(ko, TODAY, PO, ACTOR, _id(ko), ROLE))

    assert (None, None) == (none, also_none)
    assert "De ontvangende school vroeg het dossier nog niet op." == asked.errors["vrijgeven"]
    assert "Zonder toestemming gaat het dossier niet." == refused.errors["vrijgeven"]


def _id(plan: dict[str, Any]) -> str:
    return str(plan["handovers"][0]["handover_id"])


def test_an_organisation_that_provides_no_identity_signals_without_the_birth_date() -> None:
    # kluis seals identity only for the register's writer roles (a wijkteam is none): the
    # birth date typed gives the age band and is not sent.
    on = OnPlan(story().plan_of(KID), TODAY, "wijkteam-lingewaard", ACTOR, "", "Consulent")
    posted = {"zorg": ["gedrag"], "contact": "wijkteam", "geboortedatum": "2014-05-03"}

    checked, draft = signal_form(posted, on)

    assert checked.ok and draft is not None
    assert SignalDetails(concern=["gedrag"]) == draft.sealed
    assert "12-15" == draft.build(uuid.uuid4(), {"signalling": "sealed"}).data.age_band
