"""A held-out test, once: retrain a chosen trial's configuration with K seeds and score each
retrain on the task's labelled test split (MRPC's `test.tsv`, 1,725 pairs).

The study chose its trial by validation score, so that score is the best of many noisy
draws: optimistic (the winner's curse). Retraining the same configuration with other seeds
and scoring on data nothing was tuned on shows by how much. The results go to
`hptui_final_tests` (see `hptui.core.studies.final_tests`), never to Optuna's trials, so no
sampler and no `best` ever sees them.

"Once": the test split is for one final look. A study whose test split was already used for
another trial is refused unless `again=True`: testing several candidates and keeping the
best makes the test score a selection too. The same trial may gain seeds: `seeds` is the
number of seeds the trial is tested with in total (its own seed first, then the next ones),
so a run that was stopped, or one asked for more, trains only the seeds not yet stored.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hptui.core.errors import ConfigError, DataNotFoundError, HptuiError
from hptui.core.studies import attrs
from hptui.core.studies.final_tests import (
    FinalSummary,
    FinalTest,
    read_final_tests,
    summarize_trial,
)
from hptui.core.training.config import MAX_TRAIN_SEED, TrainConfig, check_device
from hptui.core.training.metrics import one_class_note

if TYPE_CHECKING:
    from hptui.core.studies.reader import TrialRow
    from hptui.core.studies.store import Store
    from hptui.core.training.data import TokenizedSplit
    from hptui.core.training.models import ModelBundle

    from .registry import StartedWorker

log = logging.getLogger("hptui.final")

MAX_SEEDS = 100
# Seeds are stored as signed 64-bit integers (SQLite's and PostgreSQL's BIGINT).
MAX_STORED_SEED = 2**63 - 1

__all__ = [
    "FinalPlan",
    "FinalProgress",
    "FinalRun",
    "FinalTestError",
    "held_out_split",
    "one_class",
    "plan_final",
    "run_final",
    "spawn_final",
]


class FinalTestError(HptuiError):
    """A final test that must not run: no such trial, not finished, or the test split was
    already used for another trial of the study."""


@dataclass(frozen=True)
class FinalPlan:
    """What `run_final` will do, checked before anything is trained or written."""

    study: str
    study_id: int
    trial: TrialRow
    config: TrainConfig  # the trial's stored config, with this host's data_dir and device
    seeds: tuple[int, ...]  # to train now
    done: tuple[int, ...]  # already stored for this trial
    again: bool  # the test split was used for another trial and `again` was given
    test_limit: int | None


@dataclass(frozen=True)
class FinalProgress:
    """Before a retrain (`row` None) and after it (`row` as stored; None again when another
    process stored that seed meanwhile, `stored` False)."""

    seed: int
    index: int  # 0-based, of `total`
    total: int
    row: FinalTest | None = None
    stored: bool = True


@dataclass(frozen=True)
class FinalRun:
    plan: FinalPlan
    rows: tuple[FinalTest, ...]  # stored by this run
    summary: FinalSummary | None


def plan_final(
    store: Store,
    study: str,
    trial_number: int,
    seeds: int,
    *,
    again: bool = False,
    data_dir: str | None = None,
    device: str | None = None,
    test_limit: int | None = None,
) -> FinalPlan:
    """Check a final test through reads only (nothing is written): the study and trial exist,
    the trial is COMPLETE with its stored config, the test split was not used for another
    trial (unless `again`), the device exists; and work out the seeds still to train."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError("--seeds", f"must be from 1 to {MAX_SEEDS} (got {seeds})")
    if test_limit is not None and test_limit < 1:
        raise ConfigError("--test-limit", f"must be at least 1 (got {test_limit})")
    reader = store.reader
    study_id = reader.study_id(study)  # a missing study says so, naming `study list`
    trial = _trial(store, study, trial_number)
    config = _trial_config(trial)
    changes: dict[str, object] = {}
    if data_dir:
        changes["data_dir"] = data_dir
    if device:
        changes["device"] = device
    if changes:
        config = config.replace(**changes)
    check_device(config.device)
    existing = read_final_tests(reader, study)
    others = [row for row in existing if row.trial_number != trial_number]
    if others and not again:
        first = min(others, key=lambda row: row.created_at)
        tested = sorted({row.trial_number for row in others})
        raise FinalTestError(
            f"--trial {trial_number}: the test split of study {study!r} was already used for "
            f"trial {', '.join(map(str, tested))} ({_when(first.created_at)}); the test is for "
            "one final look: testing several candidates and keeping the best makes the test "
            "score a selection again, as optimistic as the validation score. Pass --again to "
            "test this trial anyway (its results say so)"
        )
    done = tuple(row.seed for row in existing if row.trial_number == trial_number)
    wanted = [config.seed + i for i in range(seeds)]
    if wanted[-1] > min(MAX_TRAIN_SEED, MAX_STORED_SEED):
        raise ConfigError(
            "--seeds", f"the trial's seed {config.seed} plus {seeds} seeds passes 2**63 - 1"
        )
    return FinalPlan(
        study=study,
        study_id=study_id,
        trial=trial,
        config=config,
        seeds=tuple(s for s in wanted if s not in done),
        done=done,
        again=bool(others),
        test_limit=test_limit,
    )


def run_final(
    store: Store,
    study: str,
    trial_number: int,
    seeds: int,
    *,
    data_dir: str | None = None,
    device: str | None = None,
    on_progress: Callable[[FinalProgress], None] | None = None,
    again: bool = False,
    test_limit: int | None = None,
) -> FinalRun:
    """Retrain trial `trial_number`'s configuration with each seed still missing (the trial's
    own seed first, then the next ones, `seeds` in all), on the train split; score each on
    the validation and the test split; store each result as it is made. The first
    `test_limit` test pairs only, when given (tests, demos)."""
    plan = plan_final(
        store, study, trial_number, seeds,
        again=again, data_dir=data_dir, device=device, test_limit=test_limit,
    )  # fmt: skip
    stored: list[FinalTest] = []
    if plan.seeds:
        stored = _retrain(store, plan, on_progress or (lambda _progress: None))
    rows = read_final_tests(store.reader, study)
    summary = summarize_trial(study, trial_number, rows, plan.trial)
    return FinalRun(plan, tuple(stored), summary)


def _retrain(
    store: Store, plan: FinalPlan, on_progress: Callable[[FinalProgress], None]
) -> list[FinalTest]:
    from hptui.core.training.models import load_bundle
    from hptui.core.training.tasks import get_task
    from hptui.core.training.trainer import Trainer

    from .faults import free_memory

    task = get_task(plan.config.task)
    bundle = load_bundle(plan.config.model, task.num_labels)
    test = held_out_split(plan.config, bundle, plan.test_limit)
    stored: list[FinalTest] = []
    for index, seed in enumerate(plan.seeds):
        on_progress(FinalProgress(seed, index, len(plan.seeds)))
        config = plan.config.replace(seed=seed)
        log.info("trial %d seed %d: training", plan.trial.number, seed)
        trainer = Trainer(config, bundle=bundle)
        result = trainer.run()
        values: dict[str, object] = {
            "seed": seed, "status": result.status, "again": plan.again,
            "device": result.device, "host": platform.node(), "seconds": round(result.seconds, 3),
            "val_examples": len(trainer.data.eval), "test_examples": len(test),
        }  # fmt: skip
        if result.completed:
            scores = trainer.evaluate(test)
            values.update({f"test_{k}": scores[k] for k in ("f1", "accuracy", "loss")})
            values.update({f"test_{k}": scores[k] for k in ("precision", "recall")})
            values.update({f"val_{k}": result.metrics.get(k) for k in ("f1", "accuracy", "loss")})
            values["warning"] = one_class(scores, test.labels, task.positive_label) or one_class(
                result.metrics, trainer.data.eval.labels, task.positive_label
            )
        del trainer
        row = store.add_final_test(plan.study_id, plan.study, plan.trial, values)
        if row is not None:
            stored.append(row)
        on_progress(FinalProgress(seed, index, len(plan.seeds), row, row is not None))
        if result.device and not result.device.startswith("cpu"):
            free_memory()
    return stored


def held_out_split(config: TrainConfig, bundle: ModelBundle, limit: int | None) -> TokenizedSplit:
    """The task's test split, tokenised like the training data, its first `limit` pairs
    when given; refused when it carries no labels (the hub's GLUE test splits have -1)."""
    from hptui.core.training.data import resolve_data_dir, tokenized_split
    from hptui.core.training.tasks import get_task

    task = get_task(config.task)
    data_dir = resolve_data_dir(config.data_dir)
    split = tokenized_split(
        task, task.test_split, data_dir, bundle.tokenizer, bundle.source, config.max_seq_length
    ).head(limit)
    if not split.labels or any(not 0 <= label < task.num_labels for label in split.labels):
        where = data_dir or f"the hub's {'/'.join(task.hub_path)}"
        raise DataNotFoundError(
            f"the {task.test_split} split of {where} has no labels (or labels outside 0 to "
            f"{task.num_labels - 1}); pass --data-dir with a GLUE folder whose "
            f"{task.glue_files.get(task.test_split, 'test file')} is labelled"
        )
    return split


def one_class(metrics: dict[str, float], labels: list[int], positive: int = 1) -> str | None:
    """`one_class_note`, and also a model that never predicts the positive class (recall 0
    with the accuracy of the negatives' share, which only that model scores)."""
    note = one_class_note(metrics)
    if note or not labels:
        return note
    negatives = sum(1 for label in labels if label != positive) / len(labels)
    if metrics.get("recall") == 0.0 and abs(metrics.get("accuracy", -1.0) - negatives) < 1e-12:
        return "predicts one class only: never the positive class"
    return None


def spawn_final(
    store: Store,
    study: str,
    trial_number: int,
    seeds: int,
    *,
    again: bool = False,
    data_dir: str | None = None,
    device: str | None = None,
    test_limit: int | None = None,
) -> StartedWorker:
    """Check the final test at once (errors are one line here, not in a log), then start
    `hptui final` detached, logging under hptui-logs next to the database. Refuses when
    every seed asked for is stored already (nothing would run)."""
    from .registry import spawn_hptui

    plan = plan_final(
        store, study, trial_number, seeds,
        again=again, data_dir=data_dir, device=device, test_limit=test_limit,
    )  # fmt: skip
    if not plan.seeds:
        raise FinalTestError(
            f"--seeds {seeds}: trial {trial_number} has {len(plan.done)} seed(s) tested "
            f"already; ask for more than {len(plan.done)} to add seeds"
        )
    arguments = ["final", study, "--trial", str(trial_number), "--seeds", str(seeds)]
    for flag, value in (("--data-dir", data_dir), ("--device", device),
                        ("--test-limit", test_limit)):  # fmt: skip
        if value is not None and value != "":
            arguments += [flag, str(value)]
    if again:
        arguments.append("--again")
    return spawn_hptui(store.url, study, arguments, kind="final")


def _trial(store: Store, study: str, number: int) -> TrialRow:
    trial = store.trial_by_number(study, number)
    if trial is None:
        raise FinalTestError(
            f"--trial {number}: study {study!r} has no trial {number}; `hptui trials "
            f"{study}` lists them"
        )
    if trial.state != "COMPLETE":
        raise FinalTestError(
            f"--trial {number}: trial {number} is {trial.state}; only a COMPLETE trial has a "
            "result worth testing"
        )
    return trial


def _trial_config(trial: TrialRow) -> TrainConfig:
    stored = trial.user_attrs.get(attrs.CONFIG)
    if not isinstance(stored, dict):
        raise FinalTestError(
            f"--trial {trial.number}: trial {trial.number} has no stored training config "
            f"({attrs.CONFIG}): it was not trained by an hptui worker, so it cannot be retrained"
        )
    try:
        return TrainConfig.from_mapping(stored)
    except ConfigError as exc:
        raise FinalTestError(
            f"--trial {trial.number}: its stored config does not load here ({exc})"
        ) from None


def _when(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
