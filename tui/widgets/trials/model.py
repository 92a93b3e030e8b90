"""The trials tab's rows: flat trials from the core, formatted once, sorted and filtered
through `hptui.core.filters` (no SQL here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hptui.core.filters import TrialFilter, sort_rows
from hptui.core.read import TrialRow

from ...format import cell, number, short

METRIC_COLUMNS = ("accuracy", "f1", "loss")
TAIL_COLUMNS = ("duration_s", "reason")


@dataclass(frozen=True)
class GridColumn:
    key: str
    label: str
    numeric: bool


class TrialsModel:
    """Every trial of a study as a flat dict, plus its cells as text, by trial number."""

    def __init__(self) -> None:
        self.params: list[str] = []
        self.rows: dict[int, dict[str, Any]] = {}
        self.cells: dict[int, tuple[str, ...]] = {}
        self.columns: list[GridColumn] = []
        self.widths: list[int] = []

    def set_params(self, names: Sequence[str]) -> None:
        if list(names) == self.params and self.columns:
            return
        self.params = list(names)
        self.columns = [
            GridColumn("number", "#", True),
            GridColumn("state", "state", False),
            *(GridColumn(name, short(name), True) for name in self.params),
            *(GridColumn(name, short(name), True) for name in METRIC_COLUMNS),
            GridColumn("duration_s", "secs", True),
            GridColumn("reason", "reason", False),
        ]
        self.widths = [len(c.label) for c in self.columns]
        self.cells = {}
        for trial_number, row in self.rows.items():
            self._format(trial_number, row)

    def update(self, trials: Iterable[TrialRow], now: datetime) -> int:
        """Add or replace trials; returns how many changed. A running trial's duration
        counts to `now`."""
        changed = 0
        for trial in trials:
            row = trial.flat(self.params, (*METRIC_COLUMNS, "precision", "recall"))
            if trial.completed is None and trial.started is not None:
                row["duration_s"] = round((now - trial.started).total_seconds(), 3)
            if getattr(trial, "lost", False):
                row["state"] = "LOST"
            row["_trial_id"] = trial.trial_id
            row["_user_attrs"] = trial.user_attrs
            if self.rows.get(trial.number) != row:
                self.rows[trial.number] = row
                self._format(trial.number, row)
                changed += 1
        return changed

    def _format(self, trial_number: int, row: dict[str, Any]) -> None:
        texts = []
        for index, column in enumerate(self.columns):
            value = row.get(column.key)
            if column.key == "duration_s" and isinstance(value, float):
                value = round(value)
            text = number(value) if column.numeric else cell(value or "")
            if column.key == "reason":
                text = text[:60]
            texts.append(text)
            if len(text) > self.widths[index]:
                self.widths[index] = len(text)
        self.cells[trial_number] = tuple(texts)

    def column_names(self) -> list[str]:
        """The names a filter may use: every column plus precision and recall."""
        return [c.key for c in self.columns] + ["precision", "recall"]

    def view(self, trial_filter: TrialFilter, sort: str | None, descending: bool) -> list[int]:
        """Trial numbers to show, filtered then sorted (number order by default)."""
        rows = [self.rows[n] for n in sorted(self.rows)]
        rows = trial_filter.apply(rows)
        rows = sort_rows(rows, sort, descending) if sort else rows
        return [int(row["number"]) for row in rows]

    def export_rows(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Full-precision rows, in view order, without the console's private keys."""
        return [{k: v for k, v in self.rows[n].items() if not k.startswith("_")} for n in numbers]
