"""The `?` screen: every key of the screen below it, grouped by where it works.

The screen's own keys come first, by group (the focused part of the screen, then the screen,
then everywhere), Textual's generic cursor and scroll keys last. The list is one table that
scrolls with its cursor, so its end is reachable at 80x24. The footer shows only the keys
used most; this screen lists them all (the ones the footer leaves out too).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from ..commands import GENERIC, KeyCommand, key_commands
from ..widgets.studies.tables import RowTable


class HelpScreen(ModalScreen[None]):
    """Lists the bindings of the screen below (the same ones the command palette offers)."""

    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape", "dismiss_help", "Close"),
        Binding("question_mark", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static("Keys  (up/down/pgdn: scroll  escape: close)", classes="section-title")
            yield RowTable(id="keys", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#keys", RowTable)
        table.add_columns("key", "does")
        for group, commands in grouped(key_commands(self.below)):
            table.add_row("", Text(group, style="bold"))
            for command in commands:
                does = Text(command.description)
                if not command.enabled:
                    does.append("  (not now)", style="dim")
                table.add_row(Text(command.key), does)
        table.focus()

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


def grouped(commands: list[KeyCommand]) -> list[tuple[str, list[KeyCommand]]]:
    """hptui's keys by group, nearest the focus first (a tab's pane, then the screen), then
    groups of cursor keys only, the keys that work everywhere, and Textual's generic keys in
    one group; a key and description listed once."""
    groups: dict[str, list[KeyCommand]] = {}
    seen: set[tuple[str, str]] = set()
    for command in commands:
        if (command.key, command.description) in seen:
            continue
        seen.add((command.key, command.description))
        if not command.ours and command.description in {c.description for c in commands if c.ours}:
            continue  # Textual's own ctrl+q "Quit" next to ours
        groups.setdefault(command.group if command.ours else GENERIC, []).append(command)
    # A group with no key in the footer (a table's cursor keys) goes after the rest.
    order = sorted(
        groups,
        key=lambda g: (
            g == GENERIC,
            g == "Everywhere",
            not any(command.shown for command in groups[g]),
        ),
    )
    return [(group, groups[group]) for group in order]
