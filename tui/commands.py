"""Every key of the current screen as a command: the command palette's provider, and the
list the `?` screen and the footer choice are read from.

The palette held only Textual's system commands, so "export" or "start workers" found
nothing. `ScreenCommands` offers each hptui binding of the screen the palette was opened on:
its focused widget and that widget's parents (a tab's pane), the screen itself and the app,
including the keys hidden from the footer. Picking one runs its action on the node that
declares it, exactly as its key would.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen

GENERIC = "Moving around and editing"


@dataclass(frozen=True)
class KeyCommand:
    """One binding where it is active: the key as shown, what it does, where it lives."""

    key: str
    description: str
    action: str
    node: DOMNode
    group: str  # the widget, screen or app that declares it, in words
    ours: bool  # declared by hptui (not one of Textual's generic cursor and scroll keys)
    enabled: bool
    shown: bool  # in the footer


def key_commands(screen: Screen[object]) -> list[KeyCommand]:
    """The bindings of `screen`, nearest first: the focused widget and its parents, then
    the screen, then the app; each (key, action) once. A key that a widget binds and the
    screen binds too appears for both when they differ (a table's enter selects the row,
    which the screen turns into "open study")."""
    app = screen.app
    seen: set[tuple[str, str]] = set()
    found: list[KeyCommand] = []
    for node, bindings in _chain(screen):
        for key, binding in bindings:
            if not binding.description or (key, binding.action) in seen:
                continue
            seen.add((key, binding.action))
            state = _action_state(app, binding.action, node)
            if state is False:
                continue  # the node says the action does not exist here
            found.append(
                KeyCommand(
                    key=app.get_key_display(binding),
                    description=binding.description,
                    action=binding.action,
                    node=node,
                    group=group_name(node, screen),
                    ours=declared_by_hptui(node, binding),
                    enabled=bool(state),
                    shown=binding.show,
                )
            )
    return found


def _chain(screen: Screen[object]) -> Iterable[tuple[DOMNode, Iterable[tuple[str, Binding]]]]:
    chain = getattr(screen, "_modal_binding_chain", None)
    if chain is not None:
        yield from chain
        return
    for active in screen.active_bindings.values():  # a later Textual without the chain
        yield active.node, [(active.binding.key, active.binding)]


def _action_state(app: object, action: str, node: DOMNode) -> bool | None:
    check = getattr(app, "_check_action_state", None)
    return True if check is None else check(action, node)


def declared_by_hptui(node: DOMNode, binding: Binding) -> bool:
    """Whether an hptui class (not a Textual base class) declares this binding."""
    for cls in type(node).__mro__:
        declared = cls.__dict__.get("BINDINGS")
        if not declared:
            continue
        for item in declared:
            same = isinstance(item, Binding) and item.action == binding.action
            if same and binding.key in item.key.split(","):
                return cls.__module__.startswith("hptui")
    return False


def group_name(node: DOMNode, screen: Screen[object]) -> str:
    """The heading a binding is listed under: "Trials pane", "This screen", "Everywhere"."""
    if node is screen:
        return "This screen"
    if node is screen.app:
        return "Everywhere"
    named = getattr(node, "HELP_GROUP", None)
    if isinstance(named, str):
        return named
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", type(node).__name__)
    return " ".join(words).capitalize() or "Widget"


class ScreenCommands(Provider):
    """The palette's commands: every hptui binding of the screen it was opened on."""

    def _commands(self) -> list[KeyCommand]:
        return [c for c in key_commands(self.screen) if c.ours and c.enabled]

    def _run(self, command: KeyCommand) -> partial[Coroutine[Any, Any, bool]]:
        return partial(self.app.run_action, command.action, command.node)

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(
                f"{command.description}  ({command.key})",
                self._run(command),
                help=f"{command.group}: key {command.key}",
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            text = f"{command.description}  ({command.key})"
            score = matcher.match(command.description)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    self._run(command),
                    text=text,
                    help=f"{command.group}: key {command.key}",
                )
