"""The replicate dialog: how many seeds to queue for the chosen trials."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from hptui.core.errors import HptuiError
from hptui.core.studies.replicates import ReplicatePlan, check_seed_count

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services

DEFAULT_SEEDS = 3


class ReplicateScreen(ReportsWorkerErrors, ModalScreen[int]):
    """Queues K seed replicates of each chosen trial through the Store; dismisses with how
    many trials were queued (0 when cancelled). Refusals are shown under the field."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "queue", "Queue replicates"),
    ]

    def __init__(self, study: str, numbers: list[int]) -> None:
        super().__init__()
        self.study = study
        self.numbers = numbers

    def compose(self) -> ComposeResult:
        trials = ", ".join(f"#{n}" for n in self.numbers)
        with Vertical(classes="dialog"):
            yield Static(
                f"Seed replicates of trial(s) {trials} in {self.study!r}: the same "
                "parameters, training seeds not yet used by their configuration",
                markup=False,
            )
            yield Label("Seeds per trial (1-100)")
            yield Input(str(DEFAULT_SEEDS), id="replicate-seeds")
            yield Static("", id="replicate-error", classes="error", markup=False)
            yield Static("enter or ctrl+s: queue   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Changed, "#replicate-seeds")
    def _changed(self, event: Input.Changed) -> None:
        error = self.query_one("#replicate-error", Static)
        try:
            check_seed_count(event.value, "seeds")
        except HptuiError as exc:
            error.update(str(exc))
            return
        error.update("")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_queue()

    def action_cancel(self) -> None:
        self.dismiss(0)

    def action_queue(self) -> None:
        error = self.query_one("#replicate-error", Static)
        try:
            seeds = check_seed_count(self.query_one("#replicate-seeds", Input).value, "seeds")
        except HptuiError as exc:
            error.update(str(exc))
            return
        error.update("queueing...")
        self._queue(seeds)

    @work(thread=True, exclusive=True, exit_on_error=False, name="queue replicates")
    def _queue(self, seeds: int) -> None:
        app = self.app
        try:
            plans = services(self).store.replicate(self.study, self.numbers, seeds)
        except HptuiError as exc:
            app.call_from_thread(self.query_one("#replicate-error", Static).update, str(exc))
            return
        except Exception as exc:  # said under the field, never lost
            app.call_from_thread(self.query_one("#replicate-error", Static).update, error_line(exc))
            return
        app.call_from_thread(app.notify, queued_text(plans), markup=False)
        app.call_from_thread(self.dismiss, sum(len(plan.seeds) for plan in plans))


def queued_text(plans: list[ReplicatePlan]) -> str:
    """`queued 6 seed replicate(s): #3 seeds 43, 44, 45; #5 seeds 43, 44, 45`."""
    total = sum(len(plan.seeds) for plan in plans)
    parts = [f"#{p.number} seeds {', '.join(str(s) for s in p.seeds)}" for p in plans]
    return f"queued {total} seed replicate(s): " + "; ".join(parts)
