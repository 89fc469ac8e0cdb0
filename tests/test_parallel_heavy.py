"""The server-wide cap on heavy in-process work (clipcore.parallel.heavy_slot)."""

from __future__ import annotations

import threading

import pytest

from clipcore.errors import ServerBusy
from clipcore.config import max_heavy
from clipcore.parallel import heavy_slot


def test_heavy_slots_are_capped_server_wide_and_released():
    """Issue 19, attack 7: any number of visitors could run prompt suggestions at once."""
    entered, release = threading.Event(), threading.Event()

    def hold():
        with heavy_slot("first", limit=1):
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(10)
    with pytest.raises(ServerBusy, match="second was not started"):
        with heavy_slot("second", limit=1):
            pass
    with pytest.raises(ServerBusy):
        with heavy_slot("third", limit=1, wait_s=0.05):
            pass
    release.set()
    t.join(10)
    with heavy_slot("after", limit=1):  # released, also when the block raised
        pass
    with pytest.raises(RuntimeError):
        with heavy_slot("failing", limit=1):
            raise RuntimeError("boom")
    with heavy_slot("after a failure", limit=1):
        pass


def test_max_heavy_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLIPCORE_MAX_HEAVY", "5")
    assert max_heavy() == 5
    monkeypatch.setenv("CLIPCORE_MAX_HEAVY", "zero")
    assert max_heavy() == 2
    monkeypatch.setenv("CLIPCORE_MAX_HEAVY", "0")
    assert max_heavy() == 1
