"""A trial's note: one line typed in a small dialog, checked as typed, stored on enter."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from hptui.core.errors import HptuiError
from hptui.core.studies.notes import MAX_NOTE, clean_note

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.space.inputs import FormInput


class TrialNoteScreen(ReportsWorkerErrors, ModalScreen[str | None]):
    """Dismisses with the stored note ("" when cleared), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, study: str, number: int, note: str | None) -> None:
        super().__init__()
        self.study = study
        self.number = number
        self.note = note or ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Note on trial {self.number} of {self.study!r}", markup=False)
            yield FormInput(
                self.note,
                placeholder="e.g. diverged after epoch 1 (empty: no note)",
                max_length=MAX_NOTE,
                id="note-text",
            )
            yield Static("", id="note-error", classes="error", markup=False)
            yield Static(
                f"enter: save (one line, at most {MAX_NOTE} characters)   escape: cancel",
                classes="dialog-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#note-error").display = False
        self.query_one("#note-text", Input).focus()

    def _error(self, text: str) -> None:
        error = self.query_one("#note-error", Static)
        error.update(text)
        error.display = bool(text)

    @on(Input.Changed, "#note-text")
    def _changed(self, event: Input.Changed) -> None:
        try:
            clean_note(event.value)
        except HptuiError as exc:
            self._error(str(exc))
            return
        self._error("")

    @on(Input.Submitted, "#note-text")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            text = clean_note(event.value)
        except HptuiError as exc:
            self._error(str(exc))
            return
        self._save(text)

    @work(thread=True, exclusive=True, group="note", exit_on_error=False, name="save the note")
    def _save(self, text: str) -> None:
        app = self.app
        try:
            stored = services(self).store.set_note(self.study, self.number, text)
        except HptuiError as exc:
            app.call_from_thread(self._error, str(exc))
            return
        except Exception as exc:
            app.call_from_thread(self._error, error_line(exc))
            return
        app.call_from_thread(self.dismiss, stored or "")

    def action_cancel(self) -> None:
        self.dismiss(None)
