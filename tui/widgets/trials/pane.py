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
from ..polling import Poller
from ..space.inputs import FormInput
from .grid import TrialsGrid
from .model import GroupedCells, Prepared, TrialsModel, grouped_cells

REFRESH_SECONDS = 2.0


class FilterInput(FormInput):
    """The filter box: escape goes back to the table (not back to the studies); its
    editing keys (ctrl+u...) act in typing order (FormInput)."""

    BINDINGS = [Binding("escape", "leave", "Back to the table")]

    def action_leave(self) -> None:
        self.post_message(self.Submitted(self, self.value))


class TrialsPane(ReportsWorkerErrors, Vertical):
    """Reads the study in thread workers: a first page at once, then all, then changes."""

    BINDINGS = [
        # The footer keeps the keys a newcomer needs first (so `e Export` and `? Help` fit at
        # 80 columns); every key is in `?` and the command palette.
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "sort", "Sort (again: reverse)", show=False),
        Binding("space", "mark", "Mark"),
        Binding("enter", "details", "Details"),
        Binding("c", "compare", "Compare"),
        Binding("b", "baseline", "Baseline", show=False),
        Binding("x", "exclude", "Exclude"),
        Binding("e", "export", "Export"),
        Binding("T", "final_test", "Final test", show=False),
        Binding("R", "replicate", "Replicate", show=False),
        Binding("g", "group", "Group by configuration", show=False),
        Binding("u", "clear_marks", "Clear marks", show=False),
        Binding("N", "note", "Note", show=False),
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
        self.poller: Poller | None = None  # made when the tab is first shown

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="press / to filter, e.g.  f1 > 0.85, state = COMPLETE",
            id="trials-filter",
        )
        yield Static("", id="filter-error", classes="error", markup=False)
        yield TrialsGrid(id="trials-grid")
        yield Static("reading...", id="trials-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#filter-error").display = False

    def on_show(self) -> None:
        """Read the study when the tab is first shown, not while the live tab loads; shown
        again, read what changed meanwhile at once (a hidden tab does not poll)."""
        if not self._started:
            self._started = True
            self.timings["shown"] = time.perf_counter()
            seconds = max(REFRESH_SECONDS, services(self).refresh_seconds)
            self.poller = Poller(self, self.load, seconds)
            self.poller.start()
        elif self.poller is not None:
            self.poller.resume()

    def on_hide(self) -> None:
        if self.poller is not None:
            self.poller.pause()

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
        found = False
        for update in self._feed.poll():
            found = True
            if update.value_names:
                self.model.values = list(update.value_names)
            prepared = self.model.prepare(update.param_names, update.rows, now)
            self.app.call_from_thread(self._apply, prepared, update.marks, update.complete)
        if self.poller is not None:
            self.app.call_from_thread(self.poller.found, found)  # nothing new: back off

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
        grid.set_rows(
            self.model.columns,
            self.model.widths,
            self.visible_numbers,
            self.model.cells,
            self.model.states,  # kept by the model: a sort or a filter rebuilds no map
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
                parts.append(f"{len(self.marked)} marked (u: clear)")
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
            self.trial_filter = parse_filter(
                event.value, self.model.column_names(), self.model.column_aliases()
            )
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
    @on(TrialsGrid.HeaderClicked)
    def _header_clicked(self) -> None:
        """A click on a header sorts by that column; a second click reverses (as `s`)."""
        self.action_sort()

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
        targets = sorted(self.marked) or ([current] if current is not None else [])
        if not targets:
            return
        exclude = not all(n in self.marks.excluded for n in targets)
        from ...screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._write_marks("exclude", (targets, exclude))

        question = exclude_question(targets, exclude, bool(self.marked))
        self.app.push_screen(ConfirmScreen(question), answered)

    def action_clear_marks(self) -> None:
        """Unmark every marked trial (the marks x, c and R act on)."""
        if not self.marked:
            self.notify("no trial is marked (space marks the one under the cursor)")
            return
        count = len(self.marked)
        self.marked = set()
        self.query_one(TrialsGrid).set_marks(self.marked, self.marks.baseline, self.marks.excluded)
        self._status()
        self.notify(f"{count} mark(s) cleared")

    def action_note(self) -> None:
        """A one-line note on the trial under the cursor, stored in the study."""
        if self._grouped_refuses("noted per trial"):
            return
        number = self.query_one(TrialsGrid).current_number
        if number is not None:
            self._open_note(number)

    @work(thread=True, group="trials-note", exit_on_error=False, name="read the note")
    def _open_note(self, number: int) -> None:
        note = services(self).store.notes(self.study).get(number)
        self.app.call_from_thread(self._edit_note, number, note)

    def _edit_note(self, number: int, note: str | None) -> None:
        from ...screens.trial_note import TrialNoteScreen

        def saved(text: str | None) -> None:
            if text is not None:
                said = f"note on trial {number}: {text}" if text else "note cleared"
                self.notify(said if text else f"trial {number}: {said}", markup=False)

        self.app.push_screen(TrialNoteScreen(self.study, number, note), saved)

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
            shown = ", ".join(f"#{n}" for n in numbers[:20]) + (" ..." if len(numbers) > 20 else "")
            text = f"trial(s) {shown} {verb} analysis (kept in the study)"
        self.app.call_from_thread(self._marks_written, marks, text)

    def _marks_written(self, marks: Marks, text: str) -> None:
        self.marks = marks
        self.query_one(TrialsGrid).set_marks(self.marked, marks.baseline, marks.excluded)
        self._status()
        self.notify(text, markup=False)

    def action_export(self) -> None:
        rows = self.model.export_rows(self.visible_numbers)
        if self.grouping and self.groups is not None:  # grouped: the configurations, as shown
            rows = self.groups.export_rows(self.query_one(TrialsGrid).numbers)
        else:
            numbers = list(self.visible_numbers)
            self._export_with_notes(rows, numbers)  # the notes are read fresh, in a thread
            return
        from ...screens.export import ExportScreen

        self.app.push_screen(ExportScreen(self.study, rows))

    @work(thread=True, group="trials-export", exit_on_error=False, name="read the notes")
    def _export_with_notes(self, rows: list[dict[str, Any]], numbers: list[int]) -> None:
        notes = services(self).store.notes(self.study)
        for row, trial_number in zip(rows, numbers, strict=True):
            row["note"] = notes.get(trial_number)
        self.app.call_from_thread(self._push_export, rows)

    def _push_export(self, rows: list[dict[str, Any]]) -> None:
        from ...screens.export import ExportScreen

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


def exclude_question(numbers: list[int], exclude: bool, marked: bool) -> str:
    """What x is about to do, naming the trials: the marked ones when any are marked."""
    shown = ", ".join(f"#{n}" for n in numbers[:20]) + (" ..." if len(numbers) > 20 else "")
    which = f"the {len(numbers)} marked trial(s)" if marked else "the trial under the cursor"
    if exclude:
        return (
            f"Exclude {which} from analysis: {shown}?\n"
            "They stay in the study, the table and the exports; x again includes them."
        )
    return f"Include {which} in analysis again: {shown}?"
