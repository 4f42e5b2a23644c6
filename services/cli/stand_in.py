"""The stand-in backbone of `ketenbus conformance`: it answers a partner's system as the
pseudonym service and kluis do, gives each event the receipt the backbone would, and checks by
name every request and event the system sends (see `services.cli.conformance`).

Imported only when the command runs: the CLI starts without the crypto and NATS clients.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import nats
from joserfc import jws
from joserfc.errors import JoseError
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from pydantic import TypeAdapter, ValidationError

from ketenbus_contracts import sealing
from ketenbus_contracts.envelope import CloudEvent, parse_event
from ketenbus_contracts.plan import PLAN_QUERY_SUBJECT, PLAN_QUERY_TYP, PlanQuery
from ketenbus_contracts.pseudonym import (
    PSEUDONYM_REQUEST_TYP,
    PSEUDONYM_SUBJECT,
    ChildBsn,
    PseudonymAnswer,
    PseudonymRefusal,
    PseudonymRequest,
    PseudonymResult,
    SealedIdentifiers,
    child_pseudonym,
    is_valid_bsn,
)
from ketenbus_contracts.purposes import Purpose
from ketenbus_contracts.signalling import SignalDetails, SignalRegistered
from ketenbus_contracts.signing import (
    SIGNATURE_FIELD,
    SIGNATURE_TYP,
    SignatureError,
    verify_envelope,
)
from ketenbus_partner.feed import FEED_STREAM, feed_durable, feed_filter
from ketenbus_partner.keyring import CHILD_SCOPE, ScopeTable
from services.runtime.inbound import Refusal as ReceiptRefusal
from services.runtime.nats_server import EmbeddedNats
from services.runtime.receipts import publish_receipts, receipt

BSN = "111222333"
CONCERN = "sociaal-emotioneel"
# Clear text beyond ASCII (and a quote to escape): the signed form must be RFC 8785's.
CONTACT = 'ib-er "De Regenboog" \u2013 Één, 0481-123456'
NOTES = "Trekt zich terug in de klas; één keer per week gesprek."
GOAL = "Voelt zich veilig in de klas en doet mee in de kring"
PLAN_SETTER = "wijkteam-stand-in"


@dataclass
class Check:
    """One named check over everything the system sent: passed unless one instance failed."""

    name: str
    ran: int = 0
    failure: str | None = None

    def record(self, ok: bool, detail: str = "") -> None:
        self.ran += 1
        if not ok and self.failure is None:
            self.failure = detail or "failed"


@dataclass
class Report:
    checks: dict[str, Check] = field(default_factory=dict)

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.setdefault(name, Check(name)).record(ok, detail)
        return ok

    def require(self, name: str, detail: str) -> None:
        """A check that must have run (the system must have sent it)."""
        if name not in self.checks:
            self.record(name, False, detail)

    def failed(self) -> list[Check]:
        return [c for c in self.checks.values() if c.failure is not None]

    def lines(self) -> list[str]:
        return [
            f"PASS {c.name}" if c.failure is None else f"FAIL {c.name}: {c.failure}"
            for c in self.checks.values()
        ]


def _header(token: str) -> dict[str, Any]:
    try:
        head = token.split(".")[0]
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class Harness:
    """The backbone's side for one partner: the services it asks and what it publishes."""

    def __init__(self, partner: str, public_keys: Callable[[], Any]) -> None:

        self.partner = partner
        self._public_keys = public_keys
        self.kluis = sealing.PartnerKeys.generate("kluis")
        self.pseudonym_service = sealing.PartnerKeys.generate("pseudonym")
        self.feed = sealing.PartnerKeys.generate("feed")
        self.secret = secrets.token_bytes(32)
        self.child = child_pseudonym(self.secret, BSN)
        self.data_keys: dict[tuple[str, str, str], bytes] = {}
        self.report = Report()
        self.receipts: list[int] = []
        # The plan the stand-in answers: one goal a wijkteam set, its text sealed under `plan`
        # (scope `child`) with a word the system can only know by opening it.
        self.goal_event = uuid.uuid4()
        self.goal_text = f"{GOAL} (controlewoord {secrets.token_hex(4)})"
        self.opened_path: Path | None = None

    # the task

    def task(self, url: str, opened_path: Path) -> dict[str, Any]:
        today = date.today()
        self.opened_path = opened_path
        return {
            "nats_url": url,
            "partner": self.partner,
            "plan": {"opened": str(opened_path)},
            "keys": {
                "kluis": self.kluis.encryption.as_dict(private=False),
                "pseudonym": self.pseudonym_service.encryption.as_dict(private=False),
                "feed": self.feed.signing.as_dict(private=False),
            },
            "signal": {
                "bsn": BSN,
                "concern": [CONCERN],
                "notes": NOTES,
                "role": "ib-er",
                "contact": CONTACT,
                "registered_on": today.isoformat(),
                "age_band": "4-11",
                "planned_removal_on": (today + timedelta(days=365)).isoformat(),
            },
        }

    # requests

    def _partner_key(self) -> Any:
        keys = self._public_keys()
        return keys.signing if keys is not None else None

    def _verified(self, prefix: str, raw: bytes, typ: str, adapter: Any, reply: str) -> Any:
        """Check a signed request's header, inbox, signature and claims; the request or None."""
        r = self.report
        header = _header(raw.decode("ascii", "replace"))
        expected = {"alg": "Ed25519", "kid": self.partner, "typ": typ}
        r.record(
            f"{prefix}.header",
            header.get("alg") in sealing.REQUEST_SIGNING_ALGS
            and (header.get("kid"), header.get("typ")) == (self.partner, typ),
            f"protected header {header} is not {expected}",
        )
        r.record(
            f"{prefix}.inbox",
            reply.startswith(f"_INBOX.{self.partner}."),
            f"the reply subject is not under _INBOX.{self.partner}.",
        )
        try:
            request = sealing.verify_signed(
                raw,
                lambda kid: self._partner_key() if kid == self.partner else None,
                adapter,
                typ=None,  # the protected header is its own check above
                max_payload_length=1_000_000,
            )
        except sealing.KluisProtocolError as exc:
            name = "signature" if exc.code in {"bad-signature", "unknown-partner"} else "claims"
            r.record(f"{prefix}.{name}", False, f"{exc.code}: {exc.reason}")
            return None
        r.record(f"{prefix}.signature", True)
        r.record(f"{prefix}.claims", True)
        return request

    def pseudonym(self, raw: bytes, reply: str) -> bytes:
        refused = PseudonymAnswer(
            ok=False, refusal=PseudonymRefusal(code="invalid-request", reason="see the check")
        )
        request = self._verified(
            "pseudonym", raw, PSEUDONYM_REQUEST_TYP, TypeAdapter(PseudonymRequest), reply
        )
        if request is None:
            return refused.model_dump_json().encode()
        try:
            opened = SealedIdentifiers.model_validate(
                sealing.decrypt_from(request.identifiers, self.pseudonym_service.encryption)
            )
        except (sealing.SealingError, ValidationError):
            self.report.record(
                "pseudonym.identifiers", False, "identifiers do not open with the service's key"
            )
            return refused.model_dump_json().encode()
        self.report.record(
            "pseudonym.identifiers",
            len(opened.identifiers) == request.count,
            f"count says {request.count}, the JWE holds {len(opened.identifiers)}",
        )
        results = [
            PseudonymResult(pseudonym=child_pseudonym(self.secret, i.bsn))
            if isinstance(i, ChildBsn) and is_valid_bsn(i.bsn)
            else PseudonymResult(code="invalid-bsn")
            for i in opened.identifiers
        ]
        return PseudonymAnswer(ok=True, results=results).model_dump_json().encode()

    def plan_query(self, raw: bytes, reply: str) -> bytes:
        """Check a plan query (header, inbox, signature, claims, and that it asks the plan of
        the task's child); the stand-in holds no plan, so it answers as the plan service does
        before the child's plan names the partner: not found, `not-on-plan`."""
        query = self._verified("plan", raw, PLAN_QUERY_TYP, TypeAdapter(PlanQuery), reply)
        if query is None:
            return b'{"found":false,"refusal":"invalid-request"}'
        asked = (query.op, query.child) == ("plan", self.child)
        self.report.record(
            "plan.child",
            asked,
            f"asked op {query.op} for {query.child}, not op plan for the task's child",
        )
        if not asked:
            return b'{"found":false,"refusal":"not-on-plan"}'
        return json.dumps({"found": True, "plan": self.plan()}).encode()

    def plan(self) -> dict[str, Any]:
        """The task's child's plan as the plan service gives it: the goal, its section sealed."""
        scope = CHILD_SCOPE
        kid = sealing.make_kid(self.child, Purpose.PLAN, scope, 1)
        token = sealing.seal(
            {"text": self.goal_text},
            key=self._data_key(self.child, Purpose.PLAN.value, scope),
            kid=kid,
            event_id=self.goal_event,
        )
        today = date.today().isoformat()
        goal = {
            "goal_id": str(uuid.uuid5(self.goal_event, "goal")),
            "domain": "school",
            "set_on": today,
            "target_on": None,
            "by": PLAN_SETTER,
            "event_id": str(self.goal_event),
            "sealed": {Purpose.PLAN.value: token},
        }
        return {"child": self.child, "parties": [], "regie": [], "goals": [goal], "signals": []}

    def plan_opened(self) -> None:
        """After the run: the system asked the goal's key and wrote the plan it opened."""
        r = self.report
        r.require("plan.key-asked", "no key request for the plan's section (plan, scope child)")
        text = ""
        if self.opened_path is not None and self.opened_path.exists():
            text = self.opened_path.read_text(encoding="utf-8", errors="replace")
        r.record(
            "plan.opened",
            self.goal_text in text,
            "the plan written to the task's plan.opened does not hold the goal's opened text",
        )

    def _data_key(self, child: str, purpose: str, scope: str) -> bytes:
        return self.data_keys.setdefault((child, purpose, scope), secrets.token_bytes(32))

    def _scope_ok(self, purpose: Any, scope: str) -> bool:
        expected = ScopeTable().writing_scope(purpose, self.partner)
        ok = expected is None or expected == scope
        return self.report.record(
            "kluis.scope", ok, f"a {purpose.value} key of this partner is scoped {expected}"
        )

    def _seal(self, child: str, purpose: Any, scope: str, event_id: uuid.UUID, section: Any) -> Any:
        allowed = set(sealing.fields_by_purpose(SignalDetails).get(purpose, ()))
        ok = isinstance(section, dict) and bool(section) and set(section) <= allowed
        self.report.record(
            "kluis.seal-section",
            ok,
            f"a {purpose.value} section of a signal holds only {sorted(allowed)}",
        )
        if not ok or not self._scope_ok(purpose, scope):
            refusal = sealing.Refusal(code="invalid-request", reason="see the check")
            return sealing.KluisAnswer(ok=False, refusal=refusal)
        kid = sealing.make_kid(child, purpose, scope, 1)
        token = sealing.seal(
            section, key=self._data_key(child, purpose.value, scope), kid=kid, event_id=event_id
        )
        self.report.record("kluis.first-signaller-seal", True)
        return sealing.KluisAnswer(ok=True, kid=kid, token=token)

    def _key(self, child: str, purpose: Any, scope: str, version: int | None) -> Any:
        self._scope_ok(purpose, scope)
        key = self.data_keys.get((child, purpose.value, scope))
        if (child, purpose, scope, version) == (self.child, Purpose.PLAN, CHILD_SCOPE, 1):
            self.report.record("plan.key-asked", True)
        if version is None or key is None:
            # A first signaller holds no relation with the child: kluis seals for it.
            refusal = sealing.Refusal(code="no-relation", reason="no relation with the child yet")
            return sealing.KluisAnswer(ok=False, refusal=refusal)
        public = self._public_keys()
        data_key = sealing.DataKey(sealing.make_kid(child, purpose, scope, version), key)
        return sealing.KluisAnswer(
            ok=True, kid=data_key.kid, key=sealing.deliver_key(data_key, public.encryption)
        )

    def kluis_request(self, raw: bytes, reply: str) -> bytes:
        request = self._verified(
            "kluis", raw, "kluis-request+jws", TypeAdapter(sealing.KluisRequest), reply
        )
        answer: sealing.KluisAnswer
        if isinstance(request, sealing.KeyRequest):
            answer = self._key(request.child, request.purpose, request.scope, request.version)
        elif isinstance(request, sealing.SealRequest):
            try:
                section = sealing.decrypt_from(request.section, self.kluis.encryption)
            except sealing.SealingError:
                section = None
            answer = self._seal(
                request.child, request.purpose, request.scope, request.event_id, section
            )
        else:
            refusal = sealing.Refusal(code="invalid-request", reason="not answered by this check")
            answer = sealing.KluisAnswer(ok=False, refusal=refusal)
        return answer.model_dump_json(exclude_none=True).encode()

    def kluis_batch(self, raw: bytes, reply: str) -> bytes:
        request = self._verified(
            "kluis", raw, "kluis-request+jws", TypeAdapter(sealing.KluisBatchRequest), reply
        )
        if request is None:
            refusal = sealing.Refusal(code="invalid-request", reason="see the check")
            return sealing.KluisBatchAnswer(ok=False, refusal=refusal).model_dump_json().encode()
        sections: list[Any] = [None] * len(request.items)
        if request.sections is not None:
            with contextlib.suppress(sealing.SealingError):
                sections = sealing.decrypt_from(request.sections, self.kluis.encryption)["sections"]
        results = [
            self._key(item.child, item.purpose, item.scope, item.version)
            if isinstance(item, sealing.BatchKey)
            else self._seal(item.child, item.purpose, item.scope, item.event_id, section)
            for item, section in zip(request.items, sections, strict=False)
        ]
        answer = sealing.KluisBatchAnswer(ok=True, results=results)
        return answer.model_dump_json(exclude_none=True).encode()

    # the event

    def event(self, subject: str, raw: bytes, headers: dict[str, str]) -> str | None:
        """Check one published event; the reason it would be refused, or None."""
        r = self.report
        r.record("event.published", True)
        try:
            envelope = json.loads(raw)
        except ValueError:
            r.record("event.schema", False, "not JSON")
            return "invalid-json"
        if not isinstance(envelope, dict):
            r.record("event.schema", False, "not a JSON object")
            return "invalid-event"
        event: CloudEvent[Any] | None = None
        try:
            parsed = parse_event(raw)
        except ValueError as exc:
            r.record("event.schema", False, str(exc).splitlines()[0][:200])
        else:
            event = parsed
            r.record(
                "event.schema",
                isinstance(parsed, SignalRegistered),
                f"the task is a signal-registered, not {parsed.type}",
            )
        r.record(
            "event.subject",
            event is not None and subject == event.inbound_subject(self.partner),
            f"published on {subject}, not in.{self.partner}.<domain>.<event> of its type",
        )
        r.record(
            "event.msg-id",
            headers.get("Nats-Msg-Id") == str(envelope.get("id")),
            "the Nats-Msg-Id header is not the event id",
        )
        r.record("event.source", envelope.get("source") == self.partner, "source is not --as")
        r.record(
            "event.pseudonym",
            envelope.get("subject") == self.child,
            "subject is not the pseudonym the pseudonym service gave for the BSN",
        )
        signed = self._signature(envelope)
        if event is not None:
            self._sections(event, envelope)
        return None if signed and event is not None else "forged-signature"

    def _signature(self, envelope: dict[str, Any]) -> bool:
        r = self.report
        signature = envelope.get(SIGNATURE_FIELD)
        if not isinstance(signature, str):
            r.record("event.signature", False, "no ketenbussig")
            return False
        header = _header(signature)
        expected = {"alg": "Ed25519", "kid": f"{self.partner}#sig", "typ": SIGNATURE_TYP}
        r.record(
            "event.signature-header",
            header.get("alg") in ("Ed25519", "EdDSA")
            and (header.get("kid"), header.get("typ")) == (expected["kid"], expected["typ"]),
            f"protected header {header} is not {expected}",
        )
        r.record(
            "event.signature-detached",
            signature.count(".") == 2 and signature.split(".")[1] == "",
            "ketenbussig is not <header>..<signature> (a JWS with detached payload)",
        )
        public = self._public_keys()
        try:
            verify_envelope(envelope, {self.partner: public} if public else {})
        except SignatureError as exc:
            form = self._signed_form(envelope, signature)
            if form is None:  # another key, or altered content: the form cannot be told
                r.record("event.signature", False, f"{exc.code}: over no form of this envelope")
            else:
                r.record("event.signature", False, f"{exc.code}: over {form} only")
                r.record("event.canonical-form", False, f"signed over {form}")
            return False
        r.record("event.signature", True)
        r.record("event.canonical-form", True)
        return True

    def _signed_form(self, envelope: dict[str, Any], signature: str) -> str | None:
        """What a signature that fails over the RFC 8785 form was made over, if we can tell."""
        public = self._public_keys()
        if public is None:
            return None
        unsigned = {k: v for k, v in envelope.items() if k != SIGNATURE_FIELD}
        forms = {
            "sorted keys with ASCII escapes (not RFC 8785)": json.dumps(
                unsigned, sort_keys=True, separators=(",", ":")
            ),
            "sorted keys with spaces (not RFC 8785)": json.dumps(
                unsigned, sort_keys=True, ensure_ascii=False
            ),
            "the keys in their own order (not RFC 8785)": json.dumps(
                unsigned, separators=(",", ":"), ensure_ascii=False
            ),
        }
        for name, form in forms.items():
            with contextlib.suppress(JoseError, ValueError):
                jws.deserialize_compact(
                    signature, public.signing, payload=form.encode(), algorithms=["Ed25519"]
                )
                return name
        return None

    def _sections(self, event: Any, envelope: dict[str, Any]) -> None:
        r = self.report
        sealed: dict[str, str] = envelope.get("data", {}).get("sealed", {})
        r.record(
            "event.purposes",
            envelope.get("purposes", []) == sorted(sealed),
            "purposes is not the sorted list of the sealed sections' purposes",
        )
        opened: dict[str, dict[str, Any]] = {}
        declared = sealing.fields_by_purpose(SignalDetails)
        for purpose, token in sealed.items():
            try:
                header = sealing.header_of(token)
                kid = sealing.KeyId.parse(str(header.get("kid")))
                key = self.data_keys.get((kid.pseudonym, kid.purpose.value, kid.scope))
                problems = [
                    (
                        "alg dir, enc A256GCM",
                        (header.get("alg"), header.get("enc")) == ("dir", "A256GCM"),
                    ),
                    ("kid's purpose is the section's", kid.purpose.value == purpose),
                    ("kid's pseudonym is the subject", kid.pseudonym == event.subject),
                    ("a data key kluis gave", key is not None),
                    ("eid is the event id", header.get("eid") == str(event.id)),
                    (
                        "kcv of the data key",
                        key is not None and header.get("kcv") == sealing.key_check_value(key),
                    ),
                ]
                missing = [what for what, ok in problems if not ok]
                if missing or key is None:
                    r.record("event.sealing", False, f"{purpose}: not {', '.join(missing)}")
                    continue
                section = sealing.open_section(token, key=key, event_id=event.id)
            except (sealing.SealingError, ValueError) as exc:
                r.record("event.sealing", False, f"{purpose}: {type(exc).__name__}")
                continue
            allowed = set(declared.get(Purpose(purpose), ()))
            r.record(
                "event.sealing",
                set(section) <= allowed,
                f"{purpose} holds fields of another purpose (only {sorted(allowed)})",
            )
            opened[purpose] = section
        r.record(
            "event.content",
            CONCERN in opened.get("signalling", {}).get("concern", [])
            and opened.get("identity", {}).get("bsn") == BSN,
            "the concern under signalling and the BSN under identity are not what the task gave",
        )


async def _serve(nc: Any, subject: str, answer: Callable[[bytes, str], bytes]) -> None:
    async def handle(msg: Any) -> None:
        try:
            reply = answer(msg.data, msg.reply or "")
        except Exception:
            reply = b'{"ok":false,"refusal":{"code":"invalid-request","reason":"unreadable"}}'
        if msg.reply:
            await msg.respond(reply)

    await nc.subscribe(subject, cb=handle)


async def run_check(
    harness: Harness, command: list[str], workdir: Path, timeout: float, env: dict[str, str]
) -> int | None:
    """Serve the system under test while COMMAND runs; its exit code (None: timed out)."""

    partner = harness.partner
    with EmbeddedNats(workdir / "nats") as server:
        url = server.url
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="INBOUND", subjects=["in.>"]))
            await js.add_stream(StreamConfig(name=FEED_STREAM, subjects=["feed.>"]))
            await js.add_consumer(
                FEED_STREAM,
                ConsumerConfig(
                    durable_name=feed_durable(partner),
                    filter_subject=feed_filter(partner),
                    ack_policy=AckPolicy.EXPLICIT,
                ),
            )
            await _serve(nc, PSEUDONYM_SUBJECT, harness.pseudonym)
            for subject in (sealing.KLUIS_KEY_SUBJECT, sealing.KLUIS_SEAL_SUBJECT):
                await _serve(nc, subject, harness.kluis_request)
            await _serve(nc, sealing.KLUIS_BATCH_SUBJECT, harness.kluis_batch)
            await _serve(nc, PLAN_QUERY_SUBJECT, harness.plan_query)

            async def inbound(msg: Any) -> None:
                refusal = harness.event(msg.subject, msg.data, dict(msg.headers or {}))
                event_id = None
                with contextlib.suppress(Exception):
                    event_id = uuid.UUID(str(json.loads(msg.data)["id"]))
                seq = (await js.stream_info("INBOUND")).state.last_seq
                refused = None if refusal is None else ReceiptRefusal(refusal)
                await publish_receipts(
                    js,
                    [
                        receipt(
                            "conformance",
                            partner,
                            stream_seq=seq,
                            event_id=event_id,
                            refusal=refused,
                        )
                    ],
                )
                harness.receipts.append((await js.stream_info(FEED_STREAM)).state.last_seq)

            await nc.subscribe(f"in.{partner}.>", cb=inbound)
            await nc.subscribe("in.*.>", cb=_foreign(harness))
            task = workdir / "task.json"
            opened = workdir / "opened-plan.json"
            task.write_text(json.dumps(harness.task(url, opened), indent=2), encoding="utf-8")
            process = await asyncio.create_subprocess_exec(
                *command,
                env={**env, "KETENBUS_NATS_URL": url, "KETENBUS_CONFORMANCE": str(task)},
            )
            try:
                code: int | None = await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                code = None
            await nc.flush()
            info = await js.consumer_info(FEED_STREAM, feed_durable(partner))
            for seq in harness.receipts:
                harness.report.record(
                    "feed.receipt-read",
                    info.ack_floor.stream_seq >= seq,
                    "the receipt on the feed was not fetched and acknowledged",
                )
            harness.plan_opened()
        finally:
            await nc.close()
    return code


def _foreign(harness: Harness) -> Callable[[Any], Awaitable[None]]:
    async def seen(msg: Any) -> None:
        if not msg.subject.startswith(f"in.{harness.partner}."):
            harness.report.record(
                "event.subject", False, f"published under another partner: {msg.subject}"
            )

    return seen
