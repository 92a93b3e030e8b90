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


# Characters that make printed text lie about itself, beyond the C0/C1 controls: the bidi
# embeddings, overrides, isolates and marks (U+202E shows `gpj.exe` as `exe.jpg`).
BIDI_CHARACTERS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def printable(text: str) -> str:
    """Text another tool stored (a study name, a model, a reason) as one honest line for a
    terminal: control and bidi characters shown escaped (`\\u202e`, `\\n`), the rest as is
    (accents and emoji stay). hptui refuses such characters in what it is given; this is
    for what it finds."""
    if all(ch.isprintable() or ch == " " for ch in text) and not BIDI_CHARACTERS.intersection(text):
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if (not ch.isprintable() and ch != " ") or ch in BIDI_CHARACTERS
        else ch
        for ch in text
    )
