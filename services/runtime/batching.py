"""How services consume a JetStream stream with faststream: in order, a batch at a time.

faststream runs the messages of one pull in concurrent tasks, which would let a later message
overtake an earlier one; in batch mode one handler call gets the whole pull, in order. The raw
decoder hands over the bytes so each message is validated on its own (a bad message must not
refuse its batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsRouter, PullSub

from services.runtime.streams import ConsumerSpec

# Up to 256 messages a pull; a partial batch is handed over after 50 ms. Shorter waits make
# faststream issue pull requests that expire as the server answers them, losing deliveries
# until `ack_wait` (`ServiceContext` detects that and restarts the consumer).
BATCH = PullSub(batch_size=256, timeout=0.05, batch=True)


async def raw_batch(msg: Any, original: Any) -> Any:
    """faststream decoder: leave the payloads of a `NatsBatchMessage` as bytes (the handler
    decodes each). Unannotated on purpose: faststream reads a decoder's annotations when it
    builds the AsyncAPI payload."""
    return msg.body


def stream_subscriber(
    router: NatsRouter, consumer: ConsumerSpec, *, title: str, description: str
) -> Callable[[Any], Any]:
    """The faststream subscriber of a service's durable consumer: pulled in batches, in order,
    payloads left as bytes for `ServiceContext.consume`; nacked (and the service restarted from
    its stored position) when the handler fails."""
    return router.subscriber(
        consumer.filter_subjects[0],
        stream=JStream(consumer.stream.name, declare=False),
        durable=consumer.durable,
        pull_sub=BATCH,
        decoder=raw_batch,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=title,
        description=(
            f"Durable pull consumer `{consumer.durable}` on stream `{consumer.stream.name}`: "
            f"{description}"
        ),
    )
