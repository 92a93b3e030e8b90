"""What the console's screens and widgets are handed: the store and a few settings.

`services(node)` is the one typed way from any widget to them (no reaching up into the app
for untyped attributes): attributes down, messages up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.dom import DOMNode

from hptui.core.studies.store import Store


@dataclass
class Services:
    """The console's dependencies, built by `make_app` (the tests pass a fixed clock)."""

    store: Store
    refresh_seconds: float = 0.3
    data_dir: str | None = None
    clock: Callable[[], float] = field(default=time.time)


class NotInConsole(RuntimeError):
    """A widget was used outside an app made by `make_app`."""


def services(node: DOMNode) -> Services:
    """The services of the app `node` belongs to."""
    found = getattr(node.app, "services", None)
    if not isinstance(found, Services):
        raise NotInConsole(f"{type(node).__name__} needs an app made by hptui.tui.app.make_app")
    return found
