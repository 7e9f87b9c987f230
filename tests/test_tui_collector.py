"""Full garbage collections wait until the user rests (tui/collector.py)."""
from __future__ import annotations

import gc
import weakref

import pytest

from tests import world
from tests.tui_support import SIZE, backoffice, keys, settle
from tui.collector import SAFETY, RestingCollector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def churn(n: int = 150_000) -> None:
    """Allocate and drop enough containers for Python to run its young collections many times."""
    for _ in range(n):
        a: list = []
        a.append(a)


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_full_collection_runs_only_at_rest(thresholds):
    if thresholds[2] == 0:
        pytest.skip("this interpreter's collector is incremental: it has no full pauses to move")
    clock = Clock()
    collector = RestingCollector(rest=1.0, clock=clock)
    assert collector.start()
    assert gc.get_threshold() == (thresholds[0], thresholds[1], max(thresholds[2], SAFETY))
    gc.collect()
    node = Node()
    churn()  # the node survives young collections: it moves to the old generation
    ref = weakref.ref(node)
    del node  # now garbage there, which only a full collection finds
    churn()
    # Python would have run a full collection by now (as many middle-generation collections as its
    # third threshold), and has not.
    assert gc.get_count()[2] >= thresholds[2]

    collector.input()
    clock.now += 0.5
    assert not collector.tick()  # the user pressed a key half a second ago
    assert ref() is not None and collector.collections == 0

    clock.now += 0.6
    assert collector.tick()  # resting for 1.1 s: the full collection runs now
    assert ref() is None and collector.collections == 1
    assert not collector.tick()  # nothing to do until as much has piled up again
    churn(1_000)
    assert not collector.tick()  # a little work at rest (a live list's refresh) is not enough
    collector.stop()
    assert gc.get_threshold() == thresholds


def test_nothing_changes_where_there_is_no_full_pause(thresholds, monkeypatch):
    collector = RestingCollector()
    gc.disable()
    try:
        assert not collector.start()  # collection switched off: nothing to move
    finally:
        gc.enable()
    monkeypatch.setattr(gc, "get_threshold", lambda: (2000, 10, 0))  # an incremental collector
    assert not collector.start()
    assert not collector.tick()
    collector.stop()  # harmless when not started
    monkeypatch.undo()
    assert gc.get_threshold() == thresholds


async def test_app_holds_full_collections_while_running(sqlite_db, thresholds):
    if thresholds[2] == 0:
        pytest.skip("this interpreter's collector is incremental")
    world.companies()
    app = backoffice(world.SOURCE_ID)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.collector.active and gc.get_threshold()[2] == max(thresholds[2], SAFETY)
        before = app.collector.last_input
        await keys(pilot, "4")
        assert app.collector.last_input > before  # a key counts as the user being there
    assert gc.get_threshold() == thresholds  # the process's thresholds are back after the app
