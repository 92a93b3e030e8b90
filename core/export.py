"""Trials out of hptui: CSV and JSON files, and a flat SQLite table for users' own SQL.

CSV follows RFC 4180 (quoted where needed, CRLF line ends) and is safe to open in a
spreadsheet: a text cell that starts with = + - @, a tab or a carriage return is prefixed
with an apostrophe so it cannot run as a formula; numbers stay numbers. Existing files are
never overwritten unless asked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import HptuiError
from .read import METRICS, StudyReader, TrialRow
from .storage import sqlite_path

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FLAT_TABLE = "hptui_trials"


class ExportError(HptuiError):
    """The export target exists or cannot be written."""


def flat_rows(reader: StudyReader, study_name: str) -> list[dict[str, Any]]:
    """One dict per trial: number, state, reason, duration_s, params, metrics."""
    info = reader.study(study_name)
    trials = reader.trials(study_name)
    names = (
        info.settings.space.names
        if info.settings
        else sorted({name for t in trials for name in t.params})
    )
    rows = [trial.flat(names, METRICS) for trial in trials]
    # Model-card studies: what each card is (task, base model...), so unlike cards show.
    from .card_info import CARD_COLUMNS, CARD_INFO_ATTR

    cards = [t.user_attrs.get(CARD_INFO_ATTR) for t in trials]
    if any(isinstance(card, dict) for card in cards):
        for row, card in zip(rows, cards, strict=True):
            row.update({k: card.get(k) if isinstance(card, dict) else None for k in CARD_COLUMNS})
    return rows


def sort_rows(rows: list[dict[str, Any]], column: str | None) -> list[dict[str, Any]]:
    """Sort by a column, missing values last; `-col` sorts descending."""
    if not column:
        return rows
    descending = column.startswith("-")
    key = column.lstrip("-")
    if rows and key not in rows[0]:
        raise HptuiError(f"--sort: no column {key!r}; columns: {', '.join(rows[0])}")
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: (isinstance(r[key], str), r[key]), reverse=descending)
    return present + missing


def neutralise(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return neutralise(value)


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, default=str) + "\n"


def write_file(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Write atomically-enough for a user file: refuse to clobber what is there."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists; choose another name or pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "w" if overwrite else "x"
        with path.open(mode, encoding="utf-8", newline="") as handle:
            handle.write(text)
    except FileExistsError:
        raise ExportError(f"{path} appeared while writing; nothing was overwritten") from None
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return path


def refresh_flat_table(reader: StudyReader, study_name: str) -> int:
    """Mirror the study's trials into the `hptui_trials` table of a SQLite storage, one
    column per parameter and metric, for `sqlite3 runs.db 'select * from hptui_trials'`.
    Returns the rows written (0 for non-SQLite storages, which have the read API only)."""
    path = sqlite_path(reader.url)
    if path is None:
        return 0
    import sqlite_utils

    rows = [{"study": study_name, **row} for row in flat_rows(reader, study_name)]
    if not rows:
        return 0
    db = sqlite_utils.Database(path)
    try:
        db.conn.execute("PRAGMA busy_timeout = 120000")
        db[FLAT_TABLE].upsert_all(rows, pk=("study", "number"), alter=True)  # type: ignore[union-attr]
    finally:
        db.close()
    return len(rows)


def trial_rows_json(rows: Sequence[TrialRow]) -> list[dict[str, Any]]:
    return [row.flat() for row in rows]
