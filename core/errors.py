"""Errors a user can act on: each names what was wrong and how to fix it."""

from __future__ import annotations


class HptuiError(Exception):
    """Base class for errors that front ends show as a message, not a traceback."""


class ConfigError(HptuiError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        label = key if len(key) <= 60 and key.isprintable() else shown(key)
        super().__init__(f"{label}: {message}")


class DataNotFoundError(HptuiError):
    """The dataset could be found neither in a local folder nor on the hub."""


class ModelNotFoundError(HptuiError):
    """The model could not be loaded from the name, folder or hub id given."""


def shown(value: object, limit: int = 60) -> str:
    """A user's value as a message quotes it: repr (so control characters are visible)
    and cut to `limit` characters, so a 10 KB argument still gives one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An error's first non-empty line (its type's name when it has no message): what one-line
    reports show. Safe on an empty or whitespace-only message."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__
