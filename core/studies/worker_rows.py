"""Writing what a worker sees into hptui's tables: steps in batched commits, evaluations,
trial events (the cursor readers follow) and the slots that make trial totals exact."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hptui.core.training.events import EvalEvent, StepEvent

from .storage import TABLES

if TYPE_CHECKING:
    import sqlalchemy as sa

# Steps are committed at most this often (and at every evaluation and trial end): one
# transaction per step would make a fast GPU worker wait on the database.
STEP_FLUSH_SECONDS = 1.0
STEP_FLUSH_ROWS = 200
# A slot claimed without a trial for this long belonged to a worker that died in between.
ORPHAN_SLOT_SECONDS = 300


class StepRecorder:
    """Buffers a trial's steps and writes them in one transaction per flush."""

    def __init__(self, engine: sa.Engine, trial_id: int) -> None:
        self.engine = engine
        self.trial_id = trial_id
        self._rows: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self.flushes = 0

    def add_step(self, event: StepEvent) -> None:
        row = {
            "trial_id": self.trial_id,
            "step": event.step,
            "epoch": event.epoch,
            "epoch_progress": event.epoch_progress,
            "loss": event.loss,
            "learning_rate": event.learning_rate,
            "grad_norm": event.grad_norm,
            "examples_per_s": event.examples_per_s,
        }
        self._rows.append(row)
        due = time.monotonic() - self._last_flush >= STEP_FLUSH_SECONDS
        if due or len(self._rows) >= STEP_FLUSH_ROWS:
            self.flush()

    def add_eval(self, event: EvalEvent) -> None:
        metrics = {
            k: event.metrics.get(k) for k in ("loss", "accuracy", "f1", "precision", "recall")
        }
        with self.engine.begin() as connection:
            if self._rows:
                connection.execute(TABLES.steps.insert(), self._rows)
                self._rows = []
            connection.execute(
                TABLES.evals.insert(),
                {
                    "trial_id": self.trial_id,
                    "step": event.step,
                    "epoch": event.epoch,
                    "end_of_epoch": event.end_of_epoch,
                    "seconds": event.seconds,
                    **metrics,
                },
            )
        self._mark_flushed()

    def flush(self) -> None:
        if self._rows:
            with self.engine.begin() as connection:
                connection.execute(TABLES.steps.insert(), self._rows)
            self._rows = []
        self._mark_flushed()

    def _mark_flushed(self) -> None:
        self._last_flush = time.monotonic()
        self.flushes += 1


def log_event(
    engine: sa.Engine, study_id: int, trial_id: int, state: str, reason: str | None = None
) -> None:
    """Append a trial state change; readers fetch what changed since their cursor."""
    with engine.begin() as connection:
        connection.execute(
            TABLES.events.insert(),
            {
                "study_id": study_id,
                "trial_id": trial_id,
                "state": state,
                "reason": reason,
                "at": time.time(),
            },
        )


def claim_slot(engine: sa.Engine, study_id: int, total: int) -> int | None:
    """Claim a free slot below `total`, or None when all are taken.

    The (study, slot) primary key makes this exact across processes and hosts: of two
    workers inserting the same slot, one insert fails and that worker tries the next.
    """
    import sqlalchemy as sa

    slots = TABLES.slots
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(slots.c.slot, slots.c.trial_id, slots.c.claimed_at).where(
                    slots.c.study_id == study_id
                )
            ).all()
        taken = {row.slot for row in rows}
        orphan_before = time.time() - ORPHAN_SLOT_SECONDS
        orphans = [r.slot for r in rows if r.trial_id is None and r.claimed_at < orphan_before]
        for slot in orphans:
            with engine.begin() as connection:
                updated = connection.execute(
                    slots.update()
                    .where(slots.c.study_id == study_id, slots.c.slot == slot)
                    .where(slots.c.trial_id.is_(None), slots.c.claimed_at < orphan_before)
                    .values(claimed_at=time.time())
                )
            if updated.rowcount == 1:
                return slot
        free = [slot for slot in range(total) if slot not in taken]
        if not free:
            return None
        try:
            with engine.begin() as connection:
                connection.execute(
                    slots.insert(),
                    {"study_id": study_id, "slot": free[0], "claimed_at": time.time()},
                )
            return free[0]
        except sa.exc.IntegrityError:
            continue  # another worker took it first: look again


def attach_slot(engine: sa.Engine, study_id: int, slot: int, trial_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            TABLES.slots.update()
            .where(TABLES.slots.c.study_id == study_id, TABLES.slots.c.slot == slot)
            .values(trial_id=trial_id)
        )


def release_slot(engine: sa.Engine, study_id: int, slot: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            TABLES.slots.delete().where(
                TABLES.slots.c.study_id == study_id, TABLES.slots.c.slot == slot
            )
        )


def free_trial_slot(engine: sa.Engine, study_id: int, trial_id: int) -> None:
    """Give back the slot of a trial that failed for the machine's sake and will not be
    retried again: the study's total counts trials that ran to an outcome of their own
    parameters, so a new trial takes the slot."""
    with engine.begin() as connection:
        connection.execute(
            TABLES.slots.delete().where(
                TABLES.slots.c.study_id == study_id, TABLES.slots.c.trial_id == trial_id
            )
        )


def move_slot(engine: sa.Engine, study_id: int, from_trial_id: int, to_trial_id: int) -> bool:
    """Hand a failed trial's slot to its retry; False if the original held no slot."""
    with engine.begin() as connection:
        moved = connection.execute(
            TABLES.slots.update()
            .where(TABLES.slots.c.study_id == study_id, TABLES.slots.c.trial_id == from_trial_id)
            .values(trial_id=to_trial_id)
        )
    return bool(moved.rowcount)


def free_slots(engine: sa.Engine, study_id: int, total: int) -> int:
    """Slots below `total` not taken, plus orphaned ones: how many trials are left to start."""
    import sqlalchemy as sa

    slots = TABLES.slots
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(slots.c.slot, slots.c.trial_id, slots.c.claimed_at).where(
                slots.c.study_id == study_id
            )
        ).all()
    orphan_before = time.time() - ORPHAN_SLOT_SECONDS
    taken = {r.slot for r in rows if r.trial_id is not None or r.claimed_at >= orphan_before}
    return sum(1 for slot in range(total) if slot not in taken)


def lost_reason(grace_period: float) -> str:
    """The reason of a trial whose worker stopped beating: written and displayed alike."""
    return f"worker lost: no heartbeat for {grace_period:g} s"


def stale_running_trials(
    engine: sa.Engine, study_id: int | None, grace_period: float | None = None
) -> dict[int, float]:
    """RUNNING trials of the study (of every study if None) whose last heartbeat is older
    than the grace period, with that grace: the given one, else the one recorded by the
    trial's worker, else the default.

    One query over RUNNING trials only (through Optuna's index on study_id and the unique one
    on trial_heartbeats.trial_id), so it stays cheap at any study size. Timestamps are the
    database's own, as Optuna writes them.
    """
    return {trial_id: grace for trial_id, _study, grace in _stale(engine, study_id, grace_period)}


def stale_running_counts(engine: sa.Engine) -> dict[int, int]:
    """How many RUNNING trials of each study are lost (see `stale_running_trials`)."""
    counts: dict[int, int] = {}
    for _trial, study_id, _grace in _stale(engine, None, None):
        counts[study_id] = counts.get(study_id, 0) + 1
    return counts


def _stale(
    engine: sa.Engine, study_id: int | None, grace_period: float | None
) -> list[tuple[int, int, float]]:
    import sqlalchemy as sa

    from .storage import HEARTBEAT_GRACE, table_names

    workers = TABLES.workers
    # A database from before the worker registry has no such table (and reads create none).
    grace_column = (
        f"(SELECT MAX(w.grace_period) FROM {workers.name} w WHERE w.trial_id = t.trial_id)"
        if workers.name in table_names(engine)
        else "NULL"
    )
    query = sa.text(
        f"SELECT t.trial_id, t.study_id, h.heartbeat, {grace_column} "
        "AS grace FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
        "WHERE t.state = 'RUNNING'" + (" AND t.study_id = :s" if study_id is not None else "")
    ).columns(
        sa.column("trial_id"), sa.column("study_id"),
        sa.column("heartbeat", sa.DateTime), sa.column("grace"),
    )  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(query, {"s": study_id} if study_id is not None else {}).all()
        if not rows:
            return []
        now = connection.execute(sa.select(sa.func.now())).scalar()
    assert now is not None
    now = now.replace(tzinfo=None)
    stale = []
    for trial_id, study, heartbeat, recorded in rows:
        grace = grace_period if grace_period is not None else (recorded or HEARTBEAT_GRACE)
        if heartbeat is not None and (now - heartbeat.replace(tzinfo=None)).total_seconds() > grace:
            stale.append((int(trial_id), int(study), float(grace)))
    return stale
