"""The start-workers dialog: how many (or how many per GPU), trials in total, which device.

The total defaults to what the study needs (a grid's points x seeds, else what it already
counts, at least 10), and a line under it says what that total would do: how many trials
are left, or that the study already has them and the total must be raised (nothing is
started then: a worker would quit at once). A second line says which GPUs this host has
and whether CUDA MPS is in use, for "N per GPU".
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from hptui.core.errors import HptuiError
from hptui.core.workers.totals import DEFAULT_TOTAL, StudyTotals

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services


class StartWorkersScreen(ReportsWorkerErrors, ModalScreen[int]):
    """Starts N detached workers for a study (or N on every GPU); they outlive the console."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]

    def __init__(self, study: str, default_trials: int | None = None) -> None:
        super().__init__()
        self.study = study
        self.default_trials = default_trials
        self.initial_trials = str(default_trials or DEFAULT_TOTAL)
        self.totals: StudyTotals | None = None
        self.gpu_count = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):  # scrolls at 80x24
            yield Static(f"Start workers for study {self.study!r}", markup=False)
            yield Label("How many workers")
            yield Input("1", id="count", type="integer")
            yield Label("Or N per GPU, on every visible GPU (blank: the number above)")
            yield Input("", id="per-gpu", type="integer")
            yield Label("Trials in total (across all workers)")
            yield Input(self.initial_trials, id="trials", type="integer")
            yield Static("", id="trials-note", classes="dialog-hint", markup=False)
            yield Label("Device (auto, cpu, cuda, cuda:N)")
            yield Input("auto", id="device")
            yield Static("looking for GPUs...", id="gpu-line", classes="dialog-hint", markup=False)
            yield Static("", id="start-error", classes="error", markup=False)
            yield Static("enter or ctrl+s: start   escape: cancel", classes="dialog-hint")
        yield Footer()

    def on_mount(self) -> None:
        self._load_totals()
        self._load_gpus()

    @work(thread=True, exclusive=True, group="start-totals", exit_on_error=False)
    def _load_totals(self) -> None:
        from hptui.core.workers.totals import study_totals

        try:
            totals = study_totals(services(self).store.url, self.study)
        except Exception:  # the note stays empty; starting says what is wrong
            return
        self.app.call_from_thread(self._show_totals, totals)

    def _show_totals(self, totals: StudyTotals) -> None:
        self.totals = totals
        field = self.query_one("#trials", Input)
        if self.default_trials is None and field.value == self.initial_trials:
            field.value = str(totals.default_total())  # untouched: the study's own total
        self._update_note()

    @work(thread=True, exclusive=True, group="start-gpus", exit_on_error=False)
    def _load_gpus(self) -> None:
        from hptui.core.workers.placement import host_line, mps_status, visible_gpus

        try:
            gpus = visible_gpus()
            line = host_line(gpus, mps_status())
        except Exception as exc:
            gpus, line = [], f"GPUs: could not look ({error_line(exc)})"
        self.app.call_from_thread(self._show_gpus, len(gpus), line)

    def _show_gpus(self, count: int, line: str) -> None:
        self.gpu_count = count
        self.query_one("#gpu-line", Static).update(line)

    @on(Input.Changed, "#trials")
    def _update_note(self) -> None:
        note = self.query_one("#trials-note", Static)
        try:
            total = int(self.query_one("#trials", Input).value)
        except ValueError:
            note.update("")
            return
        note.update(self.totals.note(total) if self.totals is not None and total >= 1 else "")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(0)

    def action_start(self) -> None:
        error = self.query_one("#start-error", Static)
        per_gpu_text = self.query_one("#per-gpu", Input).value.strip()
        try:
            count = int(self.query_one("#count", Input).value)
            trials = int(self.query_one("#trials", Input).value)
            per_gpu = int(per_gpu_text) if per_gpu_text else None
        except ValueError:
            error.update("how many, per GPU and trials must be whole numbers")
            return
        device = self.query_one("#device", Input).value.strip()
        if not 1 <= count <= 64:
            error.update("how many: between 1 and 64 workers")
            return
        if per_gpu is not None and not 1 <= per_gpu <= 64:
            error.update("per GPU: between 1 and 64 workers, or blank")
            return
        if trials < 1:
            error.update("trials: at least 1")
            return
        if self.totals is not None and not self.totals.has_work(trials):
            error.update(f"nothing to start: {self.totals.note(trials)}")
            return
        error.update("starting...")
        self._start(count, trials, None if device in ("", "auto") else device, per_gpu)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _start(self, count: int, trials: int, device: str | None, per_gpu: int | None) -> None:
        app = self.app
        given = services(self)
        options = {"per_gpu": per_gpu} if per_gpu is not None else {}
        try:
            started = given.store.start_workers(
                self.study, count, trials, device=device, data_dir=given.data_dir, **options
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
