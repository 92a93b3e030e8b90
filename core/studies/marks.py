"""A study's marks: the baseline trial and the trials left out of analysis.

Marks live in the study's own user attributes (`hptui.baseline`, `hptui.excluded`), so the
console, `hptui analyze` and optuna-dashboard all see the same ones, on SQLite and
PostgreSQL alike. Marking never deletes or changes a trial: an excluded trial stays in the
table, the exports and the database, and is only left out (and counted) by the fits. A mark
is one transaction holding the write lock (`_update`), so marks made by several processes at
once are all kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import attrs
from .settings import StudyError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from .reader import StudyReader

BASELINE_ATTR = attrs.BASELINE
EXCLUDED_ATTR = attrs.EXCLUDED


@dataclass(frozen=True)
class Marks:
    """The baseline trial number (or None) and the excluded trial numbers."""

    baseline: int | None = None
    excluded: frozenset[int] = field(default_factory=frozenset)


def marks_from_attrs(user_attrs: dict[str, Any]) -> Marks:
    """Marks from a study's user attributes; values another tool wrote badly are ignored."""
    baseline = user_attrs.get(BASELINE_ATTR)
    if not isinstance(baseline, int) or isinstance(baseline, bool):
        baseline = None
    excluded = user_attrs.get(EXCLUDED_ATTR)
    numbers: Iterable[Any] = excluded if isinstance(excluded, list) else ()
    return Marks(
        baseline=baseline,
        excluded=frozenset(n for n in numbers if isinstance(n, int) and not isinstance(n, bool)),
    )


def load_marks(storage_url: str, study_name: str, reader: StudyReader | None = None) -> Marks:
    """The study's marks, read without writing anything (through `reader` when given: one
    query instead of opening Optuna's storage)."""
    if reader is not None:
        from .quick_reads import study_attrs

        return marks_from_attrs(study_attrs(reader, study_name, [BASELINE_ATTR, EXCLUDED_ATTR]))
    return marks_from_attrs(_summary(storage_url, study_name, read_only=True).user_attrs)


def set_baseline(storage_url: str, study_name: str, number: int | None) -> Marks:
    """Mark trial `number` as the study's baseline (None clears it); returns the new marks."""

    def change(_marks: Marks) -> dict[str, Any]:
        return {BASELINE_ATTR: number}

    return _update(storage_url, study_name, [] if number is None else [number], change)


def set_excluded(
    storage_url: str, study_name: str, numbers: Iterable[int], excluded: bool = True
) -> Marks:
    """Exclude trials from analysis (or include them again, `excluded=False`)."""
    wanted = set(numbers)

    def change(marks: Marks) -> dict[str, Any]:
        current = marks.excluded | wanted if excluded else marks.excluded - wanted
        return {EXCLUDED_ATTR: sorted(current)}

    return _update(storage_url, study_name, sorted(wanted), change)


def _update(
    storage_url: str,
    study_name: str,
    numbers: list[int],
    change: Callable[[Marks], dict[str, Any]],
) -> Marks:
    """Read the marks, apply `change` and write them back in ONE transaction that holds the
    database's write lock from its first read (SQLite: BEGIN IMMEDIATE; PostgreSQL: the
    study's row locked FOR UPDATE), so marks made by several processes at once all stay.
    The attributes are Optuna's own (`study_user_attributes`, JSON values, as Optuna writes
    them), so marks recorded before, and every tool that reads them, see the same ones."""
    from .retry import call
    from .storage import engine

    engine(storage_url, read_only=True)  # a missing or foreign database: refused, unwritten
    return call(_update_once, engine(storage_url), storage_url, study_name, numbers, change)


def _update_once(
    connectable: sa.Engine,
    storage_url: str,
    study_name: str,
    numbers: list[int],
    change: Callable[[Marks], dict[str, Any]],
) -> Marks:
    import sqlalchemy as sa

    with connectable.connect() as c:
        if c.dialect.name == "sqlite":
            c.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before anything is read
        lock = " FOR UPDATE" if c.dialect.name == "postgresql" else ""
        study_id = c.execute(
            sa.text(f"SELECT study_id FROM studies WHERE study_name = :n{lock}"),
            {"n": study_name},
        ).scalar()
        if study_id is None:
            raise StudyError(f"no study {study_name!r} in {storage_url}")
        for number in numbers:
            found = c.execute(
                sa.text("SELECT 1 FROM trials WHERE study_id = :s AND number = :n"),
                {"s": study_id, "n": number},
            ).first()
            if found is None:
                raise StudyError(f"study {study_name!r} has no trial {number}")
        current = _read_attrs(c, study_id)
        changed = change(marks_from_attrs(current))
        for key, value in changed.items():
            _write_attr(c, study_id, key, value, exists=key in current)
        c.commit()
    return marks_from_attrs({**current, **changed})


def _read_attrs(c: sa.Connection, study_id: int) -> dict[str, Any]:
    import sqlalchemy as sa

    rows = c.execute(
        sa.text(
            "SELECT key, value_json FROM study_user_attributes "
            "WHERE study_id = :s AND key IN (:b, :e)"
        ),
        {"s": study_id, "b": BASELINE_ATTR, "e": EXCLUDED_ATTR},
    ).all()
    values: dict[str, Any] = {}
    for key, text in rows:
        try:
            values[key] = json.loads(text)
        except (TypeError, ValueError):
            values[key] = None  # another tool's bad value: ignored, then overwritten
    return values


def _write_attr(c: sa.Connection, study_id: int, key: str, value: Any, *, exists: bool) -> None:
    import sqlalchemy as sa

    params = {"s": study_id, "k": key, "v": json.dumps(value)}
    if exists:
        c.execute(
            sa.text(
                "UPDATE study_user_attributes SET value_json = :v WHERE study_id = :s AND key = :k"
            ),
            params,
        )
    else:
        c.execute(
            sa.text(
                "INSERT INTO study_user_attributes (study_id, key, value_json) VALUES (:s, :k, :v)"
            ),
            params,
        )


def _summary(storage_url: str, study_name: str, *, read_only: bool = False) -> Any:
    from .storage import optuna_storage

    storage = optuna_storage(storage_url, read_only=read_only)
    for summary in storage.get_all_studies():
        if summary.study_name == study_name:
            return summary
    raise StudyError(f"no study {study_name!r} in {storage_url}")
