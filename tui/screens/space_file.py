"""Asks for the path of a TOML search-space file (to load or to save)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static


class SpaceFileScreen(ModalScreen[str]):
    """Dismisses with the path typed, or an empty string."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, path: str = "space.toml") -> None:
        super().__init__()
        self.title_text = title
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, markup=False)
            yield Input(self.path, id="space-path")
            yield Static("enter: go   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")
