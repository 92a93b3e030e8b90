"""The live tab's incremental best-so-far equals the full recomputation.

`BestSoFar` (core/views/best.py) is fed one changed trial at a time, as `LiveFeed.poll`
feeds it; `best_so_far` (core/views/live.py) recomputes over every point. Over random
sequences of updates (trials created, run, finished in and out of order, values and states
changed, equal completion times, NaN and missing values, both directions) the two agree
after every update.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from hptui.core.studies.quick_reads import SeriesPoint
from hptui.core.views.best import BestSoFar
from hptui.core.views.live import best_so_far

START = datetime(2026, 11, 20, 10, 0, 0)


def _moment(rng: random.Random) -> datetime:
    return START + timedelta(minutes=rng.choice([0, 1, 1, 2, 5, 7, 9, 30]))  # many ties


def _point(rng: random.Random, trial_id: int) -> SeriesPoint:
    state = rng.choice(["RUNNING", "COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"])
    value = rng.choice([None, float("nan"), float("inf"), 0.5, 0.8, round(rng.random(), 2)])
    started = None if rng.random() < 0.1 else _moment(rng)
    completed = None if state == "RUNNING" or rng.random() < 0.1 else _moment(rng)
    return SeriesPoint(trial_id, trial_id, state, value, started, completed)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_incremental_best_so_far_equals_the_full_recomputation(seed: int, direction: str) -> None:
    rng = random.Random(seed)
    best = BestSoFar(direction)
    points: dict[int, SeriesPoint] = {}
    created = 0
    for _ in range(300):
        if created == 0 or rng.random() < 0.4:
            trial_id = created  # a new trial, numbered as Optuna numbers them
            created += 1
        else:
            trial_id = rng.randrange(created)  # one seen before changes
        point = _point(rng, trial_id)
        if rng.random() < 0.5 and trial_id in points:  # often only the state moves on
            old = points[trial_id]
            point = SeriesPoint(
                trial_id, old.number, "COMPLETE", old.value, old.started, point.completed
            )
        points[trial_id] = point
        best.update(point)
        expected = best_so_far(list(points.values()), direction)
        assert best.curves() == expected
        complete = sorted(
            (p.number, float(p.value))
            for p in points.values()
            if p.state == "COMPLETE"
            and p.value is not None
            and abs(p.value) != float("inf")
            and p.value == p.value
        )
        assert list(best.values()) == complete
        counts: dict[str, int] = {}
        for p in points.values():
            counts[p.state] = counts.get(p.state, 0) + 1
        assert {k: v for k, v in best.counts.items() if v} == counts


def test_trials_finishing_in_order_extend_the_curve_without_a_rebuild() -> None:
    best = BestSoFar("maximize")
    for n, value in enumerate([0.5, 0.4, 0.7, 0.7, 0.6]):
        best.update(SeriesPoint(n, n, "COMPLETE", value, START, START + timedelta(minutes=n)))
        assert not best._by_number.dirty and not best._by_time.dirty
    by_number, _ = best.curves()
    assert by_number == ((0, 0.5), (2, 0.7), (4, 0.7))


@pytest.mark.parametrize("seed", range(4))
def test_a_first_read_in_one_go_equals_point_by_point(seed: int) -> None:
    rng = random.Random(100 + seed)
    points = [_point(rng, rng.randrange(40)) for _ in range(60)]  # repeats: the later wins
    at_once, one_by_one = BestSoFar("maximize"), BestSoFar("maximize")
    at_once.extend(points)
    for point in points:
        one_by_one.update(point)
    assert at_once.curves() == one_by_one.curves()
    assert at_once.values() == one_by_one.values()
    assert at_once.counts == {k: v for k, v in one_by_one.counts.items() if v}
    latest = {p.trial_id: p for p in points}
    assert at_once.curves() == best_so_far(list(latest.values()), "maximize")
    more = _point(rng, 41)
    at_once.update(more)
    latest[41] = more
    assert at_once.curves() == best_so_far(list(latest.values()), "maximize")
