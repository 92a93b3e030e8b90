"""The studies screen's two tables."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ...format import cell, duration, number

STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


class StudiesTable(DataTable[Any]):
    """One row per study: settings, state counts, best value, rate and live workers."""

    COLUMNS = (
        ("study", "study"), ("objective", "objective"), ("sampler", "sampler"),
        *zip(STATES, ("run", "done", "prun", "fail", "wait"), strict=True),
        ("best", "best"), ("best_number", "#"), ("rate", "/h"), ("workers", "wkr"),
    )  # fmt: skip

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._set_columns([])

    def _set_columns(self, rows: list[list[str]]) -> None:
        """Columns as wide as their widest cell, set explicitly (DataTable's own widths
        follow the content a render late, and never shrink)."""
        self.clear(columns=True)
        for index, (key, label) in enumerate(self.COLUMNS):
            width = max([len(label), *(len(row[index]) for row in rows)])
            self.add_column(label, key=key, width=width)

    def show(self, studies: list[Any], rates: dict[int, float], workers: list[Any]) -> None:
        current = self.current_study()
        live: dict[str, int] = {}
        for worker in workers:
            if worker.status in ("alive", "stale", "stopping"):
                live[worker.study_name] = live.get(worker.study_name, 0) + 1
        rows = []
        for info in studies:
            settings = info.settings
            rows.append([
                cell(info.name),
                f"{settings.direction[:3]} {settings.objective}" if settings else "–",
                settings.sampler if settings else "–",
                *(str(info.counts.get(state, 0)) for state in STATES),
                number(info.best_value),
                number(info.best_number),
                number(round(rates[info.study_id], 1)) if info.study_id in rates else "–",
                str(live.get(info.name, 0)),
            ])  # fmt: skip
        self._set_columns(rows)
        for info, row in zip(studies, rows, strict=True):
            self.add_row(*(Text(text) for text in row), key=info.name)
        names = [info.name for info in studies]
        if current in names:
            self.move_cursor(row=names.index(current))

    def current_study(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return None if key.value is None else str(key.value)


class WorkersTable(DataTable[Any]):
    """One row per worker process: where it runs, what it trains, how recently it beat."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._workers: list[Any] = []
        for label in ("id", "study", "host", "pid", "device", "trial", "beat", "status"):
            self.add_column(label, key=label)

    def show(self, workers: list[Any], now: float) -> None:
        current = self.current_worker()
        self._workers = list(workers)
        self.clear()
        for worker in self._workers:
            status = Text(worker.status)
            if worker.status in ("stale", "gone"):
                status.stylize("bold")
            self.add_row(
                str(worker.worker_id),
                Text(cell(worker.study_name)),
                Text(cell(worker.host)),
                str(worker.pid),
                Text(cell(worker.device or "auto")),
                number(worker.trial_number),
                duration(worker.heartbeat_age(now)) + " ago",
                status,
                key=str(worker.worker_id),
            )
        if current is not None:
            ids = [w.worker_id for w in self._workers]
            if current.worker_id in ids:
                self.move_cursor(row=ids.index(current.worker_id))

    def current_worker(self) -> Any | None:
        workers = getattr(self, "_workers", [])
        if not workers or not 0 <= self.cursor_row < len(workers):
            return None
        return workers[self.cursor_row]
