"""Trials out of hptui: CSV and JSON files, and a flat SQLite table for users' own SQL.

CSV follows RFC 4180 (quoted where needed, CRLF line ends) and is safe to open in a
spreadsheet: a text cell that starts with = + - @, a tab or a carriage return is prefixed
with an apostrophe so it cannot run as a formula; numbers stay numbers, at full precision.
JSON is strict (RFC 8259): NaN and infinities are written as null. Files are written to a
temporary file beside the target and renamed over it, so a failed export leaves the old
file intact and no fragment; existing files are never overwritten unless asked, and a
missing folder is an error, not silently created.

The `hptui_trials` table has typed columns (REAL metrics and durations, INTEGER numbers),
so `select number from hptui_trials where duration_s < 100` means what it says. Writers
(workers, imports) keep it; reads never touch it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hptui.core.errors import HptuiError

from .reader import METRICS, StudyReader, TrialRow, value_columns
from .storage import SQLITE_BUSY_TIMEOUT, sqlite_path

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FLAT_TABLE = "hptui_trials"
log = logging.getLogger("hptui.export")


class ExportError(HptuiError):
    """The export target exists or cannot be written."""


def flat_rows(reader: StudyReader, study_name: str) -> list[dict[str, Any]]:
    """One dict per trial: number, state, reason, duration_s, objective values (a study
    another tool made: `value`, or `value_0`, `value_1`...), params, metrics, note."""
    from .quick_reads import study_settings

    settings = study_settings(reader, study_name)  # one query, not every study's counts
    trials = reader.trials(study_name)
    names = settings.space.names if settings else sorted({n for t in trials for n in t.params})
    values = objective_columns(reader, study_name, settings is not None)
    rows = [trial.flat(names, METRICS, values) for trial in trials]
    # Model-card studies: what each card is (task, base model...), so unlike cards show.
    from hptui.core.cards.info import CARD_COLUMNS, CARD_INFO_ATTR

    cards = [t.user_attrs.get(CARD_INFO_ATTR) for t in trials]
    if any(isinstance(card, dict) for card in cards):
        for row, card in zip(rows, cards, strict=True):
            row.update({k: card.get(k) if isinstance(card, dict) else None for k in CARD_COLUMNS})
    from .notes import load_notes  # a person's note on a trial (the console's N, `hptui note`)

    notes = load_notes(reader, study_name)
    for row in rows:
        row["note"] = notes.get(row["number"])
    add_replicate_columns(rows, trials, names)
    return rows


def objective_columns(reader: StudyReader, study_name: str, has_settings: bool) -> list[str]:
    """The objective-value columns of the study's flat rows (`reader.value_columns`): none
    for an hptui study (its objective is a metric column already)."""
    from .quick_reads import study_directions

    if has_settings:
        return []
    return value_columns(False, len(study_directions(reader, study_name)))


def add_replicate_columns(
    rows: list[dict[str, Any]], trials: Sequence[TrialRow], names: Sequence[str]
) -> None:
    """`seed` (the training seed the trial ran or is queued with) and `config` (its
    configuration's group, `#N`: N is the lowest trial number with the same parameters), so
    seed replicates can be told apart and grouped in a spreadsheet or SQL. `config` is text
    so that a regression over a table's numeric columns never takes it for a parameter."""
    from .replicates import config_ids, key_params, recorded_seed

    ids = config_ids(rows, key_params(names))
    for row, trial in zip(rows, trials, strict=True):
        row["seed"] = recorded_seed(trial.user_attrs)
        row["config"] = f"#{ids[trial.number]}"


def sort_rows(rows: list[dict[str, Any]], column: str | None) -> list[dict[str, Any]]:
    """Sort by a column, numbers first, then text, then missing values (None, NaN) last,
    whatever the direction; `-col` sorts descending."""
    if not column:
        return rows
    descending = column.startswith("-")
    key = column.lstrip("-")
    if rows and key not in rows[0]:
        raise HptuiError(f"--sort: no column {key!r}; columns: {', '.join(rows[0])}")
    present = [r for r in rows if not _is_missing(r.get(key))]
    missing = [r for r in rows if _is_missing(r.get(key))]
    numbers = [r for r in present if _is_number(r[key])]
    others = [r for r in present if not _is_number(r[key])]
    numbers.sort(key=lambda r: r[key], reverse=descending)
    others.sort(key=lambda r: str(r[key]), reverse=descending)
    return numbers + others + missing


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_missing(value: Any) -> bool:
    """None and NaN sort last, whichever the direction."""
    return value is None or (isinstance(value, float) and math.isnan(value))


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
    """Strict JSON (RFC 8259): NaN and infinities become null, floats keep full precision.
    An array with one trial per line: readable, diffable, and encoded by the C encoder
    (an indented dump runs the pure-Python one, 1.4 s for 10,000 trials)."""
    if not rows:
        return "[]\n"
    return "[\n" + ",\n".join(_json_row(row) for row in rows) + "\n]\n"


def _json_row(row: dict[str, Any]) -> str:
    try:
        return json.dumps(row, default=str, allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere in it: null, as RFC 8259 has no NaN
        return json.dumps(_strict(row), default=str, allow_nan=False)


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def check_target(path: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse an export target before anything is read or written: an empty name, a
    folder, a missing parent folder, or an existing file without --force."""
    if not str(path).strip():
        raise ExportError("the file name is empty; give one, e.g. --csv trials.csv")
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name, e.g. {path / 'trials.csv'}")
    if not path.parent.is_dir():
        raise ExportError(
            f"{path.parent}: no such folder; create it first (mkdir -p {path.parent})"
        )
    if path.exists() and not overwrite:
        raise ExportError(f"{path} exists; choose another name or pass --force to replace it")
    return path


def write_file(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Write `text` atomically: to a temporary file beside the target, flushed to disk,
    then renamed over it. A failure (a full disk, a vanished folder) leaves the old file
    as it was and no fragment; without `overwrite` an existing file is never replaced."""
    path = check_target(path, overwrite=overwrite)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise ExportError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        if overwrite:
            os.replace(temporary, path)
        else:
            _publish_new(temporary, path)
    except FileExistsError:
        os.unlink(temporary)
        raise ExportError(f"{path} appeared while writing; nothing was overwritten") from None
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror}; the old file is intact") from None
    return path


def _publish_new(temporary: str, path: Path) -> None:
    """Rename into place without replacing a file that appeared meanwhile: a hard link
    fails if the name is taken; where links are not supported, check then rename."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def column_types(rows: Sequence[dict[str, Any]], reader_types: dict[str, str]) -> dict[str, str]:
    """SQLite column types for the flat table: known ones first, else from the values
    (INTEGER if every value is a whole int, REAL if every value is a number, else TEXT)."""
    types: dict[str, str] = {}
    seen: set[str] = set()
    for name in rows[0] if rows else []:
        if name.lower() in seen:
            continue  # SQLite column names ignore case: the first of F1 and f1 wins
        seen.add(name.lower())
        if name in reader_types:
            types[name] = reader_types[name]
            continue
        values = [r.get(name) for r in rows if r.get(name) is not None]
        if values and all(_is_number(v) and isinstance(v, int) for v in values):
            types[name] = "INTEGER"
        elif values and all(_is_number(v) for v in values):
            types[name] = "REAL"
        else:
            types[name] = "TEXT"
    return types


def refresh_flat_table(storage_url: str, study_name: str, *, study_id: int | None = None) -> int:
    """Mirror the study's trials into the `hptui_trials` table of a SQLite storage, one
    typed column per parameter and metric, for `sqlite3 runs.db 'select * from
    hptui_trials'`. Called by writers (a worker when a trial ends, an import). Returns the
    rows written (0 for non-SQLite storages, which have the read API only).

    The study is the one of `study_id` if given, else of `study_name`; a worker whose study
    was renamed under it (`hptui study rename`) still names the old one, so a missing name
    is looked up through this process's worker row. Rows go under the study's name as it
    is when they are written."""
    path = sqlite_path(storage_url)
    if path is None:
        return 0
    reader = StudyReader(storage_url)
    study_name = current_name(reader, study_name, study_id)
    info = reader.study(study_name)
    rows = [{"study": study_name, **row} for row in flat_rows(reader, study_name)]
    known = {"study": "TEXT", "number": "INTEGER", "state": "TEXT", "reason": "TEXT",
             "duration_s": "REAL", **dict.fromkeys(METRICS, "REAL"),
             "seed": "INTEGER", "config": "TEXT",
             **dict.fromkeys(info.value_names, "REAL")}  # fmt: skip
    if info.settings:
        for param in info.settings.space.params:
            if param.type in ("float", "int"):
                known[param.name] = "REAL" if param.type == "float" else "INTEGER"
    types = column_types(rows, known) if rows else {}
    connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        now = connection.execute(
            "SELECT study_name FROM studies WHERE study_id = ?", (info.study_id,)
        ).fetchone()
        if now is None:  # deleted meanwhile: nothing to mirror
            connection.execute("ROLLBACK")
            return 0
        _shape_table(connection, types)
        # Renamed since the rows were read: written under the name it has now, and rows a
        # refresh that raced the rename wrote under the old name (no study has it) go.
        connection.execute(
            f"DELETE FROM {FLAT_TABLE} WHERE study = ? OR (study = ? "
            "AND study NOT IN (SELECT study_name FROM studies))",
            (now[0], study_name),
        )
        for row in rows:
            row["study"] = now[0]
            names = [n for n in row if n in types]
            connection.execute(
                f"INSERT INTO {FLAT_TABLE} ({', '.join(map(_quote, names))}) "
                f"VALUES ({', '.join('?' * len(names))})",
                [_sql_value(row[n], types[n]) for n in names],
            )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return len(rows)


def update_flat_table(storage_url: str, study_name: str, *, study_id: int | None = None) -> None:
    """`refresh_flat_table` for writers that must not fail because of it (a trial that
    just ended stays recorded whatever happens here): errors are logged, not raised (in
    one line when it is a condition hptui names, e.g. the study deleted meanwhile)."""
    try:
        refresh_flat_table(storage_url, study_name, study_id=study_id)
    except HptuiError as exc:
        log.warning("could not refresh the %s table: %s", FLAT_TABLE, exc)
    except Exception:
        log.warning("could not refresh the %s table", FLAT_TABLE, exc_info=True)


def current_name(reader: StudyReader, study_name: str, study_id: int | None = None) -> str:
    """The study's name now: that of `study_id` if given; else `study_name` if a study has
    it; else (renamed under a running worker) the name of the study this process's live
    worker row is working on. A study that is gone is the usual StudyError."""
    import os
    import platform

    import sqlalchemy as sa

    from .storage import TABLES

    with reader.engine.connect() as c:
        if study_id is None:
            found = c.execute(
                sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": study_name}
            ).scalar()
            if found is not None:
                return study_name
            if not reader._has_table(TABLES.workers.name):
                return study_name
            workers = TABLES.workers
            live = c.execute(
                sa.select(workers.c.study_id).where(
                    workers.c.host == platform.node(),
                    workers.c.pid == os.getpid(),
                    workers.c.exited_at.is_(None),
                )
            ).scalars().all()  # fmt: skip
            if len(set(live)) != 1:
                return study_name  # not a worker, or more than one: cannot tell
            study_id = int(live[0])
        name = c.execute(
            sa.text("SELECT study_name FROM studies WHERE study_id = :s"), {"s": study_id}
        ).scalar()
    return str(name) if name is not None else study_name


# The flat table's SQLite types as sqlite-utils names them.
_PY_TYPES: dict[str, type] = {"TEXT": str, "INTEGER": int, "REAL": float}


def _shape_table(connection: sqlite3.Connection, types: dict[str, str]) -> None:
    """Create the table, add new columns, and rebuild it if an older hptui made a column
    of the wrong type (the TEXT metrics of earlier versions), keeping every row. Done by
    sqlite-utils (create / add_column / transform), inside the caller's BEGIN IMMEDIATE:
    with a transaction open, sqlite-utils works in a savepoint and commits nothing itself."""
    import sqlite_utils

    table = sqlite_utils.Database(connection).table(FLAT_TABLE)
    wanted = {"study": "TEXT", "number": "INTEGER", **types}
    if not table.exists():
        table.create(
            {name: _PY_TYPES[kind] for name, kind in wanted.items()}, pk=("study", "number")
        )
        return
    existing = {column.name.lower(): (column.name, column.type.upper()) for column in table.columns}
    retyped = {
        existing[name.lower()][0]: _PY_TYPES[kind]
        for name, kind in wanted.items()
        if name.lower() in existing and existing[name.lower()][1] != kind
    }
    if retyped:  # SQLite's column affinity turns the TEXT '0.5' of old rows into 0.5
        table.transform(types=retyped, pk=("study", "number"))
    for name, kind in wanted.items():
        if name.lower() not in existing:
            table.add_column(name, _PY_TYPES[kind])
            existing[name.lower()] = (name, kind)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind in ("REAL", "INTEGER"):
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            return None
        return float(value) if kind == "REAL" else int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value if isinstance(value, str | int | float) else str(value)
