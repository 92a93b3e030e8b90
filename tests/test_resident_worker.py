"""A resident worker: trial after trial in one process reuses the model bundle, the tokenised
splits, their device copies and the base weights (core/training/resident.py), and gives
exactly the metrics that the same configs and seeds give each in a fresh process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import hptui_env, write_space

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.training import resident
from hptui.core.training.models import load_bundle
from hptui.core.workers.runner import Worker, WorkerOptions

GRID = '[params.learning_rate]\ntype = "categorical"\nchoices = [1e-4, 5e-4, 1e-3]'


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local pretrained checkpoint (the tiny DistilBERT's base, no head), so trials load
    real base weights from disk and initialise their own head from their seed."""
    folder = tmp_path_factory.mktemp("tiny-base")
    bundle = load_bundle("tiny-distilbert")
    bundle.new_model(7).distilbert.save_pretrained(folder)
    bundle.tokenizer.save_pretrained(folder)
    return folder


def _grid_study(tmp_path: Path, mrpc_dir: Path, url: str, model: Path) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir, params=GRID, model=str(model))
    create_study("s", StudySettings(load_space(space), sampler="grid"), url)


def test_a_workers_later_trials_load_nothing_again(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, base_model: Path
) -> None:
    _grid_study(tmp_path, mrpc_dir, storage_url, base_model)
    resident.clear()
    before = resident.stats.snapshot()
    assert Worker(WorkerOptions("s", storage_url, trials=3, threads=1)).run() == 3
    used = resident.stats.since(before)
    # Made once for the whole worker (its preflight, then its first trial)...
    assert used.bundle_misses <= 1 and used.split_misses == 2
    assert used.device_split_misses == 2 and used.weight_misses == 0  # CPU: read at load
    # ...and every trial after reused them: 3 trials x (train, validation).
    assert used.device_split_hits == 4 and used.weight_hits == 3
    assert used.split_hits >= 6 and used.bundle_hits >= 3
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 3


def _train_fresh(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """One `hptui train --json` in a new process with the trial's recorded config."""
    path = folder / f"config-{len(list(folder.glob('config-*')))}.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items() if v is not None))
    done = subprocess.run(
        [sys.executable, "-m", "hptui", "train", "--config", str(path), "--json"],
        env=hptui_env(OMP_NUM_THREADS="1"), text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["event"] == "result" and result["status"] == "completed", result
    return result


@pytest.mark.slow
def test_one_worker_process_matches_fresh_processes_exactly(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, base_model: Path
) -> None:
    _grid_study(tmp_path, mrpc_dir, storage_url, base_model)
    done = subprocess.run(
        [sys.executable, "-m", "hptui", "worker", "s", "--trials", "3", "--storage", storage_url],
        env=hptui_env(OMP_NUM_THREADS="1"), text=True, capture_output=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout
    # Loaded once per worker, said once...
    assert len(re.findall(r"model \S+ loaded from", log)) == 1, log
    per_trial = re.findall(r"resident \(this trial\): (.*)", log)
    assert len(per_trial) == 3, log
    # ...and no trial after the first loaded anything: every cache a hit.
    for line in per_trial[1:]:
        assert re.findall(r"(\d+) loaded", line) == ["0"] * 4, line
        assert "base weights 1 hit" in line and "device splits 2 hit" in line
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 3
    assert len({r.params["learning_rate"] for r in rows}) == 3
    for row in rows:
        fresh = _train_fresh(row.user_attrs["hptui.config"], tmp_path)
        recorded = row.user_attrs["hptui.metrics"]
        assert set(recorded) == {"loss", "accuracy", "f1", "precision", "recall"}
        assert {name: fresh[name] for name in recorded} == recorded, row.number
