"""What became of a form: the receipts of the events it published, told in Dutch.

A service that decides on an inbound event publishes a receipt on the organisation's feed
(`feed.<partner>.receipt`, services/runtime/receipts.py): `accepted`, or `refused` with a
kebab-case reason code; the event id, never content. The web app reads them through the
consumer the backbone declares for it (`receipts-<partner>`, services/runtime/streams.py),
beside the feed consumer, which stays the organisation's own system's. `ReceiptBook` keeps the
recent receipts by event id (bounded) and wakes a form waiting for its events' receipts; the
form waits a bounded time (`KETENBUS_WEB_RECEIPT_WAIT_SECONDS`) and then says what it knows:
verwerkt, geweigerd (the reason in Dutch, and its code), or nog niet bevestigd (the plan page
asks again on each visit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from ketenbus_contracts.feed import Receipt
from services.runtime.streams import FEED, receipts_consumer

log = structlog.get_logger("web")

KEEP = 10_000  # receipts kept by event id (a form asks again on the plan page)
RETRY_SECONDS = 2.0  # after the receipts could not be read (no backbone yet, a restart)

# The reason codes a form's event may meet (a service's named refusal, kebab-case), in Dutch.
REASONS = {
    # the plan
    "not-a-party": "uw organisatie neemt (niet meer) deel aan dit plan",
    "unknown-action": "deze actie staat niet (meer) in het plan",
    "not-the-actor": "deze actie is niet van uw organisatie",
    "action-closed": "deze actie is al afgerond",
    "invalid-due-date": "de datum klopt niet",
    "not-responsible": "uw organisatie beslist hier niet over",
    # signals
    "signal-already-registered": "dit signaal was al afgegeven",
    "unknown-signal": "dit signaal is niet bekend",
    "signal-not-active": "dit signaal is niet meer actief",
    "not-the-signaller": "alleen wie het signaal afgaf, kan het intrekken",
    "unknown-match": "deze match is niet bekend",
    "child-deceased": "het kind is overleden",
    # truancy
    "not-the-municipalitys-leerplicht": (
        "alleen de leerplicht van de gemeente waar het kind woont, beslist over een vrijstelling"
    ),
    "swv-advice-required": "voor dit artikel is eerst het advies van het SWV nodig",
    "statement-required": "voor dit artikel is de verklaring van artikel 7 nodig",
    "renewal-required": "dit artikel wordt elk schooljaar verlengd: de einddatum ligt te laat",
    "partial-exemption": "de uren per week passen niet bij dit artikel",
    "unknown-exemption-article": "dit artikel kent geen vrijstelling",
    "unknown-report": "deze verzuimmelding is niet bekend",
    "report-already-closed": "deze verzuimmelding is al afgesloten",
    "unknown-code": "deze code kent de regio niet",
    "not-a-thuiszitter": "dit kind is geen thuiszitter",
    "not-enrolled": "het kind staat niet ingeschreven",
    # handovers and arrangements
    "unknown-handover": "deze overdracht is niet bekend",
    "not-the-sender": "alleen de school die overdraagt, kan dit",
    "parents-already-viewed": "de inzage door de ouders is al vastgelegd",
    "parents-not-viewed": "de ouders hebben het dossier nog niet ingezien",
    "consent-missing": "de toestemming ontbreekt",
    "reason-required": "de reden ontbreekt",
    "not-a-linked-parent": "uw account is niet (meer) aan dit kind gekoppeld",
    "not-the-linked-pupil": "uw account is niet aan deze leerling gekoppeld",
    "pupil-not-deciding": "hierover beslissen de ouders (de leerling is jonger dan 16)",
    "wrong-consenter": "hierover beslist een ander (de ouders of de leerling zelf)",
    "consent-already-recorded": "hierover is al beslist",
    "unknown-objection": "dit bezwaar is niet bekend",
    "objection-decided": "over dit bezwaar is al beslist",
    "dispute-state": "het geschil staat niet (meer) open voor een beslissing",
    "not-a-holder": "uw organisatie heeft hier geen doorzettingsmacht",
    # the message itself
    "forged-signature": "de handtekening klopt niet",
    "missing-signature": "de handtekening ontbreekt",
    "bad-signature": "de handtekening klopt niet",
    "unknown-signer": "de afzender is niet bekend",
    "invalid-event": "het bericht voldoet niet aan het afsprakenstelsel",
    "unknown-type": "dit soort bericht neemt de dienst niet aan",
}


def reason_in_dutch(code: str) -> str:
    """A refusal's reason for a person (its code is shown beside it)."""
    return REASONS.get(code, "de dienst heeft het niet aangenomen")


class ReceiptBook:
    """The receipts read so far, by event id (the most recent `keep`), and the forms waiting
    for theirs."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._receipts: OrderedDict[uuid.UUID, Receipt] = OrderedDict()
        self._waiters: list[tuple[frozenset[uuid.UUID], asyncio.Event]] = []

    def receive(self, receipt: Receipt) -> None:
        if receipt.event_id is None:
            return  # refused before its id could be read: no form waits for it
        self._receipts[receipt.event_id] = receipt
        self._receipts.move_to_end(receipt.event_id)
        while len(self._receipts) > self._keep:
            self._receipts.popitem(last=False)
        for ids, woken in self._waiters:
            if receipt.event_id in ids:
                woken.set()

    def seen(self, event_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Receipt]:
        return {i: self._receipts[i] for i in event_ids if i in self._receipts}

    async def wait(
        self, event_ids: Iterable[uuid.UUID], timeout: float
    ) -> dict[uuid.UUID, Receipt]:
        """The receipts of `event_ids` that are in by `timeout` seconds (all, or a refusal,
        ends the wait sooner)."""
        ids = frozenset(event_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.seen(ids)
            left = deadline - loop.time()
            if len(found) == len(ids) or refused(found.values()) or left <= 0:
                return found
            woken = asyncio.Event()
            entry = (ids, woken)
            self._waiters.append(entry)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), left)
            finally:
                self._waiters.remove(entry)


def refused(receipts: Iterable[Receipt]) -> bool:
    return any(r.status == "refused" for r in receipts)


async def read_receipts(nc: NatsClient, partner: str, book: ReceiptBook) -> None:
    """Read the organisation's receipts into `book` for as long as the web app runs, through
    `receipts-<partner>` (fetch and ack only); bound again after a failure (a backbone that
    is not up yet, a restart)."""
    spec = receipts_consumer(partner)
    while not nc.is_closed:
        try:
            sub = await nc.jetstream().pull_subscribe_bind(durable=spec.durable, stream=FEED.name)
            try:
                while True:
                    try:
                        messages = await sub.fetch(1, timeout=5)
                    except TimeoutError:
                        _unless_cancelled()
                        continue
                    for msg in messages:
                        _take(book, msg.data)
                        await msg.ack()
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        except (nats.errors.Error, OSError) as exc:
            # nats-py turns a cancelled fetch into a timeout, or on a closed connection into
            # ConnectionClosedError: the cancellation is honoured here, not retried away.
            _unless_cancelled()
            if nc.is_closed:
                return
            log.warning("web.receipts_unreadable", partner=partner, error=type(exc).__name__)
            await asyncio.sleep(RETRY_SECONDS)


async def receipt_of(
    nc: NatsClient, partner: str, event_id: uuid.UUID, wait: float
) -> Receipt | None:
    """The receipt of `event_id` from `receipts-<partner>` within `wait` seconds, each receipt
    read on the way acknowledged (a parent's account: the web app publishes for it now and then,
    on a connection of its own, and reads its answer there); None when it did not come."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    spec = receipts_consumer(partner)
    try:
        sub = await nc.jetstream().pull_subscribe_bind(durable=spec.durable, stream=FEED.name)
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    messages = await sub.fetch(1, timeout=left)
                except TimeoutError:
                    _unless_cancelled()
                    return None
                for msg in messages:
                    await msg.ack()
                    book = ReceiptBook(keep=1)
                    _take(book, msg.data)
                    if found := book.seen([event_id]):
                        return found[event_id]
            return None
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
    except (nats.errors.Error, OSError) as exc:
        _unless_cancelled()
        log.warning("web.receipts_unreadable", error=type(exc).__name__)
        return None


def _unless_cancelled() -> None:
    """Raise CancelledError when the running task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _take(book: ReceiptBook, data: bytes) -> None:
    try:
        book.receive(Receipt.model_validate_json(data))
    except (ValidationError, json.JSONDecodeError):
        log.warning("web.receipt_unreadable")


Verdict = Literal["verwerkt", "geweigerd", "onbevestigd"]


@dataclass(frozen=True)
class Outcome:
    """What a person is told about a form they sent (the events it published)."""

    verdict: Verdict
    what: str  # e.g. "Het doel"
    reasons: tuple[tuple[str, str], ...] = ()  # (code, in Dutch) of each refusal

    @property
    def text(self) -> str:
        if self.verdict == "verwerkt":
            return f"{self.what} is verwerkt."
        if self.verdict == "geweigerd":
            why = "; ".join(f"{dutch} (code: {code})" for code, dutch in self.reasons)
            return f"{self.what} is niet verwerkt: {why}."
        return f"{self.what} is verstuurd, maar nog niet bevestigd."


def outcome(
    what: str, event_ids: Iterable[uuid.UUID], receipts: Mapping[uuid.UUID, Any]
) -> Outcome:
    """The outcome of a form that published `event_ids`, from the receipts that came in."""
    ids = list(event_ids)
    found = [receipts[i] for i in ids if i in receipts]
    refusals = [r for r in found if r.status == "refused"]
    if refusals:
        codes = dict.fromkeys(str(r.reason) for r in refusals)
        return Outcome("geweigerd", what, tuple((c, reason_in_dutch(c)) for c in codes))
    if ids and len(found) == len(ids):
        return Outcome("verwerkt", what)
    return Outcome("onbevestigd", what)
