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
from hptui.core.views.workers import WorkersFeed, WorkersUpdate, finished_well, state_line

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.studies.tables import StudiesTable, WorkersTable


class StudiesScreen(ReportsWorkerErrors, Screen[None]):
    """Studies with their counts, best value and rate; workers with their heartbeats, and
    the exited ones with why they exited (l reads a worker's log)."""

    CSS_PATH = "studies.tcss"
    BINDINGS = [
        Binding("enter", "open_study", "Open study"),
        Binding("w", "start_workers", "Start workers"),
        Binding("l", "worker_log", "Worker log"),
        Binding("x", "stop_worker", "Stop worker", show=False),
        Binding("n", "new_study", "New study"),
        Binding("o", "open_storage", "Open storage", show=False),
        Binding("h", "toggle_exited", "Hide/show exited workers", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._reading = threading.Lock()
        self._feed: WorkersFeed | None = None
        self._show_exited = True

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="studies-body"):
            yield Static("", id="storage-problem")
            yield Static("Studies  (enter: open)", classes="section-title")
            yield StudiesTable(id="studies")
            yield Static(
                "Workers  (l: its log  x: stop it  h: hide/show exited)", classes="section-title"
            )
            yield WorkersTable(id="workers")
            yield Static("", id="worker-state", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#storage-problem").display = False
        self.refresh_data()
        # Once a second (never more often than the app's refresh: tests slow it to a stop).
        self.set_interval(max(1.0, services(self).refresh_seconds), self.refresh_data)

    def on_screen_resume(self) -> None:
        self.refresh_data()  # back from a study: its counts at once, not a tick later

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
        feed = self._feed
        if feed is None or feed.store is not store:
            feed = self._feed = WorkersFeed(store)
        feed.show_exited = self._show_exited
        if self.app.screen is not self:  # (is_current is also true just under the top screen)
            # Under a study's screen: only the registry (cheap), to say when a worker
            # exits; the studies' counts wait until this screen shows again.
            try:
                update = feed.poll()
            except Exception:
                return  # said when this screen shows again
            if update.newly_exited:
                self.app.call_from_thread(self._say_exits, update)
            return
        try:
            studies = store.studies()
            rates = store.study_rates()
            workers = feed.poll()
        except HptuiError as exc:
            self.app.call_from_thread(self._show_problem, str(exc))
            return
        except Exception as exc:  # a broken file: say so in one line, keep the console usable
            self.app.call_from_thread(self._show_problem, error_line(exc))
            return
        self.app.call_from_thread(self._show, studies, rates, workers)

    def _show(self, studies: list[Any], rates: dict[int, float], workers: WorkersUpdate) -> None:
        problem = self.query_one("#storage-problem", Static)
        if not studies:
            problem.update(
                f"No studies in {services(self).store.label} yet.  "
                "Press n to create one, o to open another storage."
            )
            problem.display = True
        else:
            problem.display = False
        self.query_one(StudiesTable).show(studies, rates, list(workers.live))
        self.query_one(WorkersTable).show(list(workers.workers), services(self).clock())
        self._hidden = workers.exited_hidden
        self._show_worker_state()
        self._say_exits(workers)

    def _say_exits(self, update: WorkersUpdate) -> None:
        """A worker that exits says so, wherever the console is (its reason; `l` on the
        home screen opens its log)."""
        for worker in update.newly_exited:
            well = finished_well(worker)
            self.app.notify(
                f"worker {worker.worker_id} ({worker.study_name}, {worker.host}) "
                f"{state_line(worker)}" + ("" if well else "  (home screen, l: its log)"),
                severity="information" if well else "error",
                timeout=8 if well else 30,
                markup=False,
            )

    @on(DataTable.RowHighlighted, "#workers")
    def _show_worker_state(self) -> None:
        """The highlighted worker's whole state line (an exit reason is often longer than
        its column), and how many exited workers are not listed."""
        line = self.query_one("#worker-state", Static)
        worker = self.query_one(WorkersTable).current_worker()
        hidden = getattr(self, "_hidden", 0)
        parts = []
        if worker is not None:
            parts.append(f"worker {worker.worker_id}: {state_line(worker)}")
        if hidden:
            which = "exited" if not self._show_exited else "older exited"
            how = "; h: show" if not self._show_exited else ""
            parts.append(f"({hidden} {which} worker{'s' * (hidden > 1)} not listed{how})")
        line.update("  ".join(parts))
        line.display = bool(parts)

    def _show_problem(self, text: str) -> None:
        problem = self.query_one("#storage-problem", Static)
        problem.update(f"{text}\nPress o to open another storage, n to create a study here.")
        problem.display = True
        self.query_one(StudiesTable).show([], {}, [])
        self.query_one(WorkersTable).show([], 0.0)

    @on(DataTable.RowSelected, "#studies")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_study()

    @on(DataTable.RowSelected, "#workers")
    def _worker_selected(self, event: DataTable.RowSelected) -> None:
        self.action_worker_log()

    def action_worker_log(self) -> None:
        worker = self.query_one(WorkersTable).current_worker()
        if worker is None:
            self.notify("no worker to show: press w to start some", severity="warning")
            return
        from .worker_log import WorkerLogScreen

        self.app.push_screen(WorkerLogScreen(worker))

    def action_toggle_exited(self) -> None:
        self._show_exited = not self._show_exited
        self.notify("exited workers " + ("shown" if self._show_exited else "hidden"))
        self.refresh_data()

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
        if worker is None or worker.status == "exited":
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
