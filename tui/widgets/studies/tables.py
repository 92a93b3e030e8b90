"""The studies screen's two tables."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from hptui.core.views.workers import finished_well, state_line

from ...format import cell, duration, number

STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


class RowTable(DataTable[Any]):
    """A row-cursor table where Home and End go to the first and last row (DataTable's own
    Home and End scroll sideways, which on a row cursor looks like a dead key)."""

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]


class StudiesTable(RowTable):
    """One row per study: settings, state counts, best value, rate and live workers."""

    COLUMNS = (
        ("study", "study"),
        ("objective", "objective"),
        ("sampler", "sampler"),
        *zip(STATES, ("run", "done", "prun", "fail", "wait"), strict=True),
        ("best", "best"),
        ("best_number", "#"),
        ("rate", "/h"),
        ("workers", "wkr"),
    )
    # Left out, in this order, when the table is wider than the screen (at 80 columns the
    # last columns, the live workers among them, would scroll out of view): the sampler is
    # on the study's own screen, a pruned count is rare.
    NARROW_DROPS = ("sampler", "PRUNED")  # fmt: skip

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._set_columns([])

    def _set_columns(self, rows: list[list[str]]) -> list[int]:
        """Columns as wide as their widest cell, set explicitly (DataTable's own widths
        follow the content a render late, and never shrink); returns the indexes of the
        columns kept (see NARROW_DROPS)."""
        self.clear(columns=True)
        widths = [
            max([len(label), *(len(row[index]) for row in rows)])
            for index, (_key, label) in enumerate(self.COLUMNS)
        ]
        keys = [key for key, _label in self.COLUMNS]
        kept = list(range(len(self.COLUMNS)))
        room = self.size.width or self.app.size.width - 1
        for dropped in self.NARROW_DROPS:
            if sum(widths[i] + 2 * self.cell_padding for i in kept) <= room:
                break
            kept.remove(keys.index(dropped))
        for index in kept:
            key, label = self.COLUMNS[index]
            self.add_column(label, key=key, width=widths[index])
        return kept

    def on_resize(self) -> None:
        shown = getattr(self, "_shown", None)
        if shown is not None:
            self.show(*shown)

    def show(self, studies: list[Any], rates: dict[int, float], workers: list[Any]) -> None:
        self._shown = (studies, rates, workers)
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
        kept = self._set_columns(rows)
        for info, row in zip(studies, rows, strict=True):
            self.add_row(*(Text(row[i]) for i in kept), key=info.name)
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


class WorkersTable(RowTable):
    """One row per worker process: where it runs, what it trains, how recently it beat, and
    its state; an exited worker stays, with why it exited (the newest exited ones)."""

    COLUMNS = ("id", "study", "host", "pid", "device", "trial", "seen", "state")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._workers: list[Any] = []
        for label in self.COLUMNS:
            self.add_column(label, key=label)

    def show(self, workers: list[Any], now: float) -> None:
        current = self.current_worker()
        self._workers = list(workers)
        self.clear()
        for worker in self._workers:
            state = Text(state_line(worker))
            if worker.status in ("stale", "gone") or (
                worker.status == "exited" and not finished_well(worker)
            ):
                state.stylize("bold")
            self.add_row(
                str(worker.worker_id),
                Text(cell(worker.study_name)),
                Text(cell(worker.host)),
                str(worker.pid),
                Text(cell(worker.device or "auto")),
                number(worker.trial_number),
                duration(worker.heartbeat_age(now)) + " ago",
                state,
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
