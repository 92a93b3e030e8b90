"""The worker: trains a study's trials one after another in its own process.

Any number of workers, on one host or many, share a study through its storage. Each claims
a slot (so "N trials in total" is exact), takes a waiting trial (a retry, a grid point, a
manual trial) or asks the sampler for a new one, trains it with the one trainer, and writes
every step and evaluation as it goes. Faults become trial states with reasons, never a dead
study: a stale trial (its worker was killed) is failed and retried once, SIGTERM/SIGHUP end
the current trial as FAIL and stop the worker, out-of-memory fails the trial and frees the
GPU for the next, a non-finite loss fails the trial.
"""

from __future__ import annotations

import gc
import logging
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import DataNotFoundError, HptuiError, ModelNotFoundError
from .events import EvalEvent, TrainCallbacks, TrainResult
from .export import update_flat_table
from .records import (
    StepRecorder,
    attach_slot,
    claim_slot,
    log_event,
    move_slot,
    release_slot,
)
from .space import ParamSpec
from .storage import HEARTBEAT_GRACE, HEARTBEAT_INTERVAL, engine, retry_once
from .study import StudySettings, load_settings, load_study

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("hptui.worker")

# Failures worth one more try with the same parameters: the machine, not the parameters,
# was at fault. A non-finite loss or an invalid config would only fail again.
RETRIED_REASONS = ("killed", "out of memory", "error", "worker lost")


@dataclass
class WorkerOptions:
    study: str
    storage_url: str
    trials: int
    data_dir: str | None = None
    device: str | None = None
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = HEARTBEAT_GRACE


@dataclass
class StopSignal:
    """Set by a signal handler (or a test); the trainer polls it between steps."""

    event: threading.Event = field(default_factory=threading.Event)
    reason: str = "stopped"

    def set(self, reason: str) -> None:
        self.reason = reason
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
        # A seeded study stays reproducible with one worker; a second worker started while
        # the first trains gets another seed, so the two do not propose the same points.
        running = len(self.study.get_trials(deepcopy=False, states=(_state("RUNNING"),)))
        if running:
            self.study.sampler = self.settings.make_sampler(seed_offset=running)
        self.storage = self.study._storage
        self.study_id = self.study._study_id
        self.engine = engine(options.storage_url)
        self.total = options.trials
        if self.settings.sampler == "grid":
            self.total = min(self.total, len(self.settings.space.grid()))

    def preflight(self) -> None:
        """Load the model and data of the study's first point before claiming a trial, so a
        host without them fails here, with the fix named, instead of failing trials."""
        from .models import load_bundle
        from .tasks import get_task
        from .trainer import prepare_data

        first = {p.name: _first_value(p) for p in self.settings.space.params}
        config = self.settings.space.config_for(
            first, data_dir=self.options.data_dir, device=self.options.device
        )
        bundle = load_bundle(config.model, get_task(config.task).num_labels)
        prepare_data(config, bundle)

    def run(self) -> int:
        """Train trials until the study's slots are all taken; returns trials trained here."""
        self.preflight()
        trained = 0
        while not self.stop.is_set():
            fail_stale(self.study, self.engine, self.options.grace_period)
            claimed = self.next_trial()
            if claimed is None:
                log.info("study %s has its %d trials: worker done", self.options.study, self.total)
                break
            self.run_trial(claimed)
            trained += 1
        return trained

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
                return int(trial._trial_id)
        slot = claim_slot(self.engine, self.study_id, self.total)
        if slot is None:
            return None
        try:
            for trial in (t for t in waiting if "failed_trial" not in t.system_attrs):
                if self.storage.set_trial_state_values(trial._trial_id, RUNNING):
                    attach_slot(self.engine, self.study_id, slot, trial._trial_id)
                    return int(trial._trial_id)
            trial_id = int(self.storage.create_new_trial(self.study_id))
        except BaseException:
            release_slot(self.engine, self.study_id, slot)
            raise
        attach_slot(self.engine, self.study_id, slot, trial_id)
        return trial_id

    def run_trial(self, trial_id: int) -> None:
        import optuna

        trial = optuna.trial.Trial(self.study, trial_id)
        number = trial.number
        beat = _Heartbeat(self.storage, trial_id, self.options.heartbeat_interval)
        beat.start()
        try:
            state, value, reason = self._train(trial)
        finally:
            beat.stop()
        trial.set_user_attr("hptui.reason", reason)
        frozen = self.study.tell(trial, value if state == "COMPLETE" else None, state=_state(state))
        log_event(self.engine, self.study_id, trial_id, state, reason)
        update_flat_table(self.options.storage_url, self.options.study)  # never raises
        log.info("trial %d %s: %s", number, state, reason)
        if state == "FAIL" and reason.startswith(RETRIED_REASONS):
            retry_once()(self.study, frozen)

    def _train(self, trial: optuna.Trial) -> tuple[str, float | None, str]:
        """Train one trial; returns (state, objective value, reason)."""
        from .trainer import Trainer

        try:
            params = {
                p.name: _suggest(trial, p) for p in self.settings.space.params if p.type != "fixed"
            }
            config = self.settings.space.config_for(
                params, data_dir=self.options.data_dir, device=self.options.device
            )
        except HptuiError as exc:
            return "FAIL", None, f"invalid config: {exc}"
        trial.set_user_attr("hptui.config", config.to_dict())
        trial.set_user_attr("hptui.seed", config.seed)
        log_event(self.engine, self.study_id, trial._trial_id, "RUNNING")
        log.info("trial %d: %s", trial.number, params)

        recorder = StepRecorder(self.engine, trial._trial_id)
        pruned_at: list[int] = []
        objective = self.settings.objective

        def on_eval(event: EvalEvent) -> None:
            recorder.add_eval(event)
            if event.end_of_epoch:
                trial.report(event.metrics[objective], event.epoch)
                if trial.should_prune():
                    pruned_at.append(event.epoch)

        callbacks = TrainCallbacks(
            on_step=recorder.add_step,
            on_eval=on_eval,
            should_stop=lambda: self.stop.is_set() or bool(pruned_at),
        )
        started = time.perf_counter()
        failure = None
        try:
            result = Trainer(config, callbacks).run()
        except (DataNotFoundError, ModelNotFoundError) as exc:
            # This host lacks the data or model: not the parameters' fault. Retry the trial
            # elsewhere (or after a fix) and stop this worker instead of failing every trial.
            self.stop.set("missing data or model")
            failure = f"error: {exc}"
        except HptuiError as exc:
            failure = f"invalid config: {exc}"
        except Exception as exc:
            failure = _failure_reason(exc)
        recorder.flush()
        if failure is not None:
            if failure.startswith("out of memory"):
                _free_memory()  # after the except block: the traceback no longer pins tensors
            return "FAIL", None, failure
        self._record_result(trial, result, time.perf_counter() - started)
        if pruned_at:
            return "PRUNED", None, f"pruned at epoch {pruned_at[0]}"
        if result.completed:
            return "COMPLETE", result.metrics[objective], "completed"
        if result.status.startswith("stopped"):
            step = result.status.rsplit(" ", 1)[-1]
            return "FAIL", None, f"killed by {self.stop.reason} at step {step}"
        return "FAIL", None, result.status  # non-finite loss at step N

    def _record_result(self, trial: optuna.Trial, result: TrainResult, seconds: float) -> None:
        trial.set_user_attr("hptui.metrics", result.metrics)
        trial.set_user_attr("hptui.epochs", result.epochs)
        trial.set_user_attr("hptui.steps", result.steps)
        trial.set_user_attr("hptui.seconds", round(seconds, 3))
        trial.set_user_attr("hptui.examples_per_s", round(result.examples_per_s, 2))
        trial.set_user_attr("hptui.device", result.device)
        trial.set_user_attr("hptui.host", platform.node())
        trial.set_user_attr("hptui.peak_memory_bytes", result.peak_memory_bytes)
        trial.set_user_attr("hptui.versions", library_versions())
        for name, value in result.metrics.items():
            trial.set_user_attr(name, value)  # flat copies, for optuna-dashboard's table

    def _trials(self, state: Any) -> list[optuna.trial.FrozenTrial]:
        return list(self.storage.get_all_trials(self.study_id, deepcopy=False, states=(state,)))


def fail_stale(study: optuna.Study, engine: Any, grace_period: int) -> list[int]:
    """Fail trials whose worker stopped beating (they are retried once), logging a reason.

    Workers call this before each trial and readers when they open a study, so a killed
    worker's trial is accounted for by whoever looks next. Needs a heartbeat storage.
    """
    import optuna

    storage = study._storage
    running = optuna.trial.TrialState.RUNNING

    def running_ids() -> set[int]:
        trials = storage.get_all_trials(study._study_id, deepcopy=False, states=(running,))
        return {t._trial_id for t in trials}

    before = running_ids()
    if not before:
        return []
    optuna.storages.fail_stale_trials(study)
    failed = []
    for trial_id in sorted(before - running_ids()):
        trial = storage.get_trial(trial_id)
        if trial.state == optuna.trial.TrialState.FAIL:
            reason = f"worker lost: no heartbeat for {grace_period} s"
            log.warning("trial %d: %s", trial.number, reason)
            log_event(engine, study._study_id, trial_id, "FAIL", reason)
            failed.append(trial.number)
    return failed


class _Heartbeat:
    """Records the trial's heartbeat every `interval` seconds from a daemon thread."""

    def __init__(self, storage: Any, trial_id: int, interval: int) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hptui-heartbeat", daemon=True)

    def start(self) -> None:
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a missed beat is retried; only a long silence fails it
                log.warning("heartbeat for trial %d failed", self.trial_id, exc_info=True)


def _failure_reason(exc: Exception) -> str:
    import torch

    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return f"out of memory: {text[:200]}"
    log.exception("trial failed")
    return f"error: {type(exc).__name__}: {text[:200]}"


def _suggest(trial: optuna.Trial, param: ParamSpec) -> Any:
    if param.type == "float":
        assert param.low is not None and param.high is not None
        return trial.suggest_float(
            param.name, param.low, param.high, log=param.log, step=param.step
        )
    if param.type == "int":
        assert param.low is not None and param.high is not None
        step = int(param.step) if param.step is not None else 1
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), log=param.log, step=step
        )
    return trial.suggest_categorical(param.name, list(param.choices))


def _first_value(param: ParamSpec) -> Any:
    if param.type == "categorical":
        return param.choices[0]
    if param.type == "fixed":
        return param.value
    return param.low if param.type == "float" else int(param.low or 0)


def _state(name: str) -> optuna.trial.TrialState:
    import optuna

    return optuna.trial.TrialState[name]


def _free_memory() -> None:
    """Give the failed trial's GPU memory back before the next trial starts."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("hptui", "torch", "transformers", "optuna"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "unknown"
    return versions
