"""arrangements' time-driven rules, as the service host calls them (in the store thread)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.arrangements.application import ArrangementsApplication

TICK_INTERVAL = 60.0


def tick(app: Any, now: datetime) -> None:
    """Reminders ahead of expiries and review dates; dispute deadlines (see `remind`)."""
    if not isinstance(app, ArrangementsApplication):
        raise TypeError("the arrangements tick needs the arrangements application")
    app.tick(now)
