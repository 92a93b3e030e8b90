"""Which study hptui's rows belong to, even after another tool deleted it.

hptui's rows (steps, evaluations, events, slots, workers, held-out tests) are keyed by
Optuna's study and trial ids. Other tools delete studies without knowing of them
(`optuna delete-study`; optuna-dashboard's rename is a copy then a delete), and SQLite hands
the freed ids to the next study: without a check, that study would show the deleted one's
curves as its own, and a worker would count the deleted trials' slots as taken.

So each study hptui writes rows for carries a stamp: a random id stored as an Optuna study
*system* attribute (`hptui.identity`; Optuna deletes it with the study, and a study
another tool made has none), and recorded in `hptui_study_identity` beside the study id.
Rows of a study id whose recorded stamp is not the study's current one are orphans:

- reads ignore them (`orphaned_ids`, `trial_is_orphaned`);
- the next write that claims a study (its creation, a worker starting, an enqueue, a
  rename) deletes them with `claim`, together with the rows of studies that no longer exist
  and of trials that no longer exist.

A study id with no recorded stamp is adopted as it is (its rows are kept): that is a study
from before stamps, or one plain Optuna created and hptui writes to for the first time.
Renaming with `hptui study rename` keeps the study id and its system attributes, so its
identity and rows stay. Every step is race-safe: the stamp is inserted only if absent (a
unique key decides between two workers starting at once), and the cleanup runs in one
transaction that takes the write lock first.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

# The study system attribute holding the stamp (a system attribute, not a user one: users
# and optuna-dashboard copy user attributes between studies, and a copy is another study).
IDENTITY_ATTR = "hptui.identity"
IDENTITY_TABLE = "hptui_study_identity"
# hptui's tables keyed by trial id only (their study is the trial's).
_TRIAL_KEYED = ("hptui_steps", "hptui_evals")


def build_table(metadata: sa.MetaData) -> sa.Table:
    """`hptui_study_identity`: the stamp each study id's rows were written under."""
    import sqlalchemy as sa

    return sa.Table(
        IDENTITY_TABLE, metadata,
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stamp", sa.Text, nullable=False),  # the attribute's value_json, as stored
        sa.Column("study_name", sa.Text),  # for a person reading the table; never a key
        sa.Column("claimed_at", sa.Float, nullable=False),
    )  # fmt: skip


# -- reads ---------------------------------------------------------------------------------


def orphaned_ids(c: sa.Connection) -> set[int]:
    """Study ids whose hptui rows belong to an earlier study of that id (read only; empty
    for a database without the identity table)."""
    import sqlalchemy as sa

    if not sa.inspect(c).has_table(IDENTITY_TABLE):
        return set()
    query = sa.text(
        f"SELECT i.study_id FROM {IDENTITY_TABLE} i "
        "JOIN studies s ON s.study_id = i.study_id "
        "LEFT JOIN study_system_attributes a ON a.study_id = i.study_id AND a.key = :k "
        "WHERE a.value_json IS NULL OR a.value_json != i.stamp"
    )
    return {int(row[0]) for row in c.execute(query, {"k": IDENTITY_ATTR})}


def study_is_orphaned(c: sa.Connection, study_id: int, tables: Iterable[str]) -> bool:
    """Whether the study id's hptui rows are an earlier study's (one indexed lookup);
    `tables` is what the caller knows is in the database."""
    import sqlalchemy as sa

    if IDENTITY_TABLE not in set(tables):
        return False
    row = c.execute(
        sa.text(
            f"SELECT i.stamp, a.value_json FROM {IDENTITY_TABLE} i "
            "LEFT JOIN study_system_attributes a ON a.study_id = i.study_id AND a.key = :k "
            "WHERE i.study_id = :s"
        ),
        {"k": IDENTITY_ATTR, "s": study_id},
    ).first()
    return row is not None and row[0] != row[1]


def trial_is_orphaned(c: sa.Connection, trial_id: int, tables: Iterable[str]) -> bool:
    """Whether rows keyed by this trial id are not the trial's: its study's identity does
    not match, or no trial of that id exists any more."""
    import sqlalchemy as sa

    study_id = c.execute(
        sa.text("SELECT study_id FROM trials WHERE trial_id = :t"), {"t": trial_id}
    ).scalar()
    if study_id is None:
        return True
    return study_is_orphaned(c, int(study_id), tables)


# -- writes --------------------------------------------------------------------------------


def stamp_study(storage: Any, study_id: int) -> None:
    """Give a study hptui just created its stamp, through Optuna's storage."""
    storage.set_study_system_attr(study_id, IDENTITY_ATTR, uuid.uuid4().hex)


def claim(engine: sa.Engine, study_id: int, study_name: str | None = None) -> int:
    """Before hptui writes rows for a study: make sure it has a stamp, delete the rows
    that are not its own (and every other orphan in the database), and record its stamp.
    Returns the number of rows deleted."""
    stamp = _ensure_stamp(engine, study_id)
    return sweep(engine, claim_for=(study_id, stamp, study_name))


def sweep(engine: sa.Engine, claim_for: tuple[int, str, str | None] | None = None) -> int:
    """Delete hptui's rows that no study owns any more: those of study ids whose stamp
    changed or whose study is gone, and those of trials that are gone. With `claim_for`
    (study id, stamp, name), record that study's stamp in the same transaction."""
    import sqlalchemy as sa

    from .storage import TABLES

    deleted = 0
    with engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(sa.text("SELECT pg_advisory_xact_lock(7466813)"))
        else:  # a write first: SQLite takes the write lock now, so the reads below are current
            c.execute(sa.text(f"UPDATE {IDENTITY_TABLE} SET stamp = stamp WHERE 0 = 1"))
        present = set(sa.inspect(c).get_table_names())
        dead = orphaned_ids(c) | _gone_ids(c, present)
        if dead:
            deleted += _delete_rows(c, dead, present)
            identity = TABLES.identity
            c.execute(identity.delete().where(identity.c.study_id.in_(sorted(dead))))
        if claim_for is not None:
            study_id, stamp, name = claim_for
            _record(c, study_id, stamp, name)
    return deleted


def renamed(engine: sa.Engine, study_id: int, new_name: str) -> None:
    """Keep the identity table's name in step after `hptui study rename` (the stamp, the
    study id and every row stay as they are)."""
    from .storage import TABLES

    identity = TABLES.identity
    with engine.begin() as c:
        c.execute(
            identity.update().where(identity.c.study_id == study_id).values(study_name=new_name)
        )


def _ensure_stamp(engine: sa.Engine, study_id: int) -> str:
    """The study's stamp (as stored JSON), inserted if it has none. Inserted only if absent,
    in one statement: two processes adopting a study at once agree on one stamp (a unique
    key on (study_id, key) refuses the second)."""
    import sqlalchemy as sa

    query = sa.text(
        "SELECT value_json FROM study_system_attributes WHERE study_id = :s AND key = :k"
    )
    binds = {"s": study_id, "k": IDENTITY_ATTR}
    with engine.connect() as c:
        found = c.execute(query, binds).scalar()
    if found is not None:
        return str(found)
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO study_system_attributes (study_id, key, value_json) "
                    "VALUES (:s, :k, :v)"
                ),
                {**binds, "v": json.dumps(uuid.uuid4().hex)},
            )
    except sa.exc.IntegrityError:
        pass  # another process stamped it first: its stamp is the one
    with engine.connect() as c:
        return str(c.execute(query, binds).scalar())


def _record(c: sa.Connection, study_id: int, stamp: str, name: str | None) -> None:
    from .storage import TABLES

    identity = TABLES.identity
    row = c.execute(
        identity.select().where(identity.c.study_id == study_id)
    ).first()  # fmt: skip
    if row is None:
        c.execute(
            identity.insert().values(
                study_id=study_id, stamp=stamp, study_name=name, claimed_at=time.time()
            )
        )
    elif name is not None and row.study_name != name:
        c.execute(identity.update().where(identity.c.study_id == study_id).values(study_name=name))


def _gone_ids(c: sa.Connection, present: set[str]) -> set[int]:
    """Study ids that hptui's tables mention but no study has any more."""
    import sqlalchemy as sa

    from .storage import TABLES

    gone: set[int] = set()
    for table in TABLES.metadata.sorted_tables:
        if table.name in present and "study_id" in table.c:
            gone |= {
                int(row[0])
                for row in c.execute(
                    sa.text(
                        f"SELECT DISTINCT study_id FROM {table.name} "
                        "WHERE study_id NOT IN (SELECT study_id FROM studies)"
                    )
                )
            }
    return gone


def _delete_rows(c: sa.Connection, dead: set[int], present: set[str]) -> int:
    """Delete every hptui row of the dead study ids: those keyed by one of their trials
    (known from their events, slots and workers; a trial id a live study uses now is that
    study's and kept), those of trials that no longer exist, those keyed by study id; and
    the flat table's rows of names no study has."""
    import sqlalchemy as sa

    from .storage import TABLES

    ids = ", ".join(str(int(i)) for i in sorted(dead))  # ints from the database
    sources = [
        f"SELECT trial_id FROM {t.name} WHERE study_id IN ({ids}) AND trial_id IS NOT NULL"
        for t in (TABLES.events, TABLES.slots, TABLES.workers)
        if t.name in present
    ]
    deleted = 0
    for name in _TRIAL_KEYED:
        if name not in present:
            continue
        if sources:
            deleted += c.execute(sa.text(
                f"DELETE FROM {name} WHERE trial_id IN ({' UNION '.join(sources)}) "
                f"AND trial_id NOT IN (SELECT trial_id FROM trials WHERE study_id NOT IN ({ids}))"
            )).rowcount  # fmt: skip
        deleted += c.execute(
            sa.text(f"DELETE FROM {name} WHERE trial_id NOT IN (SELECT trial_id FROM trials)")
        ).rowcount
    for table in TABLES.metadata.sorted_tables:
        if table.name in present and table.name != IDENTITY_TABLE and "study_id" in table.c:
            deleted += c.execute(
                sa.text(f"DELETE FROM {table.name} WHERE study_id IN ({ids})")
            ).rowcount
    if "hptui_trials" in present:  # keyed by name: the dead studies' names, then and now
        deleted += c.execute(sa.text(
            "DELETE FROM hptui_trials WHERE study IN ("
            f"SELECT study_name FROM {IDENTITY_TABLE} WHERE study_id IN ({ids}) "
            f"UNION SELECT study_name FROM studies WHERE study_id IN ({ids})) "
            f"AND study NOT IN (SELECT study_name FROM studies WHERE study_id NOT IN ({ids}))"
        )).rowcount  # fmt: skip
    return deleted


def claim_study(storage_url: str, study: Any, *, created: bool = False) -> None:
    """`claim` for an Optuna study a writer just created (`created`: stamped first, through
    Optuna's storage) or loaded."""
    from .storage import engine

    if created:
        stamp_study(study._storage, study._study_id)
    claim(engine(storage_url), study._study_id, study.study_name)


def claim_name(storage_url: str, name: str) -> None:
    """`claim` for a study known by name (a writer that made it through Optuna directly:
    a space change, a card import), before anything else writes hptui rows for it."""
    import sqlalchemy as sa

    from .storage import engine

    connectable = engine(storage_url)
    with connectable.connect() as c:
        study_id = c.execute(
            sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": name}
        ).scalar()
    if study_id is not None:
        claim(connectable, int(study_id), name)
