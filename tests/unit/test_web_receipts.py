"""What a person is told about a form they sent, from the receipts of its events: verwerkt when
every event is accepted, niet verwerkt with each refusal's reason in Dutch and its code, nog
niet bevestigd while a receipt is missing; a form waits a bounded time for them."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from ketenbus_contracts.feed import Receipt
from services.integral_plan.web_receipts import ReceiptBook, outcome


def given(event_id: uuid.UUID, reason: str | None = None) -> Receipt:
    return Receipt(
        id=uuid.uuid4(),
        partner="wijkteam-lingewaard",
        status="refused" if reason else "accepted",
        event_id=event_id,
        stream_seq=1,
        service="integral-plan",
        reason=reason,
        decided_at=datetime.now(UTC),
    )


def test_a_form_is_processed_when_every_event_it_published_is_accepted() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    both = outcome("De inzage", [first, second], {first: given(first), second: given(second)})
    one = outcome("De inzage", [first, second], {first: given(first)})

    assert ("verwerkt", "De inzage is verwerkt.") == (both.verdict, both.text)
    assert ("onbevestigd", "De inzage is verstuurd, maar nog niet bevestigd.") == (
        one.verdict,
        one.text,
    )


def test_a_refusal_is_told_in_dutch_with_its_code_and_an_unknown_code_as_it_is() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    receipts = {first: given(first, "not-a-party"), second: given(second, "something-new")}

    refused = outcome("Het doel", [first, second], receipts)

    assert "geweigerd" == refused.verdict
    assert (
        "Het doel is niet verwerkt: uw organisatie neemt (niet meer) deel aan dit plan "
        "(code: not-a-party); de dienst heeft het niet aangenomen (code: something-new)."
    ) == refused.text


def test_a_wait_ends_when_the_receipts_are_in_or_at_its_bound() -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    book = ReceiptBook()

    async def story() -> tuple[dict[uuid.UUID, Receipt], float, dict[uuid.UUID, Receipt]]:
        async def later() -> None:
            await asyncio.sleep(0.05)
            book.receive(given(other))
            book.receive(given(mine))

        started = time.monotonic()
        arriving = asyncio.create_task(later())
        found = await book.wait([mine], 10)
        took = time.monotonic() - started
        await arriving
        return found, took, await book.wait([uuid.uuid4()], 0.05)

    found, took, none = asyncio.run(story())

    assert ([mine], True, {}) == (list(found), took < 5, none)


def test_the_book_keeps_the_most_recent_receipts_only() -> None:
    book = ReceiptBook(keep=2)
    ids = [uuid.uuid4() for _ in range(3)]
    for i in ids:
        book.receive(given(i))

    assert ids[1:] == list(book.seen(ids))
