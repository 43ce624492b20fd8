"""`nebula run` collects cycles less often and leaves start-up objects out of every collection."""

from __future__ import annotations

import gc

from nebula_core.runtime import GC_THRESHOLDS, tune_garbage_collector


def test_tuning_sets_the_thresholds_and_freezes_what_exists() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert GC_THRESHOLDS[0] > before[0]  # young collections less often than CPython's default
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
