"""The start-workers dialog: how many, how many trials in total, on which device."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from hptui.core.errors import HptuiError

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services


class StartWorkersScreen(ReportsWorkerErrors, ModalScreen[int]):
    """Starts N detached workers for a study; they outlive the console."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]

    def __init__(self, study: str, default_trials: int | None = None) -> None:
        super().__init__()
        self.study = study
        self.default_trials = default_trials

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Start workers for study {self.study!r}", markup=False)
            yield Label("How many workers")
            yield Input("1", id="count", type="integer")
            yield Label("Trials in total (across all workers)")
            yield Input(str(self.default_trials or 10), id="trials", type="integer")
            yield Label("Device (auto, cpu, cuda, cuda:N)")
            yield Input("auto", id="device")
            yield Static("", id="start-error", classes="error", markup=False)
            yield Static("enter or ctrl+s: start   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(0)

    def action_start(self) -> None:
        error = self.query_one("#start-error", Static)
        try:
            count = int(self.query_one("#count", Input).value)
            trials = int(self.query_one("#trials", Input).value)
        except ValueError:
            error.update("how many and trials must be whole numbers")
            return
        device = self.query_one("#device", Input).value.strip()
        if not 1 <= count <= 64:
            error.update("how many: between 1 and 64 workers")
            return
        if trials < 1:
            error.update("trials: at least 1")
            return
        error.update("starting...")
        self._start(count, trials, None if device in ("", "auto") else device)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _start(self, count: int, trials: int, device: str | None) -> None:
        app = self.app
        given = services(self)
        try:
            started = given.store.start_workers(
                self.study, count, trials, device=device, data_dir=given.data_dir
            )
        except HptuiError as exc:
            app.call_from_thread(self.query_one("#start-error", Static).update, str(exc))
            return
        except Exception as exc:  # said under the form, never lost
            app.call_from_thread(self.query_one("#start-error", Static).update, error_line(exc))
            return
        pids = ", ".join(str(w.pid) for w in started)
        app.call_from_thread(app.notify, f"started {len(started)} worker(s): pid {pids}")
        app.call_from_thread(self.dismiss, len(started))
