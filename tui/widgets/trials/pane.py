"""The trials tab: every trial in a virtualised table, with filter, sort, marks, export."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from hptui.core.errors import HptuiError
from hptui.core.filters import FilterError, TrialFilter, parse_filter
from hptui.core.marks import Marks
from hptui.core.read import TrialCursor

from ...format import error_line
from .grid import TrialsGrid
from .model import Prepared, TrialsModel

FIRST_PAGE = 200
REFRESH_SECONDS = 2.0


class FilterInput(Input):
    """The filter box: escape goes back to the table (not back to the studies)."""

    BINDINGS = [Binding("escape", "leave", "Back to the table")]

    def action_leave(self) -> None:
        self.post_message(self.Submitted(self, self.value))


class TrialsPane(Vertical):
    """Reads the study in thread workers: a first page at once, then all, then changes."""

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "sort", "Sort (again: reverse)"),
        Binding("space", "mark", "Mark"),
        Binding("enter", "details", "Details"),
        Binding("c", "compare", "Compare marked"),
        Binding("b", "baseline", "Baseline"),
        Binding("x", "exclude", "Exclude/include"),
        Binding("e", "export", "Export"),
    ]

    def __init__(self, study: str) -> None:
        super().__init__()
        self.study = study
        self.model = TrialsModel()
        self.trial_filter = TrialFilter()
        self.marks = Marks()
        self.marked: set[int] = set()
        self.visible_numbers: list[int] = []
        self._cursor: TrialCursor | None = None
        self._reading = threading.Lock()
        self.loaded = False
        self._started = False
        # When the tab was first shown, got its first rows and all of them (perf_counter):
        # what bench/tui_scale.py reports.
        self.timings: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="filter: state = COMPLETE, f1 > 0.85, learning_rate <= 1e-4  (/)",
            id="trials-filter",
        )
        yield Static("", id="filter-error", classes="error", markup=False)
        yield TrialsGrid(id="trials-grid")
        yield Static("reading...", id="trials-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#filter-error").display = False

    def on_show(self) -> None:
        """Read the study when the tab is first shown, not while the live tab loads."""
        if not self._started:
            self._started = True
            self.timings["shown"] = time.perf_counter()
            self.load()
            seconds = max(REFRESH_SECONDS, self.app.refresh_seconds)  # type: ignore[attr-defined]
            self.set_interval(seconds, self.load)

    # -- reading (thread workers) --------------------------------------------------------
    @work(thread=True, group="trials-read", exit_on_error=False)
    def load(self) -> None:
        if not self._reading.acquire(blocking=False):
            return
        try:
            self._load()
        except HptuiError as exc:
            self.app.call_from_thread(self._status, f"cannot read the study: {exc}")
        except Exception as exc:
            self.app.call_from_thread(self._status, f"cannot read: {error_line(exc)}")
        finally:
            self._reading.release()

    def _load(self) -> None:
        from hptui.core.marks import load_marks
        from hptui.core.read_light import current_cursor, first_trials, study_settings

        app = self.app
        reader = app.reader()  # type: ignore[attr-defined]
        now = datetime.fromtimestamp(app.clock())  # type: ignore[attr-defined]
        if self._cursor is None:
            settings = study_settings(reader, self.study)
            names = settings.space.names if settings else None
            first = first_trials(reader, self.study, FIRST_PAGE)
            marks = load_marks(reader.url, self.study, reader)
            guess = names or sorted({k for row in first for k in row.params})
            app.call_from_thread(self._apply, self.model.prepare(guess, first, now), marks, False)
            cursor = current_cursor(reader, self.study)  # before the read: nothing is missed
            rows = reader.trials(self.study)
            names = names or sorted({k for row in rows for k in row.params})
            prepared = self.model.prepare(names, rows, now)
            self._cursor = cursor
            app.call_from_thread(self._apply, prepared, marks, True)
            return
        changed, self._cursor = reader.trial_changes(self.study, self._cursor)
        marks = load_marks(reader.url, self.study, reader)
        if changed or marks != self.marks:
            app.call_from_thread(self._apply, self.model.prepare(None, changed, now), marks, True)

    # -- showing (event loop) ------------------------------------------------------------
    def _apply(self, prepared: Prepared, marks: Marks, full: bool) -> None:
        self.model.apply(prepared)
        self.marks = marks
        self.loaded = self.loaded or full
        self._refresh_view()
        self.timings.setdefault("first_rows", time.perf_counter())
        if full:
            self.timings.setdefault("all_rows", time.perf_counter())

    def _refresh_view(self) -> None:
        grid = self.query_one(TrialsGrid)
        self.visible_numbers = self.model.view(self.trial_filter, grid.sort_key, grid.descending)
        states = {n: str(self.model.rows[n].get("state")) for n in self.visible_numbers}
        grid.set_rows(
            self.model.columns, self.model.widths, self.visible_numbers, self.model.cells, states
        )
        grid.set_marks(self.marked, self.marks.baseline, self.marks.excluded)
        self._status()

    def _status(self, text: str | None = None) -> None:
        if text is None:
            total = len(self.model.rows)
            parts = [
                f"{len(self.visible_numbers)} of {total} trial(s)" + ("" if self.loaded else "...")
            ]
            if self.trial_filter:
                parts.append("filter: " + ", ".join(str(c) for c in self.trial_filter.clauses))
            grid = self.query_one(TrialsGrid)
            if grid.sort_key:
                parts.append(f"sorted by {grid.sort_key}{' desc' if grid.descending else ''}")
            if self.marked:
                parts.append(f"{len(self.marked)} marked")
            if self.marks.baseline is not None:
                parts.append(f"baseline #{self.marks.baseline}")
            if self.marks.excluded:
                parts.append(f"{len(self.marks.excluded)} excluded")
            text = "   ".join(parts)
        self.query_one("#trials-status", Static).update(text)

    # -- filter --------------------------------------------------------------------------
    @on(Input.Changed, "#trials-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        error = self.query_one("#filter-error", Static)
        try:
            self.trial_filter = parse_filter(event.value, self.model.column_names())
        except FilterError as exc:
            error.update(str(exc))
            error.display = True
            return
        error.display = False
        self._refresh_view()

    @on(Input.Submitted, "#trials-filter")
    def _filter_submitted(self) -> None:
        self.query_one(TrialsGrid).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#trials-filter", Input).focus()

    # -- actions on rows -----------------------------------------------------------------
    def action_sort(self) -> None:
        grid = self.query_one(TrialsGrid)
        column = grid.current_column
        if column is None:
            return
        if grid.sort_key == column.key:
            grid.descending = not grid.descending
        else:
            grid.sort_key, grid.descending = column.key, False
        self._refresh_view()

    def action_mark(self) -> None:
        grid = self.query_one(TrialsGrid)
        number = grid.current_number
        if number is None:
            return
        self.marked ^= {number}
        grid.set_marks(self.marked, self.marks.baseline, self.marks.excluded)
        grid.action_move(1)
        self._status()

    def action_details(self) -> None:
        number = self.query_one(TrialsGrid).current_number
        if number is None:
            return
        from ...screens.trial_detail import TrialDetailScreen

        row = self.model.rows[number]
        self.app.push_screen(TrialDetailScreen(self.study, row))

    def action_compare(self) -> None:
        numbers = sorted(self.marked)
        if len(numbers) < 2:
            self.notify("mark two or more trials with space, then press c", severity="warning")
            return
        from ...screens.compare import CompareScreen

        rows = [self.model.rows[n] for n in numbers if n in self.model.rows]
        self.app.push_screen(CompareScreen(self.study, rows, self.model.params))

    def action_baseline(self) -> None:
        number = self.query_one(TrialsGrid).current_number
        if number is None:
            return
        new = None if self.marks.baseline == number else number
        self._write_marks("baseline", new)

    def action_exclude(self) -> None:
        grid = self.query_one(TrialsGrid)
        current = grid.current_number
        targets = set(self.marked) or ({current} if current is not None else set())
        if not targets:
            return
        exclude = not all(n in self.marks.excluded for n in targets)
        self._write_marks("exclude", (sorted(targets), exclude))

    @work(thread=True, group="marks", exit_on_error=False)
    def _write_marks(self, kind: str, value: Any) -> None:
        from hptui.core.marks import set_baseline, set_excluded

        url = self.app.storage_url  # type: ignore[attr-defined]
        try:
            if kind == "baseline":
                marks = set_baseline(url, self.study, value)
                text = "baseline cleared" if value is None else f"trial {value} is the baseline"
            else:
                numbers, exclude = value
                marks = set_excluded(url, self.study, numbers, exclude)
                verb = "excluded from" if exclude else "included again in"
                text = f"{len(numbers)} trial(s) {verb} analysis (kept in the study)"
        except HptuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._marks_written, marks, text)

    def _marks_written(self, marks: Marks, text: str) -> None:
        self.marks = marks
        self.query_one(TrialsGrid).set_marks(self.marked, marks.baseline, marks.excluded)
        self._status()
        self.notify(text, markup=False)

    def action_export(self) -> None:
        from ...screens.export import ExportScreen

        rows = self.model.export_rows(self.visible_numbers)
        self.app.push_screen(ExportScreen(self.study, rows))
