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
from textual.worker import get_current_worker

from hptui.core.errors import HptuiError
from hptui.core.studies.filters import FilterError, TrialFilter, parse_filter
from hptui.core.studies.marks import Marks
from hptui.core.views.groups import GroupedView, grouped_view
from hptui.core.views.trials import FIRST_PAGE, TrialsFeed

from ...format import error_line
from ...messages import ReportsWorkerErrors
from ...services import services
from .grid import TrialsGrid
from .model import GroupedCells, Prepared, TrialsModel, grouped_cells

REFRESH_SECONDS = 2.0


class FilterInput(Input):
    """The filter box: escape goes back to the table (not back to the studies)."""

    BINDINGS = [Binding("escape", "leave", "Back to the table")]

    def action_leave(self) -> None:
        self.post_message(self.Submitted(self, self.value))


class TrialsPane(ReportsWorkerErrors, Vertical):
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
        Binding("T", "final_test", "Final test", show=False),
        Binding("R", "replicate", "Replicate"),
        Binding("g", "group", "Group by configuration"),
    ]

    def __init__(self, study: str) -> None:
        super().__init__()
        self.study = study
        self.model = TrialsModel()
        self.trial_filter = TrialFilter()
        self.marks = Marks()
        self.marked: set[int] = set()
        self.visible_numbers: list[int] = []
        self._feed: TrialsFeed | None = None
        self._reading = threading.Lock()
        self.loaded = False
        self._started = False
        # When the tab was first shown, got its first rows and all of them (perf_counter):
        # what bench/tui_scale.py reports.
        self.timings: dict[str, float] = {}
        # Grouped by configuration (g): the grouped rows shown, else None; the study's
        # objective and direction, read when first grouping; the flat view's sort, kept.
        self.grouping = False
        self.groups: GroupedView | None = None
        self._objective: tuple[str, str] | None = None
        self._flat_sort: tuple[str | None, bool] = (None, False)

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
            seconds = max(REFRESH_SECONDS, services(self).refresh_seconds)
            self.set_interval(seconds, self.load)

    # -- reading (thread workers) --------------------------------------------------------
    @work(thread=True, group="trials-read", exit_on_error=False, name="read the trials")
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
        given = services(self)
        if self._feed is None:
            self._feed = TrialsFeed(given.store, self.study, FIRST_PAGE)
        now = datetime.fromtimestamp(given.clock())
        for update in self._feed.poll():
            prepared = self.model.prepare(update.param_names, update.rows, now)
            self.app.call_from_thread(self._apply, prepared, update.marks, update.complete)

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
        if self.grouping:
            self._show_groups(grid)
            return
        self.visible_numbers = self.model.view(self.trial_filter, grid.sort_key, grid.descending)
        states = {n: str(self.model.rows[n].get("state")) for n in self.visible_numbers}
        grid.set_rows(
            self.model.columns, self.model.widths, self.visible_numbers, self.model.cells, states
        )
        grid.set_marks(self.marked, self.marks.baseline, self.marks.excluded)
        self._status()

    def _status(self, text: str | None = None) -> None:
        if text is None and self.grouping:
            text = self._groups_status()
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
        if self._grouped_refuses("sorted by the objective's mean"):
            return
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
        self.app.push_screen(
            CompareScreen(
                self.study, rows, self.model.params,
                population=list(self.model.rows.values()), excluded=self.marks.excluded,
            )
        )  # fmt: skip

    def action_baseline(self) -> None:
        if self._grouped_refuses("marked per trial"):
            return
        number = self.query_one(TrialsGrid).current_number
        if number is None:
            return
        new = None if self.marks.baseline == number else number
        self._write_marks("baseline", new)

    def action_exclude(self) -> None:
        if self._grouped_refuses("marked per trial"):
            return
        grid = self.query_one(TrialsGrid)
        current = grid.current_number
        targets = set(self.marked) or ({current} if current is not None else set())
        if not targets:
            return
        exclude = not all(n in self.marks.excluded for n in targets)
        self._write_marks("exclude", (sorted(targets), exclude))

    @work(thread=True, group="marks", exit_on_error=False, name="mark trials")
    def _write_marks(self, kind: str, value: Any) -> None:
        store = services(self).store
        if kind == "baseline":
            marks = store.set_baseline(self.study, value)
            text = "baseline cleared" if value is None else f"trial {value} is the baseline"
        else:
            numbers, exclude = value
            marks = store.set_excluded(self.study, numbers, exclude)
            verb = "excluded from" if exclude else "included again in"
            text = f"{len(numbers)} trial(s) {verb} analysis (kept in the study)"
        self.app.call_from_thread(self._marks_written, marks, text)

    def _marks_written(self, marks: Marks, text: str) -> None:
        self.marks = marks
        self.query_one(TrialsGrid).set_marks(self.marked, marks.baseline, marks.excluded)
        self._status()
        self.notify(text, markup=False)

    def action_export(self) -> None:
        from ...screens.export import ExportScreen

        rows = self.model.export_rows(self.visible_numbers)
        if self.grouping and self.groups is not None:  # grouped: the configurations, as shown
            rows = self.groups.export_rows(self.query_one(TrialsGrid).numbers)
        self.app.push_screen(ExportScreen(self.study, rows))

    # -- the held-out test -----------------------------------------------------------------
    def action_final_test(self) -> None:
        """Retrain the trial under the cursor K times and score it on the test split (a
        detached process; the dialog says what happens and asks for K)."""
        number = self.query_one(TrialsGrid).current_number
        if number is None:
            return
        row = self.model.rows[number]
        state = str(row.get("state"))
        if state != "COMPLETE":
            self.notify(
                f"trial {number} is {state}: only a COMPLETE trial can be tested",
                severity="warning",
            )
            return
        from hptui.core.studies import attrs

        from ...screens.final_test import FinalTestScreen

        seed = row.get("_user_attrs", {}).get(attrs.SEED)
        self.app.push_screen(
            FinalTestScreen(self.study, number, seed if isinstance(seed, int) else None)
        )

    # -- seed replicates: grouped by configuration (g), replicate (R) ----------------------
    def action_group(self) -> None:
        """Toggle one row per configuration: n and mean ± sd per metric, best mean first."""
        if not self.grouping and self._objective is None:
            self._read_objective()  # once, in a thread; it toggles when read
            return
        self._toggle_groups()

    @work(thread=True, group="trials-objective", exit_on_error=False, name="read the objective")
    def _read_objective(self) -> None:
        settings = services(self).store.settings(self.study)
        objective = (settings.objective, settings.direction) if settings else ("f1", "maximize")
        self.app.call_from_thread(self._got_objective, objective)

    def _got_objective(self, objective: tuple[str, str]) -> None:
        self._objective = objective
        self._toggle_groups()

    def _toggle_groups(self) -> None:
        grid = self.query_one(TrialsGrid)
        if self.grouping:
            self.grouping, self.groups = False, None
            self.workers.cancel_group(self, "trials-group")
            grid.sort_key, grid.descending = self._flat_sort
        else:
            assert self._objective is not None
            self._flat_sort = (grid.sort_key, grid.descending)
            objective, direction = self._objective
            grid.sort_key, grid.descending = objective, direction == "maximize"
            self.grouping = True
        self._refresh_view()

    def _show_groups(self, grid: TrialsGrid) -> None:
        """Group the trials the filter lets through, again whenever they change: in a
        thread (10,000 trials take a fifth of a second), the last grouping shown meanwhile."""
        self.visible_numbers = self.model.view(self.trial_filter, None, False)
        rows = [self.model.rows[n] for n in self.visible_numbers]
        self._group(rows, list(self.model.params), frozenset(self.marks.excluded))
        self._status()

    @work(thread=True, exclusive=True, group="trials-group", exit_on_error=False,
          name="group the trials")  # fmt: skip
    def _group(
        self, rows: list[dict[str, Any]], params: list[str], excluded: frozenset[int]
    ) -> None:
        assert self._objective is not None
        objective, direction = self._objective
        view = grouped_view(
            self.study, rows, params, objective=objective, direction=direction, exclude=excluded
        )
        cells = grouped_cells(view)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._groups_ready, view, cells)

    def _groups_ready(self, view: GroupedView, cells: GroupedCells) -> None:
        if not self.grouping:
            return
        self.groups = view
        columns, widths, by_number = cells
        grid = self.query_one(TrialsGrid)
        grid.set_rows(columns, widths, list(view.numbers), by_number, {})
        grid.set_marks(self.marked, None, frozenset())
        self._status()

    def _groups_status(self) -> str:
        if self.groups is None:
            return "grouping..."
        text = self.groups.status()
        if self.trial_filter:
            text = "filter: " + ", ".join(str(c) for c in self.trial_filter.clauses) + "; " + text
        return text + (f"   {len(self.marked)} marked" if self.marked else "")

    def _grouped_refuses(self, why: str) -> bool:
        if not self.grouping:
            return False
        self.notify(f"grouped rows are {why}: press g for the trials", severity="warning")
        return True

    def action_replicate(self) -> None:
        """Queue seed replicates of the marked trials (or the one under the cursor); in the
        grouped view, of a COMPLETE trial of each marked configuration."""
        current = self.query_one(TrialsGrid).current_number
        targets = sorted(self.marked) or ([current] if current is not None else [])
        if self.grouping and self.groups is not None:
            groups = self.groups
            targets = [
                found
                for n in targets
                if (found := groups.replicable(n) if n in groups.groups else n) is not None
            ]
        if not targets:
            self.notify("no trial to replicate: move to one, or mark some", severity="warning")
            return
        from ...screens.replicate import ReplicateScreen

        def queued(count: int | None) -> None:
            if count:
                self.load()  # the queued trials show at once, as WAITING

        self.app.push_screen(ReplicateScreen(self.study, targets), queued)
