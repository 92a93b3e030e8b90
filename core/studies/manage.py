"""Deleting and renaming studies: Optuna's rows and hptui's rows together.

Optuna can delete a study but not rename one, and knows nothing of hptui's tables (curves,
evaluations, events, slots, the flat `hptui_trials` table), so both are done here: a deleted
study leaves no orphan rows, and a renamed one keeps its trials, curves and settings (and
its identity: core/studies/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .identity import renamed
from .settings import StudyError
from .storage import TABLES, engine, optuna_storage, table_names


@dataclass(frozen=True)
class StudySize:
    """What a deletion would remove, for the confirmation question."""

    trials: int
    running: int


def study_size(storage_url: str, name: str) -> StudySize:
    import sqlalchemy as sa

    with engine(storage_url, read_only=True).connect() as c:
        study_id = _study_id(c, name, storage_url)
        rows = c.execute(
            sa.text("SELECT state, COUNT(*) FROM trials WHERE study_id = :s GROUP BY state"),
            {"s": study_id},
        ).all()
    counts = {str(getattr(state, "name", state)): n for state, n in rows}
    return StudySize(sum(counts.values()), counts.get("RUNNING", 0))


def delete_study(storage_url: str, name: str) -> int:
    """Delete the study, its trials and every hptui row that belongs to them; returns the
    number of trials deleted."""
    import optuna
    import sqlalchemy as sa

    storage = optuna_storage(storage_url)
    connectable = engine(storage_url)
    present = table_names(connectable)
    with connectable.begin() as c:
        study_id = _study_id(c, name, storage_url)
        trial_ids = list(
            c.execute(
                sa.text("SELECT trial_id FROM trials WHERE study_id = :s"), {"s": study_id}
            ).scalars()
        )
        for table in TABLES.metadata.sorted_tables:
            if "study_id" in table.c:
                c.execute(table.delete().where(table.c.study_id == study_id))
            elif "trial_id" in table.c and trial_ids:
                c.execute(table.delete().where(table.c.trial_id.in_(trial_ids)))
        if "hptui_trials" in present:
            c.execute(sa.text("DELETE FROM hptui_trials WHERE study = :n"), {"n": name})
    optuna.delete_study(study_name=name, storage=storage)
    return len(trial_ids)


def rename_study(storage_url: str, name: str, new_name: str) -> None:
    """Give a study a new name; its trials, curves and settings stay as they are."""
    import sqlalchemy as sa

    connectable = engine(storage_url)
    with connectable.begin() as c:
        if c.dialect.name == "sqlite":  # the write lock first: the reads below stay current
            c.execute(sa.text("UPDATE studies SET study_name = study_name WHERE 0 = 1"))
        # Looked for inside the transaction: a worker's first refresh may create it now.
        present = set(sa.inspect(c).get_table_names())
        study_id = _study_id(c, name, storage_url)
        taken = c.execute(
            sa.text("SELECT 1 FROM studies WHERE study_name = :n"), {"n": new_name}
        ).first()
        if taken:
            raise StudyError(f"a study named {new_name!r} already exists; choose another name")
        c.execute(
            sa.text("UPDATE studies SET study_name = :n WHERE study_id = :s"),
            {"n": new_name, "s": study_id},
        )
        if "hptui_trials" in present:
            c.execute(
                sa.text("UPDATE hptui_trials SET study = :new WHERE study = :old"),
                {"new": new_name, "old": name},
            )
    # Same study id, same stamp (a system attribute of the study): its rows stay its own.
    # A worker running under it still says the old name; its flat-table refresh finds the
    # study by its worker row (export.current_name), so no trial is left out.
    renamed(connectable, study_id, new_name)


def _study_id(c: object, name: str, storage_url: str) -> int:
    import sqlalchemy as sa

    from .storage import redact

    assert isinstance(c, sa.Connection)
    found = c.execute(
        sa.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": name}
    ).scalar()
    if found is None:
        raise StudyError(
            f"no study {name!r} in {redact(storage_url)}; `hptui study list` shows the studies"
        )
    return int(found)
