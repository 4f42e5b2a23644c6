"""A service process's garbage collector, as `ketenbus service` sets it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.host import tune_garbage_collector
from services.runtime.settings import Settings


@pytest.fixture
def python_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("python_collector")
def test_a_service_collects_its_youngest_garbage_less_often_and_freezes_what_it_holds(
    tmp_path: Path,
) -> None:
    _, middle, oldest = gc.get_threshold()

    tune_garbage_collector(Settings(data_dir=tmp_path))

    assert (10_000, middle, oldest) == gc.get_threshold()
    assert 0 < gc.get_freeze_count()


@pytest.mark.usefixtures("python_collector")
def test_a_threshold_of_zero_keeps_pythons_collector(tmp_path: Path) -> None:
    before = gc.get_threshold()

    tune_garbage_collector(Settings(data_dir=tmp_path, gc_young_threshold=0))

    assert before == gc.get_threshold()
    assert 0 == gc.get_freeze_count()
