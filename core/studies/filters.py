"""Filtering and sorting flat trial rows, for the console and the CLI listings.

A filter is typed by a person: `state = COMPLETE, f1 > 0.85, learning_rate <= 1e-4`.
Clauses are joined by commas or `and`; each is `column op value` with op one of
`< <= > >= = == !=`, or `state` with a list (`state = COMPLETE|PRUNED`). The text is parsed
and checked against the columns there are, then applied to the rows in Python: it never
reaches SQL, so a hostile string is only ever a filter that fails to parse.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hptui.core.errors import HptuiError

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "!=": operator.ne,
    "==": operator.eq,
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
_SPLIT = re.compile(r"\s*,\s*|\s+and\s+", re.IGNORECASE)
MAX_FILTER_LENGTH = 1000


class FilterError(HptuiError, ValueError):
    """A filter that does not parse, names no column, or compares text with a number."""


@dataclass(frozen=True)
class Clause:
    column: str
    op: str
    value: float | str | tuple[str, ...]

    def matches(self, row: dict[str, Any]) -> bool:
        cell = row.get(self.column)
        if isinstance(self.value, tuple):  # a list of states: membership
            found = str(cell).upper() in self.value
            return found if self.op != "!=" else not found
        if isinstance(self.value, float):
            number = _number(cell)
            if number is None or math.isnan(number):
                return False  # a missing metric satisfies no comparison
            return OPERATORS[self.op](number, self.value)
        if cell is None:
            return self.op == "!="
        return OPERATORS[self.op](str(cell).lower(), self.value.lower())

    def __str__(self) -> str:
        value = "|".join(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.column} {self.op} {value}"


@dataclass(frozen=True)
class TrialFilter:
    """A parsed filter: every clause must hold."""

    clauses: tuple[Clause, ...] = ()

    def apply(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.clauses:
            return list(rows)
        return [row for row in rows if all(c.matches(row) for c in self.clauses)]

    def __bool__(self) -> bool:
        return bool(self.clauses)


def parse_filter(
    text: str, columns: Sequence[str], aliases: Mapping[str, str] | None = None
) -> TrialFilter:
    """Parse a filter typed by a person, checking each column name against `columns`.

    `aliases` maps other names a person may use (the console's header labels: `lr` for
    `learning_rate`) to column names; a clause keeps the column's own name.
    Raises FilterError naming the clause and what would fix it.
    """
    text = text.strip()
    if not text:
        return TrialFilter()
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter: longer than {MAX_FILTER_LENGTH} characters")
    if any(ord(ch) < 32 for ch in text):
        raise FilterError("filter: control characters are not allowed")
    clauses = []
    for part in _SPLIT.split(text):
        if not part:
            raise FilterError("filter: an empty clause; write `column op value, ...`")
        clauses.append(_parse_clause(part, columns, aliases or {}))
    return TrialFilter(tuple(clauses))


def _parse_clause(part: str, columns: Sequence[str], aliases: Mapping[str, str]) -> Clause:
    match = _CLAUSE.match(part)
    if match is None:
        raise FilterError(
            f"filter: cannot read {part!r}; write `column op value` with op one of "
            "< <= > >= = !=, e.g. `f1 > 0.85` or `state = COMPLETE`"
        )
    column, op, raw = match.groups()
    if column not in columns and aliases.get(column) in columns:
        column = aliases[column]
    if column not in columns:
        names = [*columns, *(a for a, c in aliases.items() if a not in columns and c in columns)]
        close = [c for c in names if c.lower() == column.lower() or column.lower() in c.lower()]
        hint = f"; did you mean {close[0]!r}?" if close else f"; columns: {', '.join(columns)}"
        raise FilterError(f"filter: no column {column!r}{hint}")
    raw = raw.strip().strip("'\"")
    if column == "state":
        if op not in ("=", "==", "!="):
            raise FilterError(f"filter: state takes = or != (got {op!r})")
        return Clause(column, op, tuple(s.strip().upper() for s in raw.split("|") if s.strip()))
    number = _number(raw)
    if number is not None:
        return Clause(column, op, number)
    if op not in ("=", "==", "!="):
        raise FilterError(
            f"filter: {column} {op} needs a number (got {raw!r}); text takes only = or !="
        )
    return Clause(column, op, raw)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def sort_key(column: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    """A key that orders numbers numerically, then text, with missing values and NaN last
    (in either direction: see `sort_rows`)."""

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        value = row.get(column)
        number = _number(value) if not isinstance(value, str) else None
        if number is not None and not math.isnan(number):
            return (0, number)
        if isinstance(value, str):
            return (1, value.lower())
        return (2, 0)

    return key


def sort_rows(
    rows: Sequence[dict[str, Any]], column: str | None, descending: bool = False
) -> list[dict[str, Any]]:
    """Rows sorted by `column`, ties in trial-number order; missing values and NaN last."""
    if not column:
        return list(rows)
    key = sort_key(column)
    keyed = [(key(row), row) for row in rows]
    present = [item for item in keyed if item[0][0] < 2]
    missing = [row for k, row in keyed if k[0] == 2]
    present.sort(key=lambda item: item[0], reverse=descending)
    return [row for _, row in present] + missing
