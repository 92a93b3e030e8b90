"""The `?` screen: every key of the screen below it, from its bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static


class HelpScreen(ModalScreen[None]):
    """Lists the active bindings (the same ones the footer and command palette show)."""

    BINDINGS = [
        Binding("escape", "dismiss_help", "Close"),
        Binding("question_mark", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static("Keys", classes="section-title")
            yield DataTable(id="keys", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("key", "does")
        seen = set()
        for binding in _bindings(self.below):
            if binding.description and (binding.key, binding.description) not in seen:
                seen.add((binding.key, binding.description))
                table.add_row(self.app.get_key_display(binding), binding.description)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


def _bindings(screen: Screen[object]) -> list[Binding]:
    """The bindings active on `screen`: its focused widget's, its own and the app's."""
    return [active.binding for active in screen.active_bindings.values()]
