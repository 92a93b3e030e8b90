"""The worker: trains a study's trials one after another in its own process.

Any number of workers, on one host or many, share a study through its storage. Each records
itself in the worker registry (core/workers/registry.py), claims a slot (so "N trials in total" is
exact), takes a waiting trial (a retry, a grid point, a manual trial) or asks the sampler for
a new one, trains it with the one trainer, and writes every step and evaluation as it goes.
Faults become trial states with reasons, never a dead study or a dead worker: a stale trial
(its worker was killed) is failed and retried once, SIGTERM/SIGHUP or a stop request end the
current trial as FAIL and stop the worker, out-of-memory fails the trial and frees the GPU for
the next, a non-finite loss fails the trial, any other exception fails only its trial. A
storage that cannot be written (full disk, read-only file) stops the worker with one line.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hptui.core.errors import DataNotFoundError, HptuiError, ModelNotFoundError, first_line
from hptui.core.studies import attrs
from hptui.core.studies.export import update_flat_table
from hptui.core.studies.settings import (
    StudyError,
    StudySettings,
    grid_complete,
    grid_size,
    load_settings,
    load_study,
)
from hptui.core.studies.storage import HEARTBEAT_GRACE, HEARTBEAT_INTERVAL, engine
from hptui.core.studies.worker_rows import (
    StepRecorder,
    attach_slot,
    claim_slot,
    free_slots,
    log_event,
    lost_reason,
    move_slot,
    release_slot,
    running_in_slots,
    stale_running_trials,
)
from hptui.core.training.events import EvalEvent, TrainCallbacks, TrainResult
from hptui.core.training.metrics import one_class_note

from .faults import (
    StorageUnwritable,
    failure_reason,
    free_memory,
    host_cores,
    is_taken_error,
    library_versions,
    metrics_text,
    state,
    unwritable,
)
from .heartbeat import POLL_SECONDS, Heartbeat, LoadSampler, WorkerRow
from .retries import queue_retry, settle

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("hptui.worker")

# Another worker's trial is late when it has not beaten for this many of its intervals (plus
# the heartbeat thread's poll): a worker with nothing to claim waits for such a trial to be
# declared lost and runs its retry, instead of exiting and leaving the study short.
LATE_BEATS = 2
SAY_WAITING_EVERY = 10.0  # seconds between two "waiting for trial N" lines

__all__ = ["StopSignal", "StorageUnwritable", "Worker", "WorkerOptions", "fail_stale"]


@dataclass
class WorkerOptions:
    study: str
    storage_url: str
    trials: int
    data_dir: str | None = None
    device: str | None = None
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = HEARTBEAT_GRACE
    threads: int | None = None  # torch threads; None: this host's cores / its live workers


@dataclass
class StopSignal:
    """Set by a signal handler, a stop request read from the database, or a test; the trainer
    polls it between steps. `requested` tells a console's stop request from a signal."""

    event: threading.Event = field(default_factory=threading.Event)
    reason: str = "stopped"
    requested: bool = False
    signum: int | None = None  # the signal that stopped the worker: it exits 128 + signum

    def set(self, reason: str, *, requested: bool = False, signum: int | None = None) -> None:
        self.reason, self.requested, self.signum = reason, requested, signum
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


class Worker:
    def __init__(self, options: WorkerOptions, stop: StopSignal | None = None) -> None:
        self.options = options
        self.stop = stop or StopSignal()
        self.settings: StudySettings = load_settings(options.study, options.storage_url)
        heartbeat = (options.heartbeat_interval, options.grace_period)
        self.study = load_study(options.study, options.storage_url, heartbeat=heartbeat)
        self.storage = self.study._storage
        self.study_id = self.study._study_id
        self.engine = engine(options.storage_url)
        self.total = options.trials
        if self.settings.sampler == "grid":
            if not grid_complete(self.study):
                raise StudyError(
                    f"the grid of study {options.study!r} was not fully queued (its creation "
                    "was interrupted): run the same `hptui study create` again to queue the rest"
                )
            # every point once, and each with its seed replicates when the study asks
            self.total = min(
                self.total, grid_size(self.settings.space) * self.settings.seeds_per_config
            )
        self.row: WorkerRow | None = None
        self.sampler_seed: int | None = None
        self._heartbeat: Heartbeat | None = None
        self._taken: int | None = None
        # The trial claimed last when it is a configuration's first run (sampled or queued,
        # not a retry): a study with seeds_per_config > 1 queues its seed replicates.
        self._origin: int | None = None
        self._said_waiting: dict[int, float] = {}

    def register(self) -> None:
        """Write this worker's row (which proves the storage writable before anything
        loads), seed its sampler from the row id and start the heartbeat thread."""
        try:
            self.row = WorkerRow.register(
                self.engine, self.study_id, device=self.options.device or "auto",
                heartbeat_interval=self.options.heartbeat_interval,
                grace_period=self.options.grace_period,
            )  # fmt: skip
        except Exception as exc:
            raise (unwritable(exc, self.options.storage_url) or exc) from exc
        if self.settings.seed is not None:
            # The study seed plus this process's unique row id: recorded, so reproducible,
            # and never the stream of an earlier or a concurrent worker of the study.
            self.sampler_seed = self.settings.seed + self.row.id
            self.study.sampler = self.settings.make_sampler(seed_offset=self.row.id)
            self.row.update(sampler_seed=self.sampler_seed)
        self._heartbeat = Heartbeat(
            self.storage, self.row, self.options.heartbeat_interval,
            on_stop=lambda reason: self.stop.set(reason, requested=True),
            on_taken=self._trial_taken,
        )  # fmt: skip
        self._heartbeat.start()

    def preflight(self) -> None:
        """Load the model and data of the study's first point before claiming a trial, so a
        host without them fails here, with the fix named, instead of failing trials."""
        from hptui.core.training.models import load_bundle
        from hptui.core.training.tasks import get_task
        from hptui.core.training.trainer import prepare_data

        first = {p.name: p.first_value() for p in self.settings.space.params}
        config = self.settings.space.config_for(
            first, data_dir=self.options.data_dir, device=self.options.device
        )
        bundle = load_bundle(config.model, get_task(config.task).num_labels)
        prepare_data(config, bundle)

    def run(self) -> int:
        """Train trials until the study's slots are all taken; returns trials trained here.
        Order: record this worker (a write: fails at once on a read-only storage), settle
        what other processes left (lost trials, owed retries), look for work, and only then
        load the model. With nothing to claim it exits when every slot's trial is finished
        or beating on time elsewhere, and waits while one is late (see `_late`): a study
        resumed right after a crash still runs the crashed trial's retry."""
        trained, exit_reason = 0, "error"
        try:
            self.register()
            self.settle()
            if not self.has_work():
                exit_reason = "no trial left to run"
                log.info("study %s has its %d trials: nothing to do", self.options.study,
                         self.total)  # fmt: skip
                return 0
            self._set_device_and_threads()
            self.preflight()
            while not self.stop.is_set():
                self.settle()
                claimed = self.next_trial()
                if claimed is None and self._wait_for_late():
                    continue
                if claimed is None:
                    log.info("study %s has its %d trials: worker done", self.options.study,
                             self.total)  # fmt: skip
                    break
                self.run_trial(claimed)
                trained += 1
            exit_reason = self.stop.reason if self.stop.is_set() else "done"
        except BaseException as exc:
            exit_reason = f"error: {type(exc).__name__}: {str(exc).strip()[:200]}"
            raise
        finally:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            if self.row is not None:
                self.row.exit(exit_reason)
        return trained

    def settle(self) -> None:
        """Account for what other processes left: fail trials whose heartbeat stopped past
        the grace (queueing their retry), then queue any retry still owed (its worker died
        before queueing it, or a full disk refused it; core/workers/retries.py)."""
        fail_stale(self.study, self.engine, self.options.grace_period)
        settle(self.study, self.engine)

    def has_work(self) -> bool:
        """A waiting retry, a free (or orphaned) slot, or a slot held by a trial whose
        heartbeat is late (its retry will be ours): worth loading the model for."""
        import optuna

        waiting = self._trials(optuna.trial.TrialState.WAITING)
        if any("failed_trial" in t.system_attrs for t in waiting):
            return True
        return free_slots(self.engine, self.study_id, self.total) > 0 or bool(self._late())

    def _late(self) -> list[tuple[int, float, float]]:
        """(number, seconds since its last beat, seconds until this worker declares it lost)
        of each RUNNING trial holding a slot whose worker has missed its beats. A trial
        beating on time is left to its worker: should it fail, that worker runs the retry
        itself, or (if the worker is killed) the next worker started waits here for it."""
        late = []
        for _trial_id, number, age, beat in running_in_slots(self.engine, self.study_id):
            interval = max(beat, float(self.options.heartbeat_interval))
            if age is not None and age > LATE_BEATS * interval + POLL_SECONDS:
                late.append((number, age, max(0.0, self.options.grace_period - age)))
        return late

    def _wait_for_late(self) -> bool:
        """With no trial to claim: while a slot's trial is late, say so (with the seconds
        left before it is declared lost) and wait a beat; False when none is late."""
        late = self._late()
        if not late:
            return False
        now = time.monotonic()
        for number, age, left in late:
            if now - self._said_waiting.get(number, -SAY_WAITING_EVERY) >= SAY_WAITING_EVERY:
                self._said_waiting[number] = now
                log.info(
                    "trial %d has not beaten for %.0f s (its worker may be dead): waiting "
                    "%.0f s more for it to be declared lost, then running its retry",
                    number, age, left,
                )  # fmt: skip
        soonest = min(left for _n, _a, left in late)
        self.stop.event.wait(min(float(self.options.heartbeat_interval), max(soonest, 0.2)))
        return True

    def _set_device_and_threads(self) -> None:
        """Torch threads: --threads, else $OMP_NUM_THREADS, else this host's cores shared
        among its live workers (re-read before each trial, as workers come and go); warn
        when oversubscribed."""
        import torch

        from hptui.core.training.trainer import resolve_device

        if self.row is None:
            return
        if self._heartbeat is not None and self._heartbeat.load is None:
            device = str(resolve_device(self.options.device or "auto"))
            self.row.update(device=device)
            self._heartbeat.load = LoadSampler(device)
        cores = host_cores()
        peers = self.row.live_on_host()  # live and beating: a killed worker is not counted
        threads = self.options.threads or _env_threads() or max(1, cores // peers)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            log.info("torch threads: %d (%d core(s), %d worker(s) on this host)", threads,
                     cores, peers)  # fmt: skip
        self.row.update(threads=threads)
        if threads * peers > cores:
            log.warning(
                "%d worker(s) x %d torch thread(s) on %d core(s): they slow each other "
                "down; pass --threads %d", peers, threads, cores, max(1, cores // peers),
            )  # fmt: skip

    def next_trial(self) -> int | None:
        """Claim a trial to run: a waiting retry first (it inherits its original's slot),
        else a free slot with the oldest waiting trial or a new one from the sampler."""
        import optuna

        RUNNING = optuna.trial.TrialState.RUNNING
        waiting = sorted(self._trials(optuna.trial.TrialState.WAITING), key=lambda t: t.number)
        for trial in (t for t in waiting if "failed_trial" in t.system_attrs):
            if self.storage.set_trial_state_values(trial._trial_id, RUNNING):
                failed_number = trial.system_attrs["retry_history"][-1]
                failed = self.storage.get_trial_id_from_study_id_trial_number(
                    self.study_id, failed_number
                )
                move_slot(self.engine, self.study_id, failed, trial._trial_id)
                self._origin = None
                return int(trial._trial_id)
        slot = claim_slot(self.engine, self.study_id, self.total)
        if slot is None:
            return None
        try:
            for trial in (t for t in waiting if "failed_trial" not in t.system_attrs):
                if self.storage.set_trial_state_values(trial._trial_id, RUNNING):
                    attach_slot(self.engine, self.study_id, slot, trial._trial_id)
                    self._origin = int(trial._trial_id)
                    return int(trial._trial_id)
            trial_id = int(self.storage.create_new_trial(self.study_id))
        except BaseException:
            release_slot(self.engine, self.study_id, slot)
            raise
        attach_slot(self.engine, self.study_id, slot, trial_id)
        self._origin = trial_id
        return trial_id

    def run_trial(self, trial_id: int) -> None:
        """Train one claimed trial and record how it ended. A trial failed by someone else
        meanwhile (its heartbeat looked lost) is abandoned with a log line: its retry runs."""
        import optuna

        trial = optuna.trial.Trial(self.study, trial_id)
        number = trial.number
        self._taken = None
        if self._heartbeat is not None:
            self._heartbeat.begin_trial(trial_id)  # at once: a claimed trial always beats
        if self.options.threads is None and _env_threads() is None:
            self._set_device_and_threads()
        try:
            try:
                result_state, value, reason, retry = self._train(trial)
            finally:
                if self._heartbeat is not None:
                    self._heartbeat.end_trial()
            if self._taken == trial_id:
                raise optuna.exceptions.UpdateFinishedTrialError(f"trial {number} was taken")
            if self.sampler_seed is not None:
                trial.set_user_attr(attrs.SAMPLER_SEED, self.sampler_seed)
            if self.row is not None:
                trial.set_user_attr(attrs.WORKER_ID, self.row.id)
            trial.set_user_attr(attrs.REASON, reason)
            value = value if result_state == "COMPLETE" else None
            frozen = self.study.tell(trial, value, state=state(result_state))
        except optuna.exceptions.UpdateFinishedTrialError:
            log.warning(
                "trial %d was failed by another process while this worker trained it (no "
                "heartbeat seen for %d s): abandoned here, its retry runs instead",
                number, self.options.grace_period,
            )  # fmt: skip
            return
        except Exception as exc:
            fault = unwritable(exc, self.options.storage_url)
            if fault is None:
                raise
            self._end_unwritable(trial, str(fault).split(":", 1)[0])
            raise fault from exc
        log_event(self.engine, self.study_id, trial_id, result_state, reason)
        update_flat_table(self.options.storage_url, self.options.study)  # never raises
        log.info("trial %d %s: %s", number, result_state, reason)
        if result_state == "FAIL" and retry:
            queue_retry(self.study, self.engine, frozen)  # a retry failing again: its slot

    def _end_unwritable(self, trial: optuna.Trial, reason: str) -> None:
        """Best effort: end the trial FAIL with `reason` (a full disk may still take these
        few bytes) and queue its retry; what the disk refuses is settled by the next worker:
        a FAIL trial without its retry gets it (core/workers/retries.py), and a trial left
        RUNNING is declared lost after the grace and retried."""
        try:
            trial.set_user_attr(attrs.REASON, reason)
            frozen = self.study.tell(trial, None, state=state("FAIL"))
            log_event(self.engine, self.study_id, trial._trial_id, "FAIL", reason)
            queue_retry(self.study, self.engine, frozen)
        except Exception as exc:
            log.error("trial %d: %s (the next worker retries it)", trial.number,
                      first_line(exc))  # fmt: skip

    def _trial_taken(self, trial_id: int) -> None:
        self._taken = trial_id

    def _train(self, trial: optuna.Trial) -> tuple[str, float | None, str, bool]:
        """Train one trial; returns (state, objective value, reason, retry?). Any exception
        ends this trial, never the worker; a database that cannot be written stops it."""
        try:
            return self._train_unguarded(trial)
        except Exception as exc:
            if unwritable(exc, self.options.storage_url) is not None or is_taken_error(exc):
                raise
            return "FAIL", None, failure_reason(exc), True

    def _train_unguarded(self, trial: optuna.Trial) -> tuple[str, float | None, str, bool]:
        from hptui.core.training.trainer import Trainer

        try:
            params = {
                p.name: p.suggest(trial) for p in self.settings.space.params if p.type != "fixed"
            }
            config = self.settings.space.config_for(
                params, data_dir=self.options.data_dir, device=self.options.device
            )
            seed = self._training_seed(trial, params, config.seed)
            if seed != config.seed:
                config = self.settings.space.config_for(
                    {**params, "seed": seed},
                    data_dir=self.options.data_dir, device=self.options.device,
                )  # fmt: skip
        except HptuiError as exc:
            return "FAIL", None, f"invalid config: {exc}", False
        trial.set_user_attr(attrs.CONFIG, config.to_dict())
        trial.set_user_attr(attrs.SEED, config.seed)
        log_event(self.engine, self.study_id, trial._trial_id, "RUNNING")
        log.info("trial %d: %s", trial.number, params)

        recorder = StepRecorder(self.engine, trial._trial_id)
        pruned_at: list[int] = []
        objective = self.settings.objective
        number, trial_id = trial.number, trial._trial_id

        def on_eval(event: EvalEvent) -> None:
            recorder.add_eval(event)
            log.info("trial %d eval at step %d (epoch %d): %s", number, event.step,
                     event.epoch, metrics_text(event.metrics))  # fmt: skip
            if event.end_of_epoch:
                trial.report(event.metrics[objective], event.epoch)
                if trial.should_prune():
                    pruned_at.append(event.epoch)

        callbacks = TrainCallbacks(
            on_step=recorder.add_step,
            on_eval=on_eval,
            should_stop=lambda: self.stop.is_set() or bool(pruned_at) or self._taken == trial_id,
        )
        started = time.perf_counter()
        failure, retry = None, True
        try:
            result = Trainer(config, callbacks).run()
        except (DataNotFoundError, ModelNotFoundError) as exc:
            # This host lacks the data or model: not the parameters' fault. Retry the trial
            # elsewhere (or after a fix) and stop this worker instead of failing every trial.
            self.stop.set("missing data or model")
            failure = f"error: {exc}"
        except HptuiError as exc:
            failure, retry = f"invalid config: {exc}", False
        except Exception as exc:
            if unwritable(exc, self.options.storage_url) is not None or is_taken_error(exc):
                raise
            failure = failure_reason(exc)
        if self._taken == trial_id:
            return "FAIL", None, "taken", False
        recorder.flush()
        if failure is not None:
            if failure.startswith("out of memory"):
                free_memory()  # after the except block: the traceback no longer pins tensors
            return "FAIL", None, failure, retry
        self._record_result(trial, result, time.perf_counter() - started)
        log.info("trial %d final: %s", number, metrics_text(result.metrics))
        note = one_class_note(result.metrics)
        if note:
            trial.set_user_attr(attrs.WARNING, note)
            log.warning("trial %d %s", number, note)
        if pruned_at:
            return "PRUNED", None, f"pruned at epoch {pruned_at[0]}", False
        if result.completed:
            return "COMPLETE", result.metrics[objective], "completed", False
        if result.status.startswith("stopped"):
            if self.stop.requested:
                return "FAIL", None, self.stop.reason, True
            step = result.status.rsplit(" ", 1)[-1]
            return "FAIL", None, f"killed by {self.stop.reason} at step {step}", True
        return "FAIL", None, result.status, False  # non-finite loss at step N

    # -- seed replicates (core/studies/replicates.py) -----------------------------------

    def _training_seed(self, trial: optuna.Trial, params: dict[str, Any], default: int) -> int:
        """The seed this trial trains with: a replicate's own (`hptui.replicate_seed`);
        in a study with seeds_per_config K > 1, a configuration's first run takes a seed
        unused in its group and queues K - 1 replicates; otherwise the config's seed."""
        user_attrs = trial.user_attrs
        queued = user_attrs.get(attrs.REPLICATE_SEED)
        if isinstance(queued, int) and not isinstance(queued, bool):
            return queued
        if self._origin != trial._trial_id:  # a retry: its original's seed, no new replicates
            inherited = user_attrs.get(attrs.SEED)
            if isinstance(inherited, int) and not isinstance(inherited, bool):
                return inherited
            return default
        if self.settings.seeds_per_config > 1 and attrs.REPLICATE_OF not in user_attrs:
            return self._queue_replicates(trial, params, default)
        return default

    def _queue_replicates(self, trial: optuna.Trial, params: dict[str, Any], default: int) -> int:
        """Queue the seed replicates of a configuration's first run, right when it starts
        (so other workers take them before sampling anew and a total that is a multiple of
        K ends in whole groups), as many as the study's slots left can run; returns the
        seed of the run itself. Seeds are the next unused in the configuration's group."""
        import optuna

        from hptui.core.studies.replicates import (
            config_key,
            next_seeds,
            recorded_seed,
            searched_params,
        )

        names = searched_params(self.settings)
        key = config_key(params, names)
        used: set[int] = set()
        waiting = 0
        for other in self.storage.get_all_trials(self.study_id, deepcopy=False):
            if other._trial_id == trial._trial_id:
                continue
            values = other.params or other.system_attrs.get("fixed_params") or {}
            if config_key(values, names) == key:
                seed = recorded_seed(other.user_attrs)
                used.add(default if seed is None else seed)
            is_waiting = other.state == optuna.trial.TrialState.WAITING
            waiting += is_waiting and "failed_trial" not in other.system_attrs
        seeds = next_seeds(used, default, self.settings.seeds_per_config)
        room = free_slots(self.engine, self.study_id, self.total) - waiting
        replicas = seeds[1 : 1 + max(room, 0)]
        for seed in replicas:
            self.study.enqueue_trial(
                params,
                user_attrs={
                    attrs.SOURCE: "replicate",
                    attrs.REPLICATE_OF: trial.number,
                    attrs.REPLICATE_SEED: seed,
                },
            )
        if replicas:
            log.info("trial %d: queued %d seed replicate(s) of its configuration, seeds %s",
                     trial.number, len(replicas), ", ".join(map(str, replicas)))  # fmt: skip
        return seeds[0]

    def _record_result(self, trial: optuna.Trial, result: TrainResult, seconds: float) -> None:
        trial.set_user_attr(attrs.METRICS, result.metrics)
        trial.set_user_attr(attrs.EPOCHS, result.epochs)
        trial.set_user_attr(attrs.STEPS, result.steps)
        trial.set_user_attr(attrs.SECONDS, round(seconds, 3))
        trial.set_user_attr(attrs.EXAMPLES_PER_S, round(result.examples_per_s, 2))
        trial.set_user_attr(attrs.DEVICE, result.device)
        trial.set_user_attr(attrs.HOST, platform.node())
        trial.set_user_attr(attrs.PEAK_MEMORY_BYTES, result.peak_memory_bytes)
        trial.set_user_attr(attrs.VERSIONS, library_versions())
        for name, value in result.metrics.items():
            trial.set_user_attr(name, value)  # flat copies, for optuna-dashboard's table

    def _trials(self, state: Any) -> list[optuna.trial.FrozenTrial]:
        return list(self.storage.get_all_trials(self.study_id, deepcopy=False, states=(state,)))


def fail_stale(study: optuna.Study, engine: Any, grace_period: float) -> list[int]:
    """Fail trials whose worker stopped beating for `grace_period` s, logging a reason, and
    queue each one's retry (a lost retry gives its slot back instead); returns their numbers.

    Every worker calls this before it looks for a trial (and while it waits for a late
    one), so a killed worker's trial is accounted for by whoever looks next. As Optuna's
    `fail_stale_trials`, a trial is failed by one atomic state change, so of several
    processes noticing it one fails it; the retry is queued under its slot's lock
    (core/workers/retries.py), so a process dying in between leaves it owed, not lost.
    Cheap when nothing is stale: one indexed query over the study's RUNNING trials.
    """
    import optuna

    stale = stale_running_trials(engine, study._study_id, grace_period)
    storage = study._storage
    failed = []
    for trial_id in sorted(stale):
        try:
            won = storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            won = False  # another process failed it first
        if not won:
            continue
        trial = storage.get_trial(trial_id)
        reason = lost_reason(grace_period)
        log.warning("trial %d: %s", trial.number, reason)
        log_event(engine, study._study_id, trial_id, "FAIL", reason)
        queue_retry(study, engine, trial)
        failed.append(trial.number)
    return failed


def _env_threads() -> int | None:
    """$OMP_NUM_THREADS when set to a positive whole number: the user's explicit choice."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
