"""The held-out test (`hptui final`): real retrains of a real tiny-model trial scored on
MRPC's test split, stored apart from Optuna's trials; the "once" rule; the CLI end to end."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import console_data
import pytest
from conftest import MRPC_DIR, hptui_env
from final_data import STUDY, add_result, copy_db, digest, trained_db

from hptui.core.errors import ConfigError
from hptui.core.studies.final_tests import FinalTest, MeanSd, summarize, summary_lines
from hptui.core.studies.store import Store
from hptui.core.training.data import load_split
from hptui.core.training.tasks import MRPC
from hptui.core.workers.final import (
    FinalProgress,
    FinalTestError,
    one_class,
    plan_final,
    run_final,
)


@pytest.fixture
def url(tmp_path_factory: pytest.TempPathFactory, mrpc_dir: Path, tmp_path: Path) -> str:
    """A fresh copy of the trained study: trials 0 and 1 COMPLETE, 2 FAIL."""
    return copy_db(trained_db(tmp_path_factory, mrpc_dir), tmp_path)


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    """The console's fixed study (no training): trials 0, 1, 2, 3, 5 COMPLETE with their
    configs, 4 FAIL, 6 RUNNING. Enough for everything that is checked before training."""
    return console_data.build(tmp_path / "runs.db")


FIXED = "mrpc-tpe"


def optuna_trials(url: str) -> list[tuple[int, str]]:
    path = url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as c:
        return list(c.execute("SELECT number, state FROM trials ORDER BY number"))


def hptui(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui", *args],
        capture_output=True, text=True, env=hptui_env(), timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_retrains_with_distinct_seeds_are_stored_apart_from_the_trials(url: str) -> None:
    store = Store(url)
    before = optuna_trials(url)
    best_before = store.study(STUDY).best_value
    events: list[FinalProgress] = []
    run = run_final(store, STUDY, 0, 2, test_limit=64, on_progress=events.append)
    trial = store.trial_by_number(STUDY, 0)
    assert trial is not None and trial.user_attrs["hptui.seed"] == 42
    assert [r.seed for r in run.rows] == [42, 43]  # the trial's own seed first
    assert [(e.seed, e.row is None) for e in events] == [
        (42, True), (42, False), (43, True), (43, False)
    ]  # fmt: skip
    for row in run.rows:
        assert row.status == "completed" and row.trial_number == 0
        assert (row.test_examples, row.val_examples) == (64, 32)
        for value in (row.test_f1, row.test_accuracy, row.val_f1, row.val_accuracy):
            assert value is not None and 0.0 <= value <= 1.0
        assert row.test_loss is not None and row.test_loss > 0
    assert store.final_tests(STUDY) == list(run.rows)
    # Nothing reached Optuna: the same trials, states and best value.
    assert optuna_trials(url) == before
    assert store.study(STUDY).best_value == best_before
    summary = run.summary
    assert summary is not None and summary.seeds == (42, 43)
    assert summary.trial_f1 == trial.metrics["f1"]
    # A one-class model (the tiny model on 64 pairs often is one) is flagged, never averaged.
    test_labels = load_split(MRPC, "test", MRPC_DIR)["label"][:64]
    for row in run.rows:
        figures = {"accuracy": row.test_accuracy, "precision": row.test_precision,
                   "recall": row.test_recall}  # fmt: skip
        flag = one_class(figures, test_labels)  # type: ignore[arg-type]
        assert row.warning is None or row.warning.startswith("predicts one class only")
        assert flag is None or row.warning == flag
    results = [r for r in run.rows if r.is_result]
    assert (summary.results, summary.flagged) == (len(results), 2 - len(results))
    assert summary.test_f1 == MeanSd.of([r.test_f1 for r in results])  # type: ignore[misc]
    # More seeds add seeds: only the missing one trains.
    events.clear()
    again = run_final(store, STUDY, 0, 3, test_limit=64, on_progress=events.append)
    assert [r.seed for r in again.rows] == [44]
    assert {e.seed for e in events} == {44}
    assert [r.seed for r in store.final_tests(STUDY, 0)] == [42, 43, 44]
    assert optuna_trials(url) == before


def test_another_trial_is_refused_once_the_test_was_used_unless_again(fixed_url: str) -> None:
    store = Store(fixed_url)
    add_result(store, FIXED, 3, 42)
    with pytest.raises(FinalTestError) as refused:
        plan_final(store, FIXED, 5, 3)
    message = str(refused.value)
    assert "already used for trial 3" in message and "--again" in message
    assert "selection" in message and "\n" not in message
    plan = plan_final(store, FIXED, 5, 3, again=True)
    assert plan.again and plan.seeds == (42, 43, 44)
    # The tested trial itself may gain seeds; the ones stored are not trained again.
    assert plan_final(store, FIXED, 3, 1).seeds == ()
    assert plan_final(store, FIXED, 3, 3).seeds == (43, 44)
    summary = store.final_summary(FIXED, 3)
    assert summary is not None and summary.other_trials == ()
    assert summary.trial_f1 == 0.9012 and summary.trial_accuracy == 0.8578
    add_result(store, FIXED, 5, 42, again=True)
    summary = store.final_summary(FIXED, 3)
    assert summary is not None and summary.other_trials == (5,)
    assert any("also used for trial(s) 5" in line for line in summary_lines(summary))
    # A seed stored meanwhile by another process: the first row stays, None says so.
    trial = store.trial_by_number(FIXED, 3)
    assert trial is not None
    values = {"seed": 42, "status": "completed"}
    assert store.add_final_test(store.reader.study_id(FIXED), FIXED, trial, values) is None
    assert [r.seed for r in store.final_tests(FIXED, 3)] == [42]


def test_results_follow_a_renamed_study_and_go_with_a_deleted_one(fixed_url: str) -> None:
    store = Store(fixed_url)
    add_result(store, FIXED, 3, 42)
    store.rename_study(FIXED, "renamed")
    assert [(r.study, r.trial_number) for r in store.final_tests("renamed")] == [("renamed", 3)]
    store.delete_study("renamed")
    path = fixed_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as c:
        assert c.execute("SELECT COUNT(*) FROM hptui_final_tests").fetchone() == (0,)


@pytest.mark.parametrize(
    ("number", "seeds", "expected"),
    [
        (4, 3, "trial 4 is FAIL"),
        (6, 3, "trial 6 is RUNNING"),
        (99, 3, "has no trial 99"),
        (3, 0, "--seeds: must be from 1"),
    ],
)
def test_a_plan_refuses_what_cannot_be_tested(
    fixed_url: str, number: int, seeds: int, expected: str
) -> None:
    with pytest.raises((FinalTestError, ConfigError), match=expected):
        plan_final(Store(fixed_url), FIXED, number, seeds)


def test_a_trial_without_a_stored_config_cannot_be_retrained(fixed_url: str) -> None:
    import optuna

    from hptui.core.studies.storage import optuna_storage

    study = optuna.load_study(study_name=FIXED, storage=optuna_storage(fixed_url))
    study.add_trial(optuna.trial.create_trial(value=0.8, params={}, distributions={}))
    with pytest.raises(FinalTestError, match="no stored training config"):
        plan_final(Store(fixed_url), FIXED, 7, 3)


def _row(seed: int, f1: float | None, accuracy: float | None, **kw: object) -> FinalTest:
    values: dict[str, object] = {
        "study": STUDY, "trial_number": 3, "seed": seed, "status": "completed",
        "warning": None, "test_f1": f1, "test_accuracy": accuracy, "test_loss": 0.5,
        "test_precision": 0.8, "test_recall": 0.9, "test_examples": 1725, "val_f1": 0.88,
        "val_accuracy": 0.82, "val_loss": 0.4, "val_examples": 408, "again": False,
        "device": "cpu", "host": "h", "seconds": 1.0, "created_at": 1.0 + seed,
    }  # fmt: skip
    values.update(kw)
    return FinalTest(**values)  # type: ignore[arg-type]


def test_the_summary_counts_results_only_and_shows_the_drop() -> None:
    rows = [
        _row(42, 0.84, 0.78),
        _row(43, 0.86, 0.80),
        _row(44, 0.7995, 0.6649, warning="predicts one class only: the majority baseline"),
        _row(45, None, None, status="non-finite loss at step 3"),
        _row(42, 0.5, 0.5, trial_number=7),  # another trial's row: not averaged in
    ]
    summary = summarize(STUDY, 3, rows, {"f1": 0.90, "accuracy": 0.85})
    assert summary is not None
    assert (summary.results, summary.flagged, summary.failed) == (2, 1, 1)
    assert summary.seeds == (42, 43, 44, 45) and summary.other_trials == (7,)
    assert summary.test_f1 is not None and summary.test_accuracy is not None
    assert summary.test_f1.mean == pytest.approx(0.85)
    assert summary.test_f1.sd == pytest.approx(statistics.stdev([0.84, 0.86]))
    assert summary.drop_f1 == pytest.approx(0.05)
    assert summary.drop_accuracy == pytest.approx(0.06)
    text = "\n".join(summary_lines(summary))
    assert "f1 0.8500 ± 0.0141" in text and "validation -> test: f1 -0.0500" in text
    assert "1 predicting one class (left out)" in text and "1 failed" in text
    assert summarize(STUDY, 5, rows) is None
    flagged_trial = summarize(STUDY, 3, rows, {"f1": 0.81}, "predicts one class only")
    assert flagged_trial is not None
    assert "the trial itself predicts one class only" in summary_lines(flagged_trial)[0]
    # Only flagged rows: no figure at all, never the one-class model's.
    only_flagged = summarize(STUDY, 3, rows[2:4])
    assert only_flagged is not None and only_flagged.test_f1 is None
    assert "no test figure" in "\n".join(summary_lines(only_flagged))


def test_one_class_models_are_flagged_whichever_class() -> None:
    labels = [1] * 1147 + [0] * 578  # MRPC's test split
    always_yes = {"accuracy": 1147 / 1725, "f1": 0.7987, "precision": 1147 / 1725, "recall": 1.0}
    always_no = {"accuracy": 578 / 1725, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    learned = {"accuracy": 0.75, "f1": 0.82, "precision": 0.8, "recall": 0.85}
    assert one_class(always_yes, labels) == "predicts one class only: the majority baseline"
    assert one_class(always_no, labels) == "predicts one class only: never the positive class"
    assert one_class(learned, labels) is None


def test_the_trainer_scores_another_split_as_it_scores_validation(
    tiny_settings: dict[str, object],
) -> None:
    from hptui.core.training.config import TrainConfig
    from hptui.core.training.trainer import Trainer

    trainer = Trainer(TrainConfig.from_mapping({**tiny_settings, "train_limit": 32}))
    with pytest.raises(RuntimeError, match="run"):
        trainer.evaluate(trainer.data.eval)
    result = trainer.run()
    scores = trainer.evaluate(trainer.data.eval)
    assert scores == pytest.approx(result.metrics)


# -- the command line ---------------------------------------------------------------------


@pytest.mark.slow
def test_cli_prints_each_seed_and_the_summary_and_show_reads_it_back(url: str) -> None:
    done = hptui("final", STUDY, "--trial", "0", "--seeds", "2", "--test-limit", "48",
                 "--storage", url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[1/2] seed 42: retraining trial 0's configuration" in out
    assert "[1/2] seed 42: test f1 " in out and "[2/2] seed 43: test f1 " in out
    assert "trial 0: validation f1 " in out and "retrained 2 time(s), seeds 42, 43" in out
    stored = Store(url).final_tests(STUDY)
    assert [r.seed for r in stored] == [42, 43]
    lines = {
        r.seed: next(x for x in out.splitlines() if f"seed {r.seed}: test" in x) for r in stored
    }
    for row in stored:  # a one-class model is flagged on its line, never averaged
        assert ("FLAGGED: predicts one class only" in lines[row.seed]) == (row.warning is not None)
    results = [r for r in stored if r.is_result]
    assert ("test (48 pairs): f1 " in out) == bool(results)
    assert (" ± " in out) == (len(results) == 2)
    before = digest(url)
    shown = hptui("final", STUDY, "--show", "--storage", url)
    assert shown.returncode == 0, shown.stderr
    assert "seed 42: test f1 " in shown.stdout and "seeds 42, 43" in shown.stdout
    assert digest(url) == before  # --show writes nothing


def _other_trial_tested(url: str) -> None:
    add_result(Store(url), FIXED, 3, 42)


@pytest.mark.parametrize(
    ("args", "expected", "setup"),
    [
        (["--trial", "3", "--seeds", "0"], "--seeds: must be from 1 to 100", None),
        ([], "--trial: which trial to test", None),
        (["--trial", "99"], "--trial 99: study 'mrpc-tpe' has no trial 99", None),
        (["--trial", "4"], "--trial 4: trial 4 is FAIL", None),
        (["--trial", "3", "--test-limit", "0"], "--test-limit: must be at least 1", None),
        (["--trial", "3", "--device", "cuda:7"], "device: cuda:7", None),
        (["--trial", "5"], "already used for trial 3", _other_trial_tested),
        (["--trial", "5", "--detach"], "already used for trial 3", _other_trial_tested),
        (["--trial", "3", "--seeds", "1", "--detach"], "has 1 seed(s) tested already",
         _other_trial_tested),
        (["--trial", "99", "--detach"], "has no trial 99", None),
        (["--show", "--again"], "--again: --show only prints", None),
    ],
    ids=["seeds", "no-trial", "missing-trial", "failed-trial", "test-limit", "device",
         "once", "once-detached", "nothing-to-add", "detached-missing", "show-again"],
)  # fmt: skip
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(
    fixed_url: str, args: list[str], expected: str, setup: object
) -> None:
    if callable(setup):
        setup(fixed_url)
    before = digest(fixed_url)
    done = hptui("final", FIXED, *args, "--storage", fixed_url)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert digest(fixed_url) == before
    assert not (Path(fixed_url.removeprefix("sqlite:///")).parent / "hptui-logs").exists()


def test_cli_refuses_a_missing_study_or_database(tmp_path: Path, fixed_url: str) -> None:
    done = hptui("final", "nope", "--trial", "0", "--storage", fixed_url)
    assert done.returncode == 2 and "no study 'nope'" in done.stderr
    missing = tmp_path / "elsewhere.db"
    done = hptui("final", STUDY, "--trial", "0", "--storage", f"sqlite:///{missing}")
    assert done.returncode == 2 and "no such database" in done.stderr
    assert not missing.exists()


@pytest.fixture
def reap() -> list[int]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for_rows(store: Store, count: int, seconds: float) -> list[FinalTest]:
    deadline = time.monotonic() + seconds
    while True:
        rows = store.final_tests(STUDY)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


@pytest.mark.slow
def test_cli_detach_returns_at_once_and_the_process_stores_its_result(
    url: str, reap: list[int]
) -> None:
    started = time.monotonic()
    done = hptui("final", STUDY, "--trial", "1", "--seeds", "1", "--test-limit", "32",
                 "--detach", "--storage", url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    assert done.stdout.startswith("final test started: pid ")
    pid = int(done.stdout.split("pid ")[1].split(",")[0])
    reap.append(pid)
    log = Path(done.stdout.strip().split("log ")[1])
    assert log.parent.name == "hptui-logs" and log.name.startswith(f"{STUDY}-final-")
    rows = wait_for_rows(Store(url), 1, 240)
    assert [(r.trial_number, r.seed) for r in rows] == [(1, 42)], log.read_text()
    deadline = time.monotonic() + 60
    while "retrained 1 time(s)" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "[1/1] seed 42: test f1 " in log.read_text()
