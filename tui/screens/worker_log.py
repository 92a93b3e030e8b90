"""One worker's log in the console: its last lines, followed while the worker runs.

Why a worker stopped used to be only in its log file; here the state line says it (the
registry's exit reason) and the log's tail shows the rest. Reads go through
`hptui.core.views.workers.LogTail` in a thread worker, a few times a second while the worker
runs and never again once it has exited and its log is read to the end.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static

from hptui.core.views.workers import LogTail, LogUpdate, state_line

from ..messages import ReportsWorkerErrors
from ..services import services

FOLLOW_SECONDS = 0.5


class WorkerLogScreen(ReportsWorkerErrors, Screen[None]):
    """The worker's state and where its log is, then the log's tail (end: follow again)."""

    CSS_PATH = "worker_log.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "follow", "Follow the end"),
        Binding("r", "refresh", "Read again"),
    ]

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker
        self._tail: LogTail | None = None
        self._reading = threading.Lock()
        self._done = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="log-state", markup=False)
        yield Static("", id="log-where", markup=False)
        # Wrapped, so a long error line reads whole at 80 columns; never markup.
        yield RichLog(id="log-lines", max_lines=2000, wrap=True, min_width=20, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        worker = self.worker
        self.sub_title = f"worker {worker.worker_id} ({worker.study_name})"
        self._show_state(worker)
        self.query_one(RichLog).focus()
        self.read_log()
        self.set_interval(max(FOLLOW_SECONDS, services(self).refresh_seconds), self._tick)

    def _tick(self) -> None:
        if not self._done:
            self.read_log()

    @work(thread=True, group="worker-log", exit_on_error=False, name="reading the log")
    def read_log(self) -> None:
        if not self._reading.acquire(blocking=False):
            return  # the last read is still running
        try:
            if self._tail is None:
                self._tail = LogTail(services(self).store, self.worker)
            update = self._tail.poll()
            self.app.call_from_thread(self._show, update, self._tail.worker)
        finally:
            self._reading.release()

    def _show_state(self, worker: Any) -> None:
        self.query_one("#log-state", Static).update(
            f"worker {worker.worker_id} on {worker.host} (pid {worker.pid}), "
            f"study {worker.study_name}: {state_line(worker)}"
        )

    def _show(self, update: LogUpdate, worker: Any) -> None:
        self.worker = worker
        self._show_state(worker)
        where = self.query_one("#log-where", Static)
        where.update(update.note or f"log: {update.where}")
        log = self.query_one(RichLog)
        if update.reset:
            log.clear()
        if update.lines:
            log.write(Text("\n".join(update.lines)))
        if not update.running:
            self._done = True  # exited: its log is read to the end, nothing more comes

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_follow(self) -> None:
        log = self.query_one(RichLog)
        log.auto_scroll = True
        log.scroll_end(animate=False)

    def action_refresh(self) -> None:
        self._done = False
        self.read_log()
