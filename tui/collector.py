"""Python's full garbage collections, moved to moments when nobody waits for the screen.

Every step in the backoffice (a page of rows, a search keystroke, a screen switch) leaves several
thousand objects of cyclic garbage behind: Textual's events, strips, style and layout caches. With
CPython's default thresholds that made a full collection run every third step or so, at whatever
step it fell on. A full collection walks every tracked object of the app, some 80,000 on a running
backoffice, and took 50-140 ms: a paging key that otherwise showed its page in 40 ms now and then
took 150-190 ms (measured with `bench/bench_tui.py` on 1M customers).

`RestingCollector` leaves the young collections as Python runs them (a few milliseconds each) and
holds back the full one until the user rests: no key or mouse input for `rest` seconds. Then it
runs one if Python itself would have considered one by now (as many middle-generation collections
since the last as Python's own third threshold, 10 by default), so an idle app whose only work is
a live list's refresh collects no more often than Python would. As a bound for an app that is
never at rest (a key held down for minutes), Python still runs a full collection by itself after
`SAFETY` collections of the middle generation.

Where the interpreter's collector is incremental (no full pauses: its third threshold is 0) or
collection is switched off, nothing is changed. The thresholds are process-wide, so `stop()`
puts back the ones it found.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable

REST = 1.0  # seconds without input before a full collection may run
SAFETY = 1000  # middle-generation collections after which Python runs a full one by itself


class RestingCollector:
    def __init__(self, rest: float = REST, clock: Callable[[], float] = time.monotonic):
        self.rest = rest
        self.clock = clock
        self.last_input = clock()
        self.collections = 0  # full collections run at rest
        self._saved: tuple[int, ...] | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def start(self) -> bool:
        """Hold back Python's own full collections; False where there is nothing to move."""
        threshold = gc.get_threshold()
        if self._saved is not None or not gc.isenabled() or len(threshold) < 3 or threshold[2] == 0:
            return False
        self._saved = threshold
        gc.set_threshold(threshold[0], threshold[1], max(threshold[2], SAFETY))
        return True

    def stop(self) -> None:
        """Put back the thresholds `start` found."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def input(self) -> None:
        """A key or mouse event came in: the user may be waiting for the screen."""
        self.last_input = self.clock()

    def tick(self) -> bool:
        """Run a full collection if the user rests and Python would have considered one by now."""
        if (self._saved is None or self.clock() - self.last_input < self.rest
                or gc.get_count()[2] < self._saved[2]):
            return False
        gc.collect()
        self.collections += 1
        return True
