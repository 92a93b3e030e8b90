"""The trials tab's rows: flat trials from the core, formatted once, sorted and filtered
through `hptui.core.studies.filters` (no SQL here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hptui.core.studies.columns import ColumnTable
from hptui.core.studies.filters import TrialFilter
from hptui.core.studies.reader import TrialRow
from hptui.core.studies.replicates import recorded_seed
from hptui.core.views.groups import GroupedView

from ...format import cell, number, short

METRIC_COLUMNS = ("accuracy", "f1", "loss")
TAIL_COLUMNS = ("duration_s", "reason")


@dataclass(frozen=True)
class GridColumn:
    key: str
    label: str
    numeric: bool


@dataclass
class Prepared:
    """Rows read and formatted off the event loop, ready to merge into the model."""

    columns: list[GridColumn] | None
    params: list[str] | None
    rows: dict[int, dict[str, Any]]
    cells: dict[int, tuple[str, ...]]
    widths: list[int]


class TrialsModel:
    """Every trial of a study as a flat dict, plus its cells as text, by trial number.

    `prepare` runs in a thread worker (it formats, and only reads the model); `apply` runs on
    the event loop and only merges, so a key press never waits for 10,000 rows to format.
    """

    def __init__(self) -> None:
        self.params: list[str] = []
        # Objective-value columns of a study another tool made (set before the first prepare).
        self.values: list[str] = []
        self.rows: dict[int, dict[str, Any]] = {}
        self.cells: dict[int, tuple[str, ...]] = {}
        self.columns: list[GridColumn] = []
        self.widths: list[int] = []
        # Each trial's state as text, kept up to date by `apply` (the grid colours by it; a
        # sort or a filter changes no state, so nothing rebuilds it for them).
        self.states: dict[int, str] = {}
        self._order: list[int] = []
        # The rows as columns for filter and sort (built when first asked, then updated in
        # place as rows change): 100,000 rows filter and sort in milliseconds.
        self._table: ColumnTable | None = None

    @staticmethod
    def columns_for(names: Sequence[str], values: Sequence[str] = ()) -> list[GridColumn]:
        return [
            GridColumn("number", "#", True),
            GridColumn("state", "state", False),
            *(GridColumn(name, name, True) for name in values),
            *(GridColumn(name, short(name), True) for name in names),
            *(GridColumn(name, short(name), True) for name in METRIC_COLUMNS),
            GridColumn("duration_s", "secs", True),
            GridColumn("reason", "reason", False),
        ]

    def prepare(
        self, names: Sequence[str] | None, trials: Iterable[TrialRow], now: datetime
    ) -> Prepared:
        """Flatten and format trials (thread-safe: reads the model, writes nothing).
        A running trial's duration counts to `now`."""
        new_columns = None
        params = self.params
        if names is not None and (list(names) != self.params or not self.columns):
            params = list(names)
            new_columns = self.columns_for(params, self.values)
        columns = new_columns or self.columns
        widths = [len(c.label) for c in columns]
        rows: dict[int, dict[str, Any]] = {}
        cells: dict[int, tuple[str, ...]] = {}
        for trial in trials:
            row = trial.flat(params, (*METRIC_COLUMNS, "precision", "recall"), self.values)
            if trial.completed is None and trial.started is not None:
                row["duration_s"] = round((now - trial.started).total_seconds(), 3)
            if getattr(trial, "lost", False):
                row["state"] = "LOST"
            row["seed"] = recorded_seed(trial.user_attrs)  # what replicates differ in
            row["_trial_id"] = trial.trial_id
            row["_user_attrs"] = trial.user_attrs
            rows[trial.number] = row
            cells[trial.number] = _format(columns, row, widths)
        return Prepared(new_columns, params if new_columns else None, rows, cells, widths)

    def apply(self, prepared: Prepared) -> int:
        """Merge prepared rows (event loop); returns how many changed."""
        if prepared.columns is not None:
            self.columns = prepared.columns
            self.params = prepared.params or []
            self.widths = [len(c.label) for c in self.columns]
            if self.rows:  # new columns: the rows already here need new cells
                widths = list(self.widths)
                self.cells = {n: _format(self.columns, r, widths) for n, r in self.rows.items()}
                self.widths = widths
        changed: list[int] = []
        new: list[int] = []
        for trial_number, row in prepared.rows.items():
            known = self.rows.get(trial_number)
            if known != row:
                changed.append(trial_number)
                if known is None:
                    new.append(trial_number)
                self.rows[trial_number] = row
                self.cells[trial_number] = prepared.cells[trial_number]
                self.states[trial_number] = str(row.get("state"))
        self.widths = [max(a, b) for a, b in zip(self.widths, prepared.widths, strict=False)]
        if prepared.columns is not None:
            self._order, self._table = sorted(self.rows), None
        elif changed:
            new.sort()
            if new and self._order and new[0] < self._order[-1]:
                self._order = sorted(self.rows)  # a number in the middle: rare
            else:
                self._order.extend(new)
            if self._table is not None and (len(changed) > 1000 or not self._table.update(changed)):
                self._table = None  # many changes: build again when next asked
        return len(changed)

    def column_names(self) -> list[str]:
        """The names a filter may use: every column plus precision and recall."""
        return [c.key for c in self.columns] + ["precision", "recall"]

    def column_aliases(self) -> dict[str, str]:
        """The header's labels as other names for their columns (`lr` for learning_rate):
        a person filters by what the header shows."""
        names = [*self.columns, GridColumn("precision", short("precision"), True)]
        return {c.label: c.key for c in names if c.label != c.key}

    def view(self, trial_filter: TrialFilter, sort: str | None, descending: bool) -> list[int]:
        """Trial numbers to show, filtered then sorted (number order by default); missing
        values and NaN sort last either way."""
        if not trial_filter and not sort:
            return list(self._order)
        if self._table is None:
            self._table = ColumnTable(self._order, self.rows)
        return self._table.view(trial_filter, sort, descending)

    def export_rows(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Full-precision rows, in view order, without the console's private keys."""
        return [{k: v for k, v in self.rows[n].items() if not k.startswith("_")} for n in numbers]


GroupedCells = tuple[list[GridColumn], list[int], dict[int, tuple[str, ...]]]


def grouped_cells(view: GroupedView) -> GroupedCells:
    """The grouped view's columns, widths and cells, formatted like the trials' rows
    (thread-safe: it only reads the view)."""
    columns = [GridColumn(c.key, short(c.key), c.numeric) for c in view.columns]
    widths = [len(c.label) for c in columns]
    cells = {n: _format(columns, view.rows[n], widths) for n in view.numbers}
    return columns, widths, cells


def _format(
    columns: Sequence[GridColumn], row: dict[str, Any], widths: list[int]
) -> tuple[str, ...]:
    """A row's cells as text; widens `widths` to fit them."""
    texts = []
    for index, column in enumerate(columns):
        value = row.get(column.key)
        if column.key == "duration_s" and isinstance(value, float):
            value = round(value)
        text = number(value) if column.numeric else cell(value or "")
        if column.key == "reason":
            text = text[:60]
        texts.append(text)
        if len(text) > widths[index]:
            widths[index] = len(text)
    return tuple(texts)
