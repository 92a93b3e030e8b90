"""Messages that travel up the console's widget tree (attributes go down)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class ActionFailed(Message):
    """A read or an action failed: shown in one place, never a crash."""

    what: str
    error: str
