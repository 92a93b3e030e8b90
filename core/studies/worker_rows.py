"""Writing what a worker sees into hptui's tables: steps in batched commits, evaluations,
trial events (the cursor readers follow) and the slots that make trial totals exact."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hptui.core.training.events import EvalEvent, StepEvent

from .retry import retrying
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

    @retrying
    def add_eval(self, event: EvalEvent) -> None:
        metrics = {
            k: event.metrics.get(k) for k in ("loss", "accuracy", "f1", "precision", "recall")
        }
        with self.engine.begin() as connection:
            if self._rows:
                connection.execute(TABLES.steps.insert(), self._rows)
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
        self._rows = []  # after the commit: a retried transaction writes them again
        self._mark_flushed()

    @retrying
    def flush(self) -> None:
        if self._rows:
            with self.engine.begin() as connection:
                connection.execute(TABLES.steps.insert(), self._rows)
            self._rows = []
        self._mark_flushed()

    def _mark_flushed(self) -> None:
        self._last_flush = time.monotonic()
        self.flushes += 1


@retrying
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


@retrying
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


@retrying
def attach_slot(engine: sa.Engine, study_id: int, slot: int, trial_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            TABLES.slots.update()
            .where(TABLES.slots.c.study_id == study_id, TABLES.slots.c.slot == slot)
            .values(trial_id=trial_id)
        )


@retrying
def release_slot(engine: sa.Engine, study_id: int, slot: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            TABLES.slots.delete().where(
                TABLES.slots.c.study_id == study_id, TABLES.slots.c.slot == slot
            )
        )


@retrying
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


@retrying
def move_slot(engine: sa.Engine, study_id: int, from_trial_id: int, to_trial_id: int) -> bool:
    """Hand a failed trial's slot to its retry; False if the original held no slot."""
    with engine.begin() as connection:
        moved = connection.execute(
            TABLES.slots.update()
            .where(TABLES.slots.c.study_id == study_id, TABLES.slots.c.trial_id == from_trial_id)
            .values(trial_id=to_trial_id)
        )
    return bool(moved.rowcount)


@retrying
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


# A retry lock (a slot row pointing at minus the failed trial's id) older than this belonged
# to a process that died between taking it and queueing the retry: another may take it over.
RETRY_LOCK_SECONDS = 60


@retrying
def lock_slot_for_retry(engine: sa.Engine, study_id: int, failed_id: int) -> bool:
    """Take the right to queue `failed_id`'s retry (or give its slot back): its slot row is
    pointed at -failed_id in one UPDATE, so of any number of processes noticing the same
    failure at once exactly one wins. An expired lock (its holder died) can be taken again.
    False when another process holds it, or the trial holds no slot."""
    slots = TABLES.slots
    now = time.time()
    with engine.begin() as connection:
        taken = connection.execute(
            slots.update()
            .where(slots.c.study_id == study_id)
            .where(
                (slots.c.trial_id == failed_id)
                | ((slots.c.trial_id == -failed_id)
                   & (slots.c.claimed_at < now - RETRY_LOCK_SECONDS))
            )
            .values(trial_id=-failed_id, claimed_at=now)
        )  # fmt: skip
    return bool(taken.rowcount)


@retrying
def unlock_slot(engine: sa.Engine, study_id: int, failed_id: int, to_trial_id: int | None) -> None:
    """End a retry lock: the slot goes to the retry, or (None) back to the free pool."""
    slots = TABLES.slots
    where = (slots.c.study_id == study_id) & (slots.c.trial_id == -failed_id)
    with engine.begin() as connection:
        if to_trial_id is None:
            connection.execute(slots.delete().where(where))
        else:
            connection.execute(slots.update().where(where).values(trial_id=to_trial_id))


@retrying
def failed_slot_holders(
    engine: sa.Engine, study_id: int, kept: tuple[str, ...] = ()
) -> list[tuple[int, float]]:
    """Slots held by a FAIL trial or by a retry lock: (trial id, or -failed id for a lock,
    claimed_at), leaving out FAIL trials whose `hptui.reason` starts with one of `kept`
    (their parameters' own outcome). One query, usually answering nothing."""
    import sqlalchemy as sa

    from . import attrs

    params: dict[str, Any] = {"s": study_id, "key": attrs.REASON}
    likes = []
    for i, prefix in enumerate(kept):
        params[f"k{i}"] = '"' + prefix.replace("%", "").replace("_", "") + "%"
        likes.append(f"a.value_json LIKE :k{i}")
    own = (
        " AND NOT EXISTS (SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = s.trial_id"
        f" AND a.key = :key AND ({' OR '.join(likes)}))"
        if likes
        else ""
    )
    query = sa.text(
        f"SELECT s.trial_id, s.claimed_at FROM {TABLES.slots.name} s "
        "LEFT JOIN trials t ON t.trial_id = s.trial_id "
        f"WHERE s.study_id = :s AND (s.trial_id < 0 OR (t.state = 'FAIL'{own}))"
    )
    with engine.connect() as connection:
        rows = connection.execute(query, params).all()
    return [(int(r.trial_id), float(r.claimed_at)) for r in rows]


@retrying
def running_in_slots(
    engine: sa.Engine, study_id: int
) -> list[tuple[int, int, float | None, float]]:
    """RUNNING trials that hold a slot: (trial id, number, seconds since their last
    heartbeat or None before the first, their worker's heartbeat interval or 0 if unknown).
    Ages are measured by the database's clock, as Optuna writes heartbeats."""
    import sqlalchemy as sa

    from .storage import table_names

    workers = TABLES.workers
    interval = (
        f"(SELECT MAX(w.heartbeat_interval) FROM {workers.name} w WHERE w.trial_id = t.trial_id)"
        if workers.name in table_names(engine)
        else "NULL"
    )
    query = sa.text(
        f"SELECT t.trial_id, t.number, h.heartbeat, {interval} AS beat "
        f"FROM {TABLES.slots.name} s JOIN trials t ON t.trial_id = s.trial_id "
        "LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
        "WHERE s.study_id = :s AND t.state = 'RUNNING'"
    ).columns(
        sa.column("trial_id"), sa.column("number"),
        sa.column("heartbeat", sa.DateTime), sa.column("beat"),
    )  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(query, {"s": study_id}).all()
        if not rows:
            return []
        now = connection.execute(sa.select(sa.func.now())).scalar()
    assert now is not None
    now = now.replace(tzinfo=None)
    found = []
    for trial_id, number, heartbeat, beat in rows:
        age = None if heartbeat is None else (now - heartbeat.replace(tzinfo=None)).total_seconds()
        found.append((int(trial_id), int(number), age, float(beat or 0)))
    return found


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


@retrying
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
