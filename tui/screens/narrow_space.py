"""Confirm a new study over a narrower space: the question, then the space's TOML."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from .confirm import ConfirmScreen


class NarrowSpaceScreen(ConfirmScreen):
    """The analysis tab's "narrow space -> new study": y creates, n or escape does not.
    The TOML is what `hptui analyze --suggest-space` writes, scrollable on a small screen."""

    DEFAULT_CSS = """
    NarrowSpaceScreen #narrow-toml { height: auto; max-height: 14; border: round $primary; }
    """

    def __init__(self, question: str, toml: str) -> None:
        super().__init__(question)
        self.toml = toml

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False)
            with VerticalScroll(id="narrow-toml"):
                yield Static(self.toml, markup=False)
            yield Static("y: create   n: cancel", classes="dialog-hint")
        yield Footer()
