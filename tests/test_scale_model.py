"""The trials tab's columnar filter and sort give exactly what the simple reference gives.

`ColumnTable` (core/studies/columns.py) filters and sorts 100,000 rows through per-column
arrays; `TrialFilter.apply` and `sort_rows` (core/studies/filters.py) are the plain Python
definition, one row at a time. Random rows with every kind of value a column can hold
(floats, ints, NaN, inf, None, bools, numeric and other text, ties), random filters and every
sort, before and after rows change in place, must agree row for row.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from hptui.core.studies.columns import ColumnTable
from hptui.core.studies.filters import TrialFilter, parse_filter, sort_rows
from hptui.tui.widgets.trials.model import Prepared, TrialsModel

COLUMNS = ["number", "state", "f1", "lr", "batch", "reason", "mixed"]
STATES = ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING", "LOST"]


def _value(rng: random.Random, column: str) -> Any:
    if column == "state":
        return rng.choice(STATES)
    if column == "f1":
        return rng.choice([None, float("nan"), round(rng.random(), 2), 0.5, 1, 0.0, -0.0])
    if column == "lr":
        return rng.choice([1e-5, 2e-5, 5e-5, 1e-4, float("inf"), None])
    if column == "batch":
        return rng.choice([8, 16, 32, 16])
    if column == "reason":
        return rng.choice([None, "completed", "Completed", "out of memory", "", "pruned"])
    return rng.choice(
        [None, True, False, "0.7", "abc", "ABC", 0.3, 2, float("nan"), "nan", [1], {"a": 1}]
    )


def _rows(rng: random.Random, count: int) -> dict[int, dict[str, Any]]:
    numbers = rng.sample(range(count * 3), count)
    return {n: {"number": n, **{c: _value(rng, c) for c in COLUMNS[1:]}} for n in numbers}


def _filter(rng: random.Random) -> TrialFilter:
    clauses = []
    for _ in range(rng.randint(0, 3)):
        column = rng.choice(COLUMNS)
        if column == "state":
            states = "|".join(rng.sample(STATES, rng.randint(1, 3)))
            clauses.append(f"state {rng.choice(['=', '!='])} {states.lower()}")
        elif rng.random() < 0.3:
            text = rng.choice(["completed", "abc", "0.7x", "nan-ish", "pruned"])
            clauses.append(f"{column} {rng.choice(['=', '!=', '=='])} {text}")
        else:
            op = rng.choice(["<", "<=", ">", ">=", "=", "==", "!="])
            number = rng.choice(["0.5", "1", "0", "1e-4", "16", "0.3", "-0.0", "2"])
            clauses.append(f"{column} {op} {number}")
    return parse_filter(", ".join(clauses), COLUMNS)


def _reference(rows: dict[int, dict[str, Any]], f: TrialFilter, sort: str | None, desc: bool):
    ordered = [rows[n] for n in sorted(rows)]
    return [r["number"] for r in sort_rows(f.apply(ordered), sort, desc)]


@pytest.mark.parametrize("seed", range(6))
def test_columnar_filter_and_sort_equal_the_reference_on_random_rows(seed: int) -> None:
    rng = random.Random(seed)
    rows = _rows(rng, rng.choice([1, 7, 60, 400]))
    table = ColumnTable(sorted(rows), rows)
    for round_ in range(40):
        trial_filter = _filter(rng)
        sort = rng.choice([None, *COLUMNS])
        descending = rng.random() < 0.5
        got = table.view(trial_filter, sort, descending)
        assert got == _reference(rows, trial_filter, sort, descending), (trial_filter, sort)
        if round_ % 5 == 4:  # rows change in place, and new ones arrive past the last
            changed = rng.sample(sorted(rows), min(3, len(rows)))
            for n in changed:
                rows[n] = {"number": n, **{c: _value(rng, c) for c in COLUMNS[1:]}}
            added = [max(rows) + 1 + i for i in range(rng.randint(0, 2))]
            for n in added:
                rows[n] = {"number": n, **{c: _value(rng, c) for c in COLUMNS[1:]}}
            assert table.update(changed + added)


def test_a_number_landing_in_the_middle_asks_for_a_new_table() -> None:
    rows = {n: {"number": n, "f1": n / 10} for n in (0, 5, 9)}
    table = ColumnTable(sorted(rows), rows)
    rows[3] = {"number": 3, "f1": 0.3}
    assert not table.update([3])


def test_the_model_keeps_states_and_views_through_updates() -> None:
    """The model's views equal the reference as polls bring new and changed rows."""
    rng = random.Random(7)
    model = TrialsModel()
    model.columns = model.columns_for(["lr"])
    model.params = ["lr"]
    now = datetime(2026, 1, 1)
    rows = _rows(rng, 300)
    numbers = sorted(rows)
    for chunk in (numbers[:100], numbers[100:], rng.sample(numbers, 20)):
        batch = {}
        for n in chunk:
            rows[n] = {"number": n, **{c: _value(rng, c) for c in COLUMNS[1:]}}
            batch[n] = rows[n]
        model.apply(Prepared(None, None, batch, {n: () for n in batch}, []))
        for _ in range(10):
            trial_filter, sort = _filter(rng), rng.choice([None, *COLUMNS])
            descending = rng.random() < 0.5
            assert model.view(trial_filter, sort, descending) == _reference(
                {n: rows[n] for n in model.rows}, trial_filter, sort, descending
            )
        assert model.states == {n: str(rows[n]["state"]) for n in model.rows}
    assert now  # the clock plays no part in views
