"""Workers train real trials of the tiny model and record everything in a real SQLite file."""

from __future__ import annotations

import sqlite3
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import write_space
from worker_faults import first_trial_runs_out_of_memory

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import PRUNERS, SAMPLERS, StudySettings, create_study, enqueue
from hptui.core.studies.space import load_space
from hptui.core.workers.runner import Worker, WorkerOptions

CHOICES = '[params.learning_rate]\ntype = "categorical"\nchoices = [5e-4, 1e-3, 1e4, 1e8]'


def _study(tmp_path: Path, mrpc_dir: Path, url: str, params: str | None = None, **kw: Any) -> None:
    space = load_space(
        write_space(tmp_path / "space.toml", mrpc_dir, params=params, **kw.pop("fixed", {}))
    )
    create_study("s", StudySettings(space, **kw), url)


def _run(url: str, trials: int) -> int:
    return Worker(WorkerOptions("s", url, trials=trials)).run()


def test_three_trials_complete_with_curves_and_provenance(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _study(tmp_path, mrpc_dir, storage_url, seed=0)
    assert _run(storage_url, 3) == 3
    reader = StudyReader(storage_url)
    rows = reader.trials("s")
    assert [(r.number, r.state, r.reason) for r in rows] == [
        (0, "COMPLETE", "completed"), (1, "COMPLETE", "completed"), (2, "COMPLETE", "completed")
    ]  # fmt: skip
    for row in rows:
        assert row.value == row.metrics["f1"]
        curve = reader.curve(row.trial_id)
        assert [s["step"] for s in curve.steps] == [1, 2, 3, 4]
        assert [(e["epoch"], e["end_of_epoch"]) for e in curve.evals] == [(1, True)]
        assert curve.evals[0]["f1"] == row.metrics["f1"]
        attrs = row.user_attrs
        assert attrs["hptui.config"]["learning_rate"] == row.params["learning_rate"]
        assert attrs["hptui.seed"] == 42 and attrs["hptui.device"].startswith("cpu")
        assert attrs["hptui.versions"]["torch"] == version("torch")
        assert attrs["hptui.peak_memory_bytes"] > 0 and attrs["hptui.seconds"] > 0
    # The total counts across runs: asking for 3 again trains nothing more.
    assert _run(storage_url, 3) == 0
    assert _run(storage_url, 4) == 1


def test_a_grid_study_runs_each_point_once(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    params = '[params.learning_rate]\ntype = "categorical"\nchoices = [1e-4, 5e-4, 1e-3]'
    _study(tmp_path, mrpc_dir, storage_url, params=params, sampler="grid")
    assert _run(storage_url, 10) == 3  # the grid caps the total
    rows = StudyReader(storage_url).trials("s")
    assert sorted(r.params["learning_rate"] for r in rows) == [1e-4, 5e-4, 1e-3]
    assert {r.state for r in rows} == {"COMPLETE"}


def test_a_non_finite_loss_fails_the_trial_not_the_study(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _study(tmp_path, mrpc_dir, storage_url, params=CHOICES, fixed={"num_epochs": 2})
    enqueue("s", storage_url, {"learning_rate": 1e8})
    enqueue("s", storage_url, {"learning_rate": 5e-4})
    assert _run(storage_url, 2) == 2
    first, second = StudyReader(storage_url).trials("s")
    assert (first.state, first.reason) == ("FAIL", "non-finite loss at step 2")
    assert (second.state, second.reason) == ("COMPLETE", "completed")
    # Not retried: the same parameters would only diverge again.
    assert len(StudyReader(storage_url).trials("s")) == 2


def test_pruning_stops_a_bad_trial_early(tmp_path: Path, mrpc_dir: Path, storage_url: str) -> None:
    _study(
        tmp_path, mrpc_dir, storage_url, params=CHOICES, objective="loss",
        direction="minimize", pruner="median", fixed={"num_epochs": 3},
    )  # fmt: skip
    for lr in (5e-4, 1e-3, 1e4):
        enqueue("s", storage_url, {"learning_rate": lr})
    assert _run(storage_url, 3) == 3
    reader = StudyReader(storage_url)
    rows = reader.trials("s")
    assert [r.state for r in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert rows[2].reason == "pruned at epoch 1"
    assert [e["epoch"] for e in reader.curve(rows[2].trial_id).evals] == [1]
    assert [e["epoch"] for e in reader.curve(rows[0].trial_id).evals] == [1, 2, 3]


def test_out_of_memory_fails_the_trial_and_the_next_one_runs(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An allocation failure raised inside the real forward pass of the first trial."""
    first_trial_runs_out_of_memory(monkeypatch)
    _study(tmp_path, mrpc_dir, storage_url)
    assert _run(storage_url, 2) == 3  # the failed trial, its retry, and the second trial
    rows = StudyReader(storage_url).trials("s")
    assert rows[0].state == "FAIL" and rows[0].reason.startswith("out of memory: CUDA out of")
    retry = next(r for r in rows[1:] if r.params == rows[0].params)
    assert retry.state == "COMPLETE"
    assert sum(r.state == "COMPLETE" for r in rows) == 2


def test_a_long_reader_transaction_never_fails_a_worker(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _study(tmp_path, mrpc_dir, storage_url)
    reader = sqlite3.connect(tmp_path / "runs.db")
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM trials").fetchone()  # holds a read snapshot
    try:
        assert _run(storage_url, 2) == 2
    finally:
        reader.rollback()
        reader.close()
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE", "COMPLETE"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sampler", "pruner"),
    [(s, "none") for s in SAMPLERS] + [("random", p) for p in PRUNERS if p != "none"],
)
def test_every_sampler_and_pruner_runs_a_few_trials(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, sampler: str, pruner: str
) -> None:
    params = (
        '[params.learning_rate]\ntype = "categorical"\nchoices = [1e-4, 5e-4, 1e-3]'
        if sampler == "grid"
        else None
    )
    _study(tmp_path, mrpc_dir, storage_url, params=params, sampler=sampler, pruner=pruner,
           seed=0, fixed={"num_epochs": 2, "train_limit": 32})  # fmt: skip
    assert _run(storage_url, 3) == 3
    rows = StudyReader(storage_url).trials("s")
    assert len(rows) == 3 and {r.state for r in rows} <= {"COMPLETE", "PRUNED"}, [
        (r.state, r.reason) for r in rows
    ]
    assert len({r.params["learning_rate"] for r in rows}) == 3
