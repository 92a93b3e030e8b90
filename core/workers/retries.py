"""A trial that failed for the machine's sake gets its one retry, or its slot back, exactly
once, whichever process notices it and whenever.

The failures are many (a worker killed or paused past its grace, a full disk, a signal, an
error) and so are the processes that can notice one (the worker itself, another worker, the
next worker started after a crash), and any of them can die half way. So the decision is
taken on the failed trial's slot row: one process points it at minus the failed trial's id
in a single UPDATE (core/studies/worker_rows.py `lock_slot_for_retry`), queues the retry
through Optuna's storage with the same attributes Optuna's own
`RetryHeartbeatStaleTrialCallback` gives it, and hands the slot to the retry. A lock whose
holder died is taken over after a minute. Every worker settles what is owed before it
looks for a trial (`settle`), so nothing waits for a process that is gone.

Failures that are the parameters' own outcome (an invalid config, a non-finite loss) keep
their slot: they count toward the study's total like a COMPLETE trial.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from hptui.core.studies import attrs
from hptui.core.studies.worker_rows import (
    RETRY_LOCK_SECONDS,
    failed_slot_holders,
    free_trial_slot,
    lock_slot_for_retry,
    unlock_slot,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

log = logging.getLogger("hptui.worker")

# Failure reasons that are the parameters' outcome: never retried, the slot is kept.
OWN_OUTCOMES = ("invalid config", "non-finite")
MAX_RETRY = 1  # as Optuna's callback with max_retry=1: a retry that fails again is not retried


def retry_owed(trial: FrozenTrial) -> bool:
    """Whether a FAIL trial failed for the machine's sake (no reason at all means another
    process failed it as lost)."""
    reason = trial.user_attrs.get(attrs.REASON)
    return not (isinstance(reason, str) and reason.startswith(OWN_OUTCOMES))


def queue_retry(study: optuna.Study, engine: Any, failed: FrozenTrial) -> int | None:
    """Queue the one retry of `failed` (a FAIL trial), moving its slot to the retry, or give
    its slot back when it is itself a retry; returns the retry's trial id, else None. Safe
    to call from any number of processes at once: one takes the slot's lock, the rest do
    nothing. A trial without a slot (from before slots existed) is retried as before."""
    study_id, failed_id = study._study_id, failed._trial_id
    if len(failed.system_attrs.get("retry_history", [])) >= MAX_RETRY:
        free_trial_slot(engine, study_id, failed_id)
        unlock_slot(engine, study_id, failed_id, None)
        return None
    if lock_slot_for_retry(engine, study_id, failed_id):
        # Should this process die here, the lock expires and the next worker goes on.
        retry_id = _existing_retry(study, failed) or _create_retry(study, failed)
        unlock_slot(engine, study_id, failed_id, retry_id)
        return retry_id
    # Lost the lock, or no slot. The winner locks, creates, then moves the slot: a slot
    # at neither the trial nor its lock means the retry exists already (or there is none).
    if _holds_no_slot(engine, study_id, failed_id) and _existing_retry(study, failed) is None:
        return _create_retry(study, failed)
    return None


def settle(study: optuna.Study, engine: Any) -> list[int]:
    """Queue every retry (or free every slot) still owed: a FAIL trial holding a slot whose
    failure was the machine's and that has no retry (its worker died before queueing it, or
    a full disk refused the write), and a retry lock whose holder died. Returns the numbers
    of the trials settled here. One query when nothing is owed."""
    import optuna

    holders = failed_slot_holders(engine, study._study_id, OWN_OUTCOMES)
    if not holders:
        return []
    storage = study._storage
    now = time.time()
    candidates: list[FrozenTrial] = []
    for trial_id, claimed_at in holders:
        if trial_id < 0 and claimed_at >= now - RETRY_LOCK_SECONDS:
            continue  # a lock being used right now
        try:
            trial = storage.get_trial(abs(trial_id))
        except KeyError:
            continue  # the trial is gone (deleted by another tool): not ours to settle
        if trial.state == optuna.trial.TrialState.FAIL and (trial_id < 0 or retry_owed(trial)):
            candidates.append(trial)
    if not candidates:
        return []
    retried = {
        n
        for t in storage.get_all_trials(study._study_id, deepcopy=False)
        for n in t.system_attrs.get("retry_history", [])[-1:]
    }
    settled = []
    for trial in candidates:
        if trial.number in retried and not _lock_of(holders, trial._trial_id):
            continue  # its retry exists and holds (or will take) the slot
        reason = trial.user_attrs.get(attrs.REASON) or "worker lost"
        if queue_retry(study, engine, trial) is not None:
            log.warning("trial %d (%s) had no retry queued: queued now", trial.number, reason)
        elif "retry_history" in trial.system_attrs:
            log.warning("trial %d (%s), a retry, failed again: its slot is free for a new "
                        "trial", trial.number, reason)  # fmt: skip
        else:
            continue
        settled.append(trial.number)
    return settled


def _lock_of(holders: list[tuple[int, float]], trial_id: int) -> bool:
    return any(held == -trial_id for held, _ in holders)


def _holds_no_slot(engine: Any, study_id: int, trial_id: int) -> bool:
    import sqlalchemy as sa

    from hptui.core.studies.storage import TABLES

    slots = TABLES.slots
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(slots.c.slot).where(
                slots.c.study_id == study_id, slots.c.trial_id.in_((trial_id, -trial_id))
            )
        ).first()
    return row is None


def _existing_retry(study: optuna.Study, failed: FrozenTrial) -> int | None:
    """A retry already queued for `failed` (by a lock holder that died before moving the
    slot, or by an older hptui that left the slot with the original)."""
    for trial in study._storage.get_all_trials(study._study_id, deepcopy=False):
        if trial.system_attrs.get("retry_history", [])[-1:] == [failed.number]:
            return int(trial._trial_id)
    return None


def _create_retry(study: optuna.Study, failed: FrozenTrial) -> int:
    """The retry as Optuna's `RetryHeartbeatStaleTrialCallback` makes it (same parameters,
    attributes and retry history), created through the storage so its id is known."""
    import optuna

    system_attrs: dict[str, Any] = {
        "failed_trial": failed.number,
        "retry_history": [],
        **failed.system_attrs,
    }
    system_attrs["retry_history"] = [*system_attrs["retry_history"], failed.number]
    template = optuna.create_trial(
        state=optuna.trial.TrialState.WAITING,
        params=failed.params,
        distributions=failed.distributions,
        user_attrs=failed.user_attrs,
        system_attrs=system_attrs,
    )
    return int(study._storage.create_new_trial(study._study_id, template_trial=template))
