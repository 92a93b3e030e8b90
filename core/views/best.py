"""The best objective value so far, kept up to date one changed trial at a time.

The live tab draws the best-so-far curve every poll, a few times a second. Recomputing it
over every trial (sorting 100,000 points twice, then a Python loop over each) took most of
a poll's 787 ms at 100,000 trials, with nothing new to show. `BestSoFar` keeps the complete
trials sorted by number and by completion time and the curves' change points: a trial
finishing after every other (the usual case) extends them in O(1); anything else (a trial
finishing out of order, a value changing) rebuilds the one curve it touched, once, when next
asked. Its results equal `live.best_so_far` over the same points
(tests/test_live_best.py checks it over random sequences of updates).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from datetime import datetime
from itertools import accumulate
from typing import Any

from hptui.core.studies.quick_reads import SeriesPoint

Curve = tuple[tuple[Any, float], ...]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class _Steps:
    """One best-so-far curve: points sorted by key, and where the best changes."""

    def __init__(self, better: Callable[[float, float], float]) -> None:
        self.better = better
        self.keys: list[tuple[Any, int]] = []  # (x, first-seen order): ties as first seen
        self.values: list[float] = []
        self.changes: list[tuple[Any, float]] = []  # the points where the best changes
        self.last: tuple[Any, float] | None = None  # the last point, change or not
        self.last_changes = False  # whether the last point is itself a change point
        self.dirty = False

    def add(self, key: tuple[Any, int], value: float) -> None:
        if self.keys and key < self.keys[-1]:
            at = bisect.bisect(self.keys, key)
            self.keys.insert(at, key)
            self.values.insert(at, value)
            self.dirty = True  # the best after it may change: rebuild when asked
            return
        self.keys.append(key)
        self.values.append(value)
        if self.dirty:
            return
        best = value if self.last is None else self.better(self.last[1], value)
        self.last_changes = self.last is None or best != self.last[1]
        self.last = (key[0], best)
        if self.last_changes:
            self.changes.append(self.last)

    def remove(self, key: tuple[Any, int]) -> None:
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at], self.values[at]
            self.dirty = True

    def curve(self) -> tuple[tuple[Any, float], ...]:
        """The change points, then the last point unless it is one (as `live._changes`)."""
        if self.dirty:
            self.dirty = False
            bests = list(accumulate(self.values, self.better))
            self.changes = [
                (self.keys[i][0], b) for i, b in enumerate(bests) if i == 0 or b != bests[i - 1]
            ]
            self.last = (self.keys[-1][0], bests[-1]) if bests else None
            self.last_changes = len(bests) == 1 or (len(bests) > 1 and bests[-1] != bests[-2])
        if self.last is None:
            return ()
        return tuple(self.changes) if self.last_changes else (*self.changes, self.last)


class BestSoFar:
    """The best-so-far curves (by trial number, by hours since the first start) and every
    complete trial's value, from points given one at a time (a trial seen again replaces
    its earlier point). Trial numbers are unique in a study."""

    def __init__(self, direction: str) -> None:
        self.better: Callable[[float, float], float] = max if direction == "maximize" else min
        self.points: dict[int, SeriesPoint] = {}
        self.counts: dict[str, int] = {}
        self._seen: dict[int, int] = {}
        self._by_number = _Steps(self.better)
        self._by_time = _Steps(self.better)
        self._origin: datetime | None = None
        self._values: tuple[tuple[int, float], ...] | None = ()
        self._cached: tuple[Curve, Curve] | None = ((), ())

    def update(self, point: SeriesPoint) -> None:
        old = self.points.get(point.trial_id)
        if old == point:
            return
        self.points[point.trial_id] = point
        seen = self._seen.setdefault(point.trial_id, len(self._seen))
        if old is not None:
            self.counts[old.state] -= 1
        self.counts[point.state] = self.counts.get(point.state, 0) + 1
        if point.started is not None and (self._origin is None or point.started < self._origin):
            self._origin = point.started
        elif old is not None and old.started == self._origin != point.started:
            # the first start moved later (or went): look again
            starts = [p.started for p in self.points.values() if p.started is not None]
            self._origin = min(starts) if starts else None
        old_number, old_time = self._keys(old, seen)
        new_number, new_time = self._keys(point, seen)
        self._cached = None
        if (old_number, old and old.value) == (new_number, point.value) and old_time == new_time:
            return  # the curves do not change (a state or start time did)
        self._values = None
        if old_number is not None:
            self._by_number.remove(old_number)
        if old_time is not None:
            self._by_time.remove(old_time)
        if new_number is not None:
            assert point.value is not None
            self._by_number.add(new_number, float(point.value))
        if new_time is not None:
            assert point.value is not None
            self._by_time.add(new_time, float(point.value))

    def extend(self, points: list[SeriesPoint]) -> None:
        """Take many points at once (a study's first read): one sort per curve instead of
        an insertion per point. Equal to `update` on each, in order."""
        if self.points:
            for point in points:
                self.update(point)
            return
        for point in points:
            if point.trial_id in self.points:  # the same trial twice: the later wins
                self.update(point)
                continue
            self.points[point.trial_id] = point
            self._seen[point.trial_id] = len(self._seen)
            self.counts[point.state] = self.counts.get(point.state, 0) + 1
        starts = [p.started for p in self.points.values() if p.started is not None]
        self._origin = min(starts) if starts else None
        by_number, by_time = [], []
        for point in self.points.values():
            number, completed = self._keys(point, self._seen[point.trial_id])
            if number is not None:
                assert point.value is not None
                by_number.append((number, float(point.value)))
                if completed is not None:
                    by_time.append((completed, float(point.value)))
        for steps, entries in ((self._by_number, by_number), (self._by_time, by_time)):
            entries.sort(key=lambda entry: entry[0])
            steps.keys = [key for key, _ in entries]
            steps.values = [value for _, value in entries]
            steps.dirty = True
        self._values, self._cached = None, None

    @staticmethod
    def _keys(
        point: SeriesPoint | None, seen: int
    ) -> tuple[tuple[int, int] | None, tuple[datetime, int] | None]:
        if point is None or point.state != "COMPLETE" or not _finite(point.value):
            return None, None
        by_time = (point.completed, seen) if point.completed is not None else None
        return (point.number, seen), by_time

    def curves(self) -> tuple[Curve, Curve]:
        """(by trial number, by hours since the first start), as `live.best_so_far`."""
        if self._cached is None:
            by_number = self._by_number.curve()
            by_time: Curve = ()
            if self._origin is not None:
                origin = self._origin
                by_time = tuple(
                    ((x - origin).total_seconds() / 3600, best) for x, best in self._by_time.curve()
                )
            self._cached = (by_number, by_time)
        return self._cached

    def values(self) -> tuple[tuple[int, float], ...]:
        """Every complete trial's (number, value), by number."""
        if self._values is None:
            self._values = tuple(
                (key[0], value)
                for key, value in zip(self._by_number.keys, self._by_number.values, strict=True)
            )
        return self._values
