"""A person's note on a trial: one short line ("lr too high, diverged"), kept in the study.

Notes live in one study user attribute (`hptui.notes`: trial number -> text), like the
baseline and exclusion marks, written through Optuna's own storage, so they travel with the
study (SQLite or PostgreSQL) and show in optuna-dashboard. A study attribute, not a trial
one: Optuna refuses to change a finished trial (`UpdateFinishedTrialError`), and a note is
mostly written after a trial ends. An empty note clears it; the trial itself never changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import attrs
from .settings import StudyError

if TYPE_CHECKING:
    from .reader import StudyReader

NOTES_ATTR = attrs.NOTES
MAX_NOTE = 120  # one line of a wide terminal: a note, not a report


class NoteError(StudyError):
    """A note that is too long or not one line."""


def clean_note(text: str) -> str:
    """The note as stored: trimmed; refused (one line saying why) when it is longer than
    `MAX_NOTE` characters or holds a line break or another control character."""
    if any(ch in text for ch in "\r\n"):
        raise NoteError("note: must be one line; remove the line break")
    if any(not ch.isprintable() for ch in text):
        raise NoteError("note: remove the control characters (tabs, escapes) from it")
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise NoteError(f"note: at most {MAX_NOTE} characters (got {len(text)}); shorten it")
    return text


def notes_from_attrs(user_attrs: dict[str, Any]) -> dict[int, str]:
    """Trial number -> note from a study's user attributes; entries another tool wrote
    badly (not a number, not text) are ignored."""
    raw = user_attrs.get(NOTES_ATTR)
    notes: dict[int, str] = {}
    if not isinstance(raw, dict):
        return notes
    for key, value in raw.items():
        try:
            number = int(key)
        except (TypeError, ValueError):
            continue
        if isinstance(value, str) and value:
            notes[number] = value
    return notes


def load_notes(reader: StudyReader, study_name: str) -> dict[int, str]:
    """The study's notes, in one indexed query (nothing written)."""
    from .quick_reads import study_attrs

    return notes_from_attrs(study_attrs(reader, study_name, [NOTES_ATTR]))


def set_note(storage_url: str, study_name: str, number: int, text: str) -> str | None:
    """Store `text` as trial `number`'s note (empty: cleared). Returns the note stored
    (None when cleared). Bad input is refused before anything is written."""
    note = clean_note(text)
    import optuna

    from .storage import optuna_storage

    storage = optuna_storage(storage_url)
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StudyError(f"no study {study_name!r} in this storage") from None
    try:
        storage.get_trial_id_from_study_id_trial_number(study_id, number)
    except KeyError:
        raise StudyError(f"study {study_name!r} has no trial {number}") from None
    study = optuna.load_study(study_name=study_name, storage=storage)
    notes = notes_from_attrs(study.user_attrs)
    if note:
        notes[number] = note
    else:
        notes.pop(number, None)
    study.set_user_attr(NOTES_ATTR, {str(n): notes[n] for n in sorted(notes)})
    return note or None
