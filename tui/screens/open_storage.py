"""Open another storage: a SQLite file or a database URL."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static


class OpenStorageScreen(ModalScreen[str]):
    """Dismisses with a storage URL (a plain path becomes sqlite:///path)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Open a storage: a SQLite file (runs.db) or a database URL")
            yield Input(placeholder="runs.db.example or postgresql://...", id="storage")
            yield Static("", id="open-error", classes="error", markup=False)
            yield Static("enter: open   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#open-error", Static).update("type a file name or a URL")
            return
        if "://" not in text:
            path = Path(text).expanduser()
            if not path.is_file():
                self.query_one("#open-error", Static).update(f"no file {path}")
                return
            text = f"sqlite:///{path}"
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss("")
