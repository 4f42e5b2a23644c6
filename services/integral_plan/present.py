"""The integral plan as text, as one reader sees it (`ketenbus plan show`, the demo's last page).

Takes the plan a reader got from the query (its sections opened with its own keys by
`ketenbus_partner.plan.open_plan`) and prints every block the plan has: parties, regie, signals,
goals, agreements, actions, handovers, arrangements, attendance, match and timeline. Sealed
sections show as opened, refused (kluis's code) or sealed; clear fields only as given.
"""

from __future__ import annotations

from typing import Any

from ketenbus_contracts.plan import ATTENDANCE_ITEMS

HIDDEN = {"sealed", "opened", "refused", "withheld", "event_id", "report"}


def _clear(item: dict[str, Any], *skip: str) -> str:
    """An item's clear fields as `key: value`, in order (ids and sections left out)."""
    shown = []
    for key, value in item.items():
        hidden = key in HIDDEN or key in skip or key.endswith("_id")
        if hidden or isinstance(value, dict) or value is None:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value if not isinstance(v, dict))
            if not value:
                continue  # an empty list (no gaps, no escalations) says nothing
        shown.append(f"{key}: {value}")
    return ", ".join(shown)


def _sections(item: dict[str, Any], indent: str = "      ") -> list[str]:
    """An item's sealed sections as the reader sees them: opened, refused or still sealed."""
    lines = []
    for purpose, section in sorted(item.get("opened", {}).items()):
        shown = ", ".join(f"{k}: {v}" for k, v in section.items())
        lines.append(f"{indent}{purpose:<11} {shown}")
    for purpose, code in sorted(item.get("refused", {}).items()):
        lines.append(f"{indent}{purpose:<11} (sealed; kluis: {code})")
    for purpose in sorted(item.get("sealed", {})):
        lines.append(f"{indent}{purpose:<11} (sealed)")
    for purpose in item.get("withheld", []):
        lines.append(f"{indent}{purpose:<11} (withheld)")
    return lines


def _block(title: str, items: list[dict[str, Any]], line: Any) -> list[str]:
    lines = ["", f"{title}:"]
    for item in items:
        lines.append(f"  - {line(item)}")
        lines += _sections(item)
        if isinstance(item.get("report"), dict):
            lines.append("      reported back:")
            lines += _sections(item["report"], "        ")
    return lines if items else [*lines, "  none"]


def _attendance(attendance: dict[str, Any] | None) -> list[str]:
    """The attendance block: its status, then enrolments, reports, exemptions and offers."""
    if not attendance:
        return ["", "Attendance:", "  none"]
    lines = ["", "Attendance:", f"  status: {attendance['status']}"]
    for key in ("thuiszitter", "three_month"):
        if attendance.get(key):
            lines.append(f"  - {key.replace('_', '-')}: {_clear(attendance[key])}")
    for key in ATTENDANCE_ITEMS:
        for item in attendance.get(key, []):
            lines.append(f"  - {key}: {_clear(item)}")
            lines += _sections(item)
    return lines


def _signals(signals: list[dict[str, Any]]) -> list[str]:
    """The reader's own signals with what it opened; another's (only after a match) as the
    fact and whom to call: the concern stays with that signaller."""
    lines = ["", "Signals:"]
    for signal in signals:
        lines.append(f"  - {signal['registered_on']}  {signal['partner']:<24} {signal['status']}")
        if signal.get("concern") == "with-signaller":
            contact = ", ".join(c for c in (signal.get("role"), signal.get("contact")) if c)
            lines.append(f"      contact     {contact}")
            lines.append(f"      concern     stays with {signal['partner']} (not shared)")
        else:
            lines += _sections(signal)
    return lines if signals else [*lines, "  none"]


def _match(match: dict[str, Any] | None) -> list[str]:
    """Who signalled and how to reach them, the coordinator: what a match tells its parties."""
    lines = ["", "Match:"]
    if not match:
        return [*lines, "  none"]
    lines.append(f"  found {match['found_at'][:19]} between {', '.join(match['partners'])}")
    for contact in match.get("contacts") or []:
        person = ", ".join(
            contact[k] for k in ("vindplaats", "function", "phone", "email") if contact.get(k)
        )
        lines.append(
            f"  - {contact['partner']}: {contact['contact']}" + (f"; {person}" if person else "")
        )
    if match.get("coordinator"):
        coordinator = match["coordinator"]
        lines.append(f"  coordinator: {coordinator['partner']} ({coordinator['contact']})")
    if match.get("municipal_coordinator"):
        lines.append(f"  municipal coordinator: {match['municipal_coordinator']}")
    contacted = ", ".join(match.get("contacted") or []) or "nobody yet"
    lines.append(f"  contact made: {contacted}")
    return lines


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as text: every block the plan has (blocks it lacks are left out)."""
    reader = plan.get("reader")
    title = f"Integral plan of child {plan['child']}"
    lines = [title + (f", as {reader} sees it" if reader else ""), "", "Parties:"]
    lines += [f"  - {p['partner']} ({p['role']}): {p['contact']}" for p in plan["parties"]]
    if "regie" in plan:
        lines += ["", "Regie:"]
        lines += [f"  - {r['domain']}: {r['regisseur']} since {r['since']}" for r in plan["regie"]]
        lines += [] if plan["regie"] else ["  none"]
    lines += _signals(plan["signals"])
    if "goals" in plan:
        lines += _block("Goals", plan["goals"], lambda g: f"{g['set_on']}  {_clear(g, 'set_on')}")
    if "agreements" in plan:
        lines += _block(
            "Agreements", plan["agreements"], lambda a: f"{a['made_on']}  {_clear(a, 'made_on')}"
        )
    if "actions" in plan:
        lines += _block(
            "Actions",
            plan["actions"],
            lambda a: (
                f"{a['actor']} does this and reports back to {a['reports_to']} by "
                f"{a['due_on']}: {a['status']}"
                + (f" on {a['done_on']}" if a.get("done_on") else "")
            ),
        )
    for key in ("handovers", "arrangements"):
        if key in plan:
            lines += _block(key.capitalize(), plan[key], _clear)
    if "attendance" in plan:
        lines += _attendance(plan["attendance"])
    lines += _match(plan.get("match"))
    lines += ["", "Timeline:"]
    lines += [f"  {t['at'][:19]:<19}  {t['what']}" for t in plan["timeline"]]
    return "\n".join(lines)
