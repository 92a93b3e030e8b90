"""The home screen: every study in the storage, and the workers training them."""

from __future__ import annotations

import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from hptui.core.errors import HptuiError
from hptui.core.studies.store import Store

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.studies.tables import StudiesTable, WorkersTable


class StudiesScreen(ReportsWorkerErrors, Screen[None]):
    """Studies with their counts, best value and rate; workers with their heartbeats."""

    BINDINGS = [
        Binding("enter", "open_study", "Open study"),
        Binding("w", "start_workers", "Start workers"),
        Binding("x", "stop_worker", "Stop worker"),
        Binding("n", "new_study", "New study"),
        Binding("o", "open_storage", "Open storage"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._reading = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="studies-body"):
            yield Static("", id="storage-problem")
            yield Static("Studies  (enter: open)", classes="section-title")
            yield StudiesTable(id="studies")
            yield Static("Workers  (x: stop the highlighted one)", classes="section-title")
            yield WorkersTable(id="workers")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#storage-problem").display = False
        self.refresh_data()
        # Once a second (never more often than the app's refresh: tests slow it to a stop).
        self.set_interval(max(1.0, services(self).refresh_seconds), self.refresh_data)

    @work(thread=True, group="studies", exit_on_error=False)
    def refresh_data(self) -> None:
        if not self._reading.acquire(blocking=False):
            return  # the last read is still running: skip this tick
        try:
            self._refresh_data()
        finally:
            self._reading.release()

    def _refresh_data(self) -> None:
        store = services(self).store
        try:
            studies = store.studies()
            rates = store.study_rates()
            workers = store.workers()
        except HptuiError as exc:
            self.app.call_from_thread(self._show_problem, str(exc))
            return
        except Exception as exc:  # a broken file: say so in one line, keep the console usable
            self.app.call_from_thread(self._show_problem, error_line(exc))
            return
        self.app.call_from_thread(self._show, studies, rates, workers)

    def _show(self, studies: list[Any], rates: dict[int, float], workers: list[Any]) -> None:
        problem = self.query_one("#storage-problem", Static)
        if not studies:
            problem.update(
                f"No studies in {services(self).store.label} yet.  "
                "Press n to create one, o to open another storage."
            )
            problem.display = True
        else:
            problem.display = False
        self.query_one(StudiesTable).show(studies, rates, workers)
        self.query_one(WorkersTable).show(workers, services(self).clock())

    def _show_problem(self, text: str) -> None:
        problem = self.query_one("#storage-problem", Static)
        problem.update(f"{text}\nPress o to open another storage, n to create a study here.")
        problem.display = True
        self.query_one(StudiesTable).show([], {}, [])
        self.query_one(WorkersTable).show([], 0.0)

    @on(DataTable.RowSelected, "#studies")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_study()

    def action_open_study(self) -> None:
        name = self.query_one(StudiesTable).current_study()
        if name is None:
            self.notify("no study to open: press n to create one", severity="warning")
            return
        from .study import StudyScreen

        self.app.push_screen(StudyScreen(name))

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_start_workers(self) -> None:
        name = self.query_one(StudiesTable).current_study()
        if name is None:
            self.notify("choose a study first (or press n to create one)", severity="warning")
            return
        from .start_workers import StartWorkersScreen

        self.app.push_screen(StartWorkersScreen(name))

    def action_stop_worker(self) -> None:
        worker = self.query_one(WorkersTable).current_worker()
        if worker is None:
            self.notify("no running worker to stop", severity="warning")
            return
        from .confirm import ConfirmScreen

        question = (
            f"Stop worker {worker.worker_id} (pid {worker.pid} on {worker.host})?\n"
            "Its trial ends as 'stopped from the console' and is retried once."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop_worker(worker.worker_id)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, group="actions", exit_on_error=False, name="stop worker")
    def _stop_worker(self, worker_id: int) -> None:
        services(self).store.request_stop(worker_id)
        self.app.call_from_thread(
            self.notify, f"stop requested: worker {worker_id} stops after its current step"
        )
        self.refresh_data()

    def action_new_study(self) -> None:
        from .new_study import NewStudyScreen

        def created(name: str | None) -> None:
            if name:
                self.refresh_data()
                from .start_workers import StartWorkersScreen

                self.app.push_screen(StartWorkersScreen(name))  # escape: start none now

        self.app.push_screen(NewStudyScreen(), created)

    def action_open_storage(self) -> None:
        from .open_storage import OpenStorageScreen

        def chosen(url: str | None) -> None:
            if url:
                given = services(self)
                given.store = Store(url)
                self.app.sub_title = given.store.label
                self.refresh_data()

        self.app.push_screen(OpenStorageScreen(), chosen)
