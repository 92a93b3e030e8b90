"""Messages that travel up the console's widget tree (attributes go down)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.worker import Worker, WorkerState

from hptui.core.errors import HptuiError, first_line


@dataclass
class ActionFailed(Message):
    """A read or an action failed: shown in one place (the app's handler), never a crash."""

    what: str
    error: str


class ReportsWorkerErrors:
    """Mixin for the screens and widgets that run thread workers: a worker that ends in an
    error becomes one `ActionFailed`, which bubbles to the app and is shown there (a
    worker's own state message does not bubble, and an error must never vanish)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        if isinstance(error, HptuiError):
            text = first_line(error)
        else:
            text = f"internal error ({type(error).__name__}: {first_line(error)})"
        event.worker.node.post_message(ActionFailed(event.worker.name or "reading", text))
