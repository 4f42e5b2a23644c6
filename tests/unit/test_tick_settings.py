"""Each service's clock is a setting (`KETENBUS_<SERVICE>_TICK_INTERVAL`), with a default."""

from __future__ import annotations

import pytest

from services.handover.bootstrap import service_spec as handover_spec
from services.policy.handover import load_rules
from services.truancy.bootstrap import service_spec as truancy_spec


def test_truancy_ticks_hourly_unless_the_setting_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KETENBUS_TRUANCY_TICK_INTERVAL", raising=False)
    assert 3600.0 == truancy_spec().tick_interval
    monkeypatch.setenv("KETENBUS_TRUANCY_TICK_INTERVAL", "2.5")
    assert 2.5 == truancy_spec().tick_interval


def test_handover_ticks_by_its_rules_unless_the_setting_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KETENBUS_HANDOVER_TICK_INTERVAL", raising=False)
    assert load_rules().tick_seconds == handover_spec().tick_interval
    monkeypatch.setenv("KETENBUS_HANDOVER_TICK_INTERVAL", "7")
    assert 7.0 == handover_spec().tick_interval
