"""The final-test dialog: retrain the trial under the cursor K times and score each retrain
on the held-out test split, in a detached `hptui final` process."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Input, Label, Static

from hptui.core.errors import HptuiError

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services

DEFAULT_SEEDS = 3


class FinalTestScreen(ReportsWorkerErrors, ModalScreen[bool]):
    """Says what will happen, takes K, starts the process; dismisses True once started."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]

    def __init__(self, study: str, number: int, seed: int | None = None) -> None:
        super().__init__()
        self.study = study
        self.number = number
        self.seed = seed

    def compose(self) -> ComposeResult:
        own = f"its own seed {self.seed} first" if self.seed is not None else "its own seed first"
        with Vertical(classes="dialog"):
            yield Static(f"Final test of trial {self.number} of {self.study!r}", markup=False)
            yield Static(
                f"Retrains the trial's configuration K times ({own}, then the next ones) on "
                "the train split, in a detached process, and scores each retrain once on the "
                "held-out test split (MRPC's test.tsv). The test set is looked at once: run "
                "it on the trial you have chosen, not to choose one. Results are stored "
                "apart from the trials and never steer the study.",
                markup=False,
                id="final-what",
            )
            yield Label("Seeds in total (K)")
            yield Input(str(DEFAULT_SEEDS), id="final-seeds", type="integer")
            yield Checkbox(
                "again: test although another trial of this study was tested", id="final-again"
            )
            yield Static("", id="final-error", classes="error", markup=False)
            yield Static("enter or ctrl+s: start   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_start(self) -> None:
        error = self.query_one("#final-error", Static)
        text = self.query_one("#final-seeds", Input).value.strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            error.update("seeds: a whole number from 1 to 100")
            return
        error.update("starting...")
        self._start(int(text), self.query_one("#final-again", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, name="start the final test")
    def _start(self, seeds: int, again: bool) -> None:
        app = self.app
        given = services(self)
        say = self.query_one("#final-error", Static).update
        try:
            started = given.store.start_final_test(
                self.study, self.number, seeds, again=again, data_dir=given.data_dir
            )
        except HptuiError as exc:
            app.call_from_thread(say, str(exc))
            return
        except Exception as exc:  # said under the form, never lost
            app.call_from_thread(say, error_line(exc))
            return
        app.call_from_thread(
            app.notify,
            f"final test of trial {self.number} started: pid {started.pid}, log {started.log_path}",
            markup=False,
        )
        app.call_from_thread(self.dismiss, True)
