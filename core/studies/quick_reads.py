"""Light reads for screens: what a console asks many times a second or needs before the
whole study has loaded, each in one or two indexed queries over `StudyReader`'s engine.

`hptui.core.studies.reader` reads whole studies and what changed since a cursor; these read a first
page, the cursor itself, every trial's objective value without its attributes, a few study
attributes, and the rate of each study.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .reader import StudyReader, TrialCursor, TrialRow, _state_name
from .settings import SETTINGS_ATTR, StudySettings
from .storage import TABLES


def first_trials(reader: StudyReader, study_name: str, limit: int) -> list[TrialRow]:
    """The study's first `limit` trials by number, read without touching the rest: what a
    screen paints before the whole study has loaded."""
    import sqlalchemy as sa

    study_id = reader.study_id(study_name)
    with reader.engine.connect() as c:
        ids = (
            c.execute(
                sa.text("SELECT trial_id FROM trials WHERE study_id = :s ORDER BY number LIMIT :n"),
                {"s": study_id, "n": limit},
            )
            .scalars()
            .all()
        )
    return reader._rows(study_id, set(ids)) if ids else []


def study_rates(reader: StudyReader) -> dict[int, float]:
    """Finished trials per hour of each study, over the span from its first start to its
    last finish (no rate with fewer than two finished trials or a span under a minute)."""
    import sqlalchemy as sa

    query = sa.text(
        "SELECT study_id, COUNT(*), MIN(datetime_start), MAX(datetime_complete) FROM trials "
        "WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL') AND datetime_start IS NOT NULL "
        "AND datetime_complete IS NOT NULL GROUP BY study_id"
    ).columns(
        sa.column("study_id"),
        sa.column("n"),
        sa.column("first", sa.DateTime),
        sa.column("last", sa.DateTime),
    )
    rates = {}
    with reader.engine.connect() as c:
        for study_id, count, first, last in c.execute(query):
            hours = (last - first).total_seconds() / 3600 if first and last else 0.0
            if count >= 2 and hours * 3600 >= 60:  # imported trials finish all at once
                rates[int(study_id)] = count / hours
    return rates


def current_cursor(reader: StudyReader, study_name: str) -> TrialCursor:
    """The cursor as of now, read without reading any trial: where an incremental reader
    that has just read the whole study starts from."""
    import sqlalchemy as sa

    study_id = reader.study_id(study_name)
    events = TABLES.events
    with reader.engine.connect() as c:
        trial_id = c.execute(
            sa.text("SELECT MAX(trial_id) FROM trials WHERE study_id = :s"), {"s": study_id}
        ).scalar()
        event_id = (
            c.execute(
                sa.select(sa.func.max(events.c.id)).where(events.c.study_id == study_id)
            ).scalar()
            if reader._has_table(events.name)
            else None
        )
    return TrialCursor(int(trial_id or 0), int(event_id or 0))


@dataclass(frozen=True)
class SeriesPoint:
    """A trial's state and objective value, without its attributes: what a curve needs."""

    trial_id: int
    number: int
    state: str
    value: float | None
    started: datetime | None
    completed: datetime | None


def objective_series(reader: StudyReader, study_name: str) -> list[SeriesPoint]:
    """Every trial's number, state, objective value and times in one query (no attributes,
    no parameters): cheap enough for a best-so-far curve at 100,000 trials."""
    import sqlalchemy as sa

    study_id = reader.study_id(study_name)
    query = sa.text(
        "SELECT t.trial_id, t.number, t.state, v.value, t.datetime_start, t.datetime_complete "
        "FROM trials t LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
        "WHERE t.study_id = :s ORDER BY t.number"
    ).columns(
        sa.column("trial_id"), sa.column("number"), sa.column("state"), sa.column("value"),
        sa.column("datetime_start", sa.DateTime), sa.column("datetime_complete", sa.DateTime),
    )  # fmt: skip
    with reader.engine.connect() as c:
        return [
            SeriesPoint(int(t), int(n), _state_name(state), value, start, end)
            for t, n, state, value, start, end in c.execute(query, {"s": study_id})
        ]


def trial_rows(reader: StudyReader, study_name: str, trial_ids: Iterable[int]) -> list[TrialRow]:
    """Full rows (parameters, metrics, attributes, reasons) of the given trials only."""
    ids = set(trial_ids)
    return reader._rows(reader.study_id(study_name), ids) if ids else []


def study_attrs(reader: StudyReader, study_name: str, keys: Iterable[str]) -> dict[str, Any]:
    """Some of a study's user attributes (JSON-decoded), in one indexed query."""
    import sqlalchemy as sa

    wanted = sorted(set(keys))
    if not wanted:
        return {}
    study_id = reader.study_id(study_name)
    query = sa.text(
        "SELECT key, value_json FROM study_user_attributes WHERE study_id = :s AND key IN :keys"
    ).bindparams(sa.bindparam("keys", expanding=True))
    found: dict[str, Any] = {}
    with reader.engine.connect() as c:
        for key, value_json in c.execute(query, {"s": study_id, "keys": wanted}):
            try:
                found[key] = json.loads(value_json)
            except ValueError:
                continue  # written badly by another tool: as if absent
    return found


def study_settings(reader: StudyReader, study_name: str) -> StudySettings | None:
    """The study's hptui settings (None for a study another tool made), one query."""
    raw = study_attrs(reader, study_name, [SETTINGS_ATTR]).get(SETTINGS_ATTR)
    if not isinstance(raw, str):
        return None
    try:
        return StudySettings.from_json(raw)
    except Exception:  # settings another version or tool wrote: shown as none
        return None


def study_directions(reader: StudyReader, study_name: str) -> list[str]:
    """The study's directions from Optuna, one per objective ("maximize", "minimize"), in
    one indexed query."""
    import sqlalchemy as sa

    study_id = reader.study_id(study_name)
    query = sa.text("SELECT direction FROM study_directions WHERE study_id = :s ORDER BY objective")
    with reader.engine.connect() as c:
        return [_state_name(d).lower() for d in c.execute(query, {"s": study_id}).scalars()]
