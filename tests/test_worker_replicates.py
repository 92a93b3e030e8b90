"""Seed replicates trained for real: queued by `hptui study replicate` and run by a worker
process, and a study that asks for K seeds per configuration reaching its total exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hptui_env, write_space
from worker_faults import first_trial_runs_out_of_memory

from hptui.core.studies.reader import StudyReader, TrialRow
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.workers.runner import Worker, WorkerOptions

pytestmark = pytest.mark.slow


def _hptui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui", *args], env=hptui_env(), capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip


def _create(tmp_path: Path, mrpc_dir: Path, url: str, seeds_per_config: int = 1) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    settings = StudySettings(space, sampler="random", seed=0, seeds_per_config=seeds_per_config)
    create_study("s", settings, url)


def _by_config(rows: list[TrialRow]) -> dict[float, list[TrialRow]]:
    groups: dict[float, list[TrialRow]] = {}
    for row in rows:
        groups.setdefault(row.params["learning_rate"], []).append(row)
    return groups


def test_cli_replicates_are_run_by_a_worker_process_each_with_its_own_seed(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    first = _hptui("worker", "s", "--trials", "2", "--storage", storage_url)
    assert first.returncode == 0, first.stderr[-3000:]
    queued = _hptui("study", "replicate", "s", "--trials", "0,1", "--seeds", "2",
                    "--storage", storage_url)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert "trial 0: seeds 43, 44" in queued.stdout and "trial 1: seeds 43, 44" in queued.stdout
    second = _hptui("worker", "s", "--trials", "6", "--storage", storage_url)
    assert second.returncode == 0, second.stderr[-3000:]

    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 6
    groups = _by_config(rows)
    assert sorted(len(g) for g in groups.values()) == [3, 3]
    for group in groups.values():
        seeds = [r.user_attrs["hptui.seed"] for r in group]
        assert sorted(seeds) == [42, 43, 44]  # distinct, recorded, the original's first
        for row in group:
            assert row.user_attrs["hptui.config"]["seed"] == row.user_attrs["hptui.seed"]
        original, *replicas = group
        assert {r.user_attrs["hptui.replicate_of"] for r in replicas} == {original.number}
    # Different seeds train differently: the replicates measure the seed noise.
    losses = {r.metrics["loss"] for g in groups.values() for r in g}
    assert len(losses) == 6

    listed = _hptui("trials", "s", "--group", "--format", "json", "--storage", storage_url)
    assert listed.returncode == 0, listed.stderr
    configs = json.loads(listed.stdout)
    assert [c["n"] for c in configs] == [3, 3]
    assert sorted(c["seeds"] for c in configs) == ["42 43 44", "42 43 44"]
    table = _hptui("trials", "s", "--group", "--storage", storage_url)
    assert "best by mean f1: #" in table.stdout


def test_a_study_with_k_seeds_per_configuration_reaches_its_total_in_whole_groups(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, seeds_per_config=3)
    assert Worker(WorkerOptions("s", storage_url, trials=6)).run() == 6
    rows = StudyReader(storage_url).trials("s")
    assert len(rows) == 6 and all(r.state == "COMPLETE" for r in rows)
    groups = _by_config(rows)
    assert sorted(len(g) for g in groups.values()) == [3, 3]  # 2 configurations x 3 seeds
    for group in groups.values():
        assert sorted(r.user_attrs["hptui.seed"] for r in group) == [42, 43, 44]
        assert [r.user_attrs.get("hptui.source") for r in group[1:]] == ["replicate"] * 2
    # A total that is not a multiple of K: the last configuration gets the one slot left,
    # and no replicate is queued that no slot would run.
    assert Worker(WorkerOptions("s", storage_url, trials=7)).run() == 1
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 7
    assert sorted(len(g) for g in _by_config(rows).values()) == [1, 3, 3]


def test_a_retried_first_run_keeps_its_seed_and_queues_no_more_replicates(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first trial runs out of memory in its real forward pass: its retry trains with
    the same seed and its configuration still ends with exactly K = 2 seeds."""
    first_trial_runs_out_of_memory(monkeypatch)
    _create(tmp_path, mrpc_dir, storage_url, seeds_per_config=2)
    assert Worker(WorkerOptions("s", storage_url, trials=4)).run() == 5  # + the failed one
    rows = StudyReader(storage_url).trials("s")
    assert rows[0].state == "FAIL" and rows[0].reason.startswith("out of memory")
    done = [r for r in rows if r.state == "COMPLETE"]
    assert len(done) == 4 and not [r for r in rows if r.state == "WAITING"]
    groups = _by_config(done)
    assert sorted(len(g) for g in groups.values()) == [2, 2]
    for group in groups.values():
        assert sorted(r.user_attrs["hptui.seed"] for r in group) == [42, 43]
