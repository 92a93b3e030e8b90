"""Trial rows as per-column arrays, so a filter or a sort over 100,000 trials costs
milliseconds instead of a Python call per row.

`ColumnTable` holds the rows of a study in one fixed order (trial number) and builds, for a
column when first asked and then kept: its values, their numbers as a filter reads them, the
sort keys of `filters.sort_key` as two arrays, the text codes for `=`/`!=` on text, a mask
per filter clause and a full order per sort. A row that changes updates those arrays in
place, so a running study does not throw the caches away every poll. The results are
exactly those of `TrialFilter.apply` and `sort_rows` (tests/test_scale_model.py checks it on
random rows); numpy is imported when a table is first built, not with the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .filters import OPERATORS, Clause, TrialFilter, _number

if TYPE_CHECKING:
    import numpy as np

MISSING, NUMBER, TEXT = 2, 0, 1
_PLAIN = {float, int, type(None)}
MASKS_KEPT = 64  # clauses typed one key at a time make many: keep the recent ones


def _sort_entry(value: Any) -> tuple[int, float | str]:
    """`filters.sort_key` for one value: (kind, number or lowered text)."""
    number = _number(value) if not isinstance(value, str) else None
    if number is not None and not math.isnan(number):
        return NUMBER, number
    if isinstance(value, str):
        return TEXT, value.lower()
    return MISSING, 0.0


class _Column:
    """One column's arrays, each built when first needed."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.plain: bool | None = None  # only floats, ints and None: numpy converts directly
        self.numbers: np.ndarray | None = None  # filter numbers, NaN where none
        self.kind: np.ndarray | None = None  # sort: NUMBER, TEXT or MISSING
        self.key: np.ndarray | None = None  # sort: the number, or the text's rank
        self.codes: dict[str, tuple[np.ndarray, dict[str | None, int]]] = {}


class ColumnTable:
    """The rows of `numbers` (ascending) as columns; `rows` maps a number to its row."""

    def __init__(self, numbers: Sequence[int], rows: Mapping[int, dict[str, Any]]) -> None:
        import numpy as np

        self._np = np
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self._rows = rows
        self._position = {n: i for i, n in enumerate(numbers)}
        self._columns: dict[str, _Column] = {}
        self._masks: dict[Clause, np.ndarray] = {}
        self._orders: dict[tuple[str, bool], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.numbers)

    # -- keeping up with changed rows ----------------------------------------------------
    def update(self, numbers: Iterable[int]) -> bool:
        """Take these rows' new values (their row dicts in `rows` are already the new ones).
        Numbers past the last are appended; False when one would land in the middle (then
        build a new table)."""
        np = self._np
        changed = sorted(set(numbers))
        new = [n for n in changed if n not in self._position]
        if new and (len(self.numbers) and new[0] <= int(self.numbers[-1])):
            return False
        for n in new:
            self._position[n] = len(self._position)
        if new:
            self.numbers = np.concatenate([self.numbers, np.asarray(new, dtype=np.int64)])
        self._masks.clear()
        self._orders.clear()
        for name, column in list(self._columns.items()):
            if not self._update_column(name, column, changed, len(new)):
                del self._columns[name]
        return True

    def _update_column(self, name: str, column: _Column, changed: list[int], added: int) -> bool:
        np = self._np
        if added:
            column.values.extend([None] * added)
            grow = np.full(added, np.nan)
            if column.numbers is not None:
                column.numbers = np.concatenate([column.numbers, grow])
            if column.kind is not None and column.key is not None:
                column.kind = np.concatenate([column.kind, np.full(added, MISSING, np.int8)])
                column.key = np.concatenate([column.key, np.zeros(added)])
        column.codes.clear()
        for n in changed:
            i = self._position[n]
            value = self._rows[n].get(name)
            column.values[i] = value
            if type(value) not in _PLAIN:
                column.plain = False
            if column.numbers is not None:
                found = _number(value)
                column.numbers[i] = np.nan if found is None else found
            if column.kind is not None and column.key is not None:
                kind, key = _sort_entry(value)
                if kind == TEXT or column.kind[i] == TEXT:
                    column.kind = column.key = None  # text ranks shift: rebuild when asked
                else:
                    column.kind[i], column.key[i] = kind, key
        return True

    # -- columns -------------------------------------------------------------------------
    def _column(self, name: str) -> _Column:
        column = self._columns.get(name)
        if column is None:
            rows = self._rows
            values = [rows[n].get(name) for n in self._position]
            column = self._columns[name] = _Column(values)
        if column.plain is None:
            column.plain = set(map(type, column.values)) <= _PLAIN
        return column

    def _numbers(self, column: _Column) -> np.ndarray:
        """The column as a filter reads numbers (`filters._number`), NaN where none."""
        np = self._np
        if column.numbers is None:
            if column.plain:
                column.numbers = np.array(column.values, dtype=float)
            else:
                column.numbers = np.array(
                    [math.nan if (x := _number(v)) is None else x for v in column.values],
                    dtype=float,
                )
        return column.numbers

    def _sort_keys(self, column: _Column) -> tuple[np.ndarray, np.ndarray]:
        """(kind, key) per row: numbers by value, then texts by their lowered order."""
        np = self._np
        if column.kind is None or column.key is None:
            if column.plain:
                key = np.array(column.values, dtype=float)
                kind = np.where(np.isnan(key), MISSING, NUMBER).astype(np.int8)
                key[kind == MISSING] = 0.0
            else:
                entries = [_sort_entry(v) for v in column.values]
                texts = sorted({k for kind, k in entries if kind == TEXT})
                rank = {t: float(i) for i, t in enumerate(texts)}
                kind = np.array([e[0] for e in entries], dtype=np.int8)
                key = np.array(
                    [rank[k] if c == TEXT else k for c, k in entries],
                    dtype=float,
                )
            column.kind, column.key = kind, key
        return column.kind, column.key

    def _codes(self, column: _Column, case: str) -> tuple[np.ndarray, dict[str | None, int]]:
        """Each row's text (`str(value).upper()` or `.lower()`, None kept) as a small int."""
        found = column.codes.get(case)
        if found is None:
            index: dict[str | None, int] = {}
            if case == "upper":
                texts: list[str | None] = [str(v).upper() for v in column.values]
            else:
                texts = [None if v is None else str(v).lower() for v in column.values]
            codes = [index.setdefault(t, len(index)) for t in texts]
            found = column.codes[case] = (self._np.array(codes, dtype=self._np.int64), index)
        return found

    # -- filter and sort -----------------------------------------------------------------
    def mask(self, clause: Clause) -> np.ndarray:
        """Which rows `clause.matches`, as booleans in table order."""
        found = self._masks.get(clause)
        if found is not None:
            return found
        np = self._np
        column = self._column(clause.column)
        value = clause.value
        if isinstance(value, tuple):  # a list of states: membership
            codes, index = self._codes(column, "upper")
            wanted = [index[v] for v in value if v in index]
            result = np.isin(codes, wanted)
            if clause.op == "!=":
                result = ~result
        elif isinstance(value, float):
            numbers = self._numbers(column)
            with np.errstate(invalid="ignore"):
                result = OPERATORS[clause.op](numbers, value) & ~np.isnan(numbers)
        elif clause.op in ("=", "==", "!="):  # text: a missing value differs from every text
            codes, index = self._codes(column, "lower")
            result = codes == index.get(value.lower(), -1)
            if clause.op == "!=":
                result = ~result
        else:  # parse_filter allows only = and != on text; a hand-made clause still works
            result = np.array([clause.matches(self._rows[n]) for n in self._position], bool)
        if len(self._masks) >= MASKS_KEPT:
            self._masks.pop(next(iter(self._masks)))
        self._masks[clause] = result
        return result

    def order(self, name: str, descending: bool) -> np.ndarray:
        """Row positions sorted by `name` (ties in number order, missing and NaN last)."""
        found = self._orders.get((name, descending))
        if found is not None:
            return found
        np = self._np
        kind, key = self._sort_keys(self._column(name))
        present = np.flatnonzero(kind != MISSING)
        if descending:
            keys = (-key[present], -kind[present].astype(np.int64))
        else:
            keys = (key[present], kind[present])
        ordered = np.concatenate([present[np.lexsort(keys)], np.flatnonzero(kind == MISSING)])
        self._orders[(name, descending)] = ordered
        return ordered

    def view(self, trial_filter: TrialFilter, sort: str | None, descending: bool) -> list[int]:
        """The numbers `trial_filter` lets through, sorted by `sort` (number order without)."""
        keep: np.ndarray | None = None
        for clause in trial_filter.clauses:
            mask = self.mask(clause)
            keep = mask if keep is None else keep & mask
        if sort:
            positions = self.order(sort, descending)
            if keep is not None:
                positions = positions[keep[positions]]
            numbers: list[int] = self.numbers[positions].tolist()
            return numbers
        if keep is None:
            return list(self._position)
        selected: list[int] = self.numbers[keep].tolist()
        return selected
