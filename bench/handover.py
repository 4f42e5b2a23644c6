"""bench: one OSO dossier through the backbone (import → request → delivery → export), timed.

Run: `.venv/bin/python -m bench.handover` (embedded nats-server, SQLite, handover + kluis).
Prints per sample: import time (validation, the wait for the handover key, sealing, object
store), request → delivered, export, and the largest event on INBOUND and HANDOVER.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from services.runtime.nats_server import EmbeddedNats
from services.runtime.settings import Settings
from services.runtime.supervisor import Backbone
from tests.integration import test_handover as story
from tests.integration.helpers import publish_events, read_stream, wait_until


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ketenbus-bench-handover-"))
    server = EmbeddedNats(tmp / "nats")
    url = server.start()
    try:
        settings = Settings(data_dir=tmp / "data", store="sqlite", nats_url=url)
        with Backbone(settings, ["handover", "kluis"]):
            for sample in (story.POVO, story.OPT_OUT):
                t0 = time.perf_counter()
                done, _ = asyncio.run(story._import(url, settings.data_dir, sample))
                t1 = time.perf_counter()
                publish_events(url, [story.request(done), story.release(done)], settings.data_dir)
                wait_until(lambda d=done: story.delivered(url, d.handover_id))
                t2 = time.perf_counter()
                xml = story.export_when_keyed(url, settings.data_dir, done.handover_id)
                t3 = time.perf_counter()
                inbound = max(len(d) for _, d, _ in read_stream(url, "INBOUND"))
                handover = max(len(d) for _, d, _ in read_stream(url, "HANDOVER"))
                print(
                    f"{sample.name}: file {sample.stat().st_size} B; import {t1 - t0:.2f}s, "
                    f"request→delivered {t2 - t1:.2f}s, export {t3 - t2:.2f}s; largest event "
                    f"INBOUND {inbound} B, HANDOVER {handover} B; exported {len(xml)} B"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
