"""A stop that takes longer than notice + grace + a margin dumps every thread's stack."""

from __future__ import annotations

import faulthandler
import gc

import pytest

from pricing_service.cli import serve
from pricing_service.config import load_config


def test_a_stuck_stop_is_watched_for_notice_plus_grace_plus_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[float, bool]] = []
    monkeypatch.setattr(
        faulthandler,
        "dump_traceback_later",
        lambda timeout, exit=False: calls.append((timeout, exit)),
    )
    config = load_config(env={"PRICING_GRACE_SECONDS": "7", "PRICING_SHUTDOWN_NOTICE_SECONDS": "2"})
    serve._watch_stop(config)
    assert calls == [(29.0, False)]  # 2 + 7 + 20, and the process is not killed by it


def test_the_startup_heap_is_frozen_out_of_the_collector() -> None:
    # Built once and kept for the process's life: full collections must not walk it again.
    kept = [[i] for i in range(1000)]  # tracked containers, as policies and indexes are
    gc.unfreeze()
    try:
        serve.freeze_startup_heap()
        assert gc.get_freeze_count() >= len(kept)
        assert not any(kept[0] is o for o in gc.get_objects())  # no generation holds them
    finally:
        gc.unfreeze()
