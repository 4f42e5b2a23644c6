"""How services consume a JetStream stream with faststream: in order, a batch at a time.

faststream runs the messages of one pull in concurrent tasks, which would let a later message
overtake an earlier one; in batch mode one handler call gets the whole pull, in order. The raw
decoder hands over the bytes so each message is validated on its own (a bad message must not
refuse its batch).
"""

from __future__ import annotations

from typing import Any

from faststream.nats import PullSub

# Up to 256 messages a pull; a partial batch is handed over after 50 ms. Shorter waits make
# faststream issue pull requests that expire as the server answers them, losing deliveries
# until `ack_wait` (`ServiceContext` detects that and restarts the consumer).
BATCH = PullSub(batch_size=256, timeout=0.05, batch=True)


async def raw_batch(msg: Any, original: Any) -> Any:
    """faststream decoder: leave the payloads of a `NatsBatchMessage` as bytes (the handler
    decodes each). Unannotated on purpose: faststream reads a decoder's annotations when it
    builds the AsyncAPI payload."""
    return msg.body
