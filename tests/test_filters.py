"""Filters and sorting typed in the console: parsed, checked, applied in Python."""

from __future__ import annotations

import math

import pytest

from hptui.core.studies.filters import FilterError, parse_filter, sort_rows

COLUMNS = ["number", "state", "learning_rate", "train_batch_size", "f1", "loss", "reason"]
ROWS = [
    {
        "number": 0,
        "state": "COMPLETE",
        "learning_rate": 2e-5,
        "train_batch_size": 16,
        "f1": 0.88,
        "loss": 0.4,
        "reason": "completed",
    },
    {
        "number": 1,
        "state": "FAIL",
        "learning_rate": 5e-5,
        "train_batch_size": 32,
        "f1": None,
        "loss": None,
        "reason": "out of memory",
    },
    {
        "number": 2,
        "state": "COMPLETE",
        "learning_rate": 1e-4,
        "train_batch_size": 32,
        "f1": 0.91,
        "loss": float("nan"),
        "reason": "completed",
    },
    {
        "number": 3,
        "state": "PRUNED",
        "learning_rate": 3e-5,
        "train_batch_size": 16,
        "f1": 0.80,
        "loss": 0.5,
        "reason": "pruned at epoch 1",
    },
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [0, 1, 2, 3]),
        ("f1 > 0.85", [0, 2]),
        ("f1 >= 0.8, learning_rate <= 3e-5", [0, 3]),
        ("state = COMPLETE and train_batch_size = 32", [2]),
        ("state = complete|pruned", [0, 2, 3]),
        ("state != FAIL", [0, 2, 3]),
        ("reason = completed", [0, 2]),
        ("reason != completed", [1, 3]),
        ("loss < 1", [0, 3]),  # NaN and missing satisfy no comparison
    ],
)
def test_filters_select_the_rows_they_say(text: str, expected: list[int]) -> None:
    rows = parse_filter(text, COLUMNS).apply(ROWS)
    assert [r["number"] for r in rows] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f1 >", "cannot read 'f1 >'"),
        ("F1 > 0.5", "no column 'F1'; did you mean 'f1'?"),
        ("lr > 0.5", "no column 'lr'"),
        ("1; DROP TABLE trials --", "cannot read"),
        ("f1 > 0.5' OR '1'='1", "needs a number"),
        ("reason > completed", "needs a number"),
        ("state < COMPLETE", "state takes = or !="),
        ("f1 > 0.5,", "an empty clause"),
        ("f1 > \x00", "control characters"),
        ("x" * 10_000, "longer than"),
        ("🙂 = 1", "cannot read"),
    ],
)
def test_bad_filters_name_the_clause_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=None) as caught:
        parse_filter(text, COLUMNS)
    assert message in str(caught.value)
    assert str(caught.value).startswith("filter: ")


def test_sorting_orders_numbers_and_puts_missing_and_nan_last_both_ways() -> None:
    up = [r["number"] for r in sort_rows(ROWS, "loss")]
    down = [r["number"] for r in sort_rows(ROWS, "loss", descending=True)]
    assert up[:2] == [0, 3] and down[:2] == [3, 0]
    assert set(up[2:]) == set(down[2:]) == {1, 2}  # None and NaN last either way
    assert (
        math.isnan(sort_rows(ROWS, "loss")[-1]["loss"])
        or sort_rows(ROWS, "loss")[-1]["loss"] is None
    )
    assert [r["number"] for r in sort_rows(ROWS, "f1", descending=True)] == [2, 0, 3, 1]
    assert [r["number"] for r in sort_rows(ROWS, "train_batch_size")] == [
        0,
        3,
        1,
        2,
    ]  # ties keep order


def test_aliases_name_columns_and_clauses_keep_the_columns_own_name() -> None:
    aliases = {"lr": "learning_rate", "batch": "train_batch_size", "acc": "accuracy"}
    parsed = parse_filter("lr <= 3e-5, batch = 16", COLUMNS, aliases)
    assert [r["number"] for r in parsed.apply(ROWS)] == [0, 3]
    assert [str(c) for c in parsed.clauses] == ["learning_rate <= 3e-05", "train_batch_size = 16.0"]
    assert parse_filter("learning_rate <= 3e-5", COLUMNS, aliases) == parse_filter(
        "lr <= 3e-5", COLUMNS, aliases
    )
    with pytest.raises(FilterError) as caught:  # an alias of a column not shown is no name
        parse_filter("acc > 0.5", COLUMNS, aliases)
    assert "no column 'acc'" in str(caught.value)
    with pytest.raises(FilterError) as caught:
        parse_filter("LR > 0.5", COLUMNS, aliases)
    assert "did you mean 'lr'?" in str(caught.value)
