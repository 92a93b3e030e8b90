"""A study for the held-out test tests: three real trials of the tiny model on an MRPC slice
(two COMPLETE, one FAIL), trained once per test session and copied for each test."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import write_space

from hptui.core.studies.final_tests import FinalTest
from hptui.core.studies.store import Store

STUDY = "s"
CHOICES = '[params.learning_rate]\ntype = "categorical"\nchoices = [5e-4, 1e-3, 1e8]'
# number -> learning rate: 0 and 1 complete, 2 diverges (FAIL, non-finite loss).
TRIALS = {0: 1e-3, 1: 5e-4, 2: 1e8}

_template: list[Path] = []


def trained_db(factory: pytest.TempPathFactory, mrpc_dir: Path) -> Path:
    """The trained study's file, made on first use in this session."""
    if not _template:
        from hptui.core.studies.settings import StudySettings, create_study, enqueue
        from hptui.core.studies.space import load_space
        from hptui.core.workers.runner import Worker, WorkerOptions

        folder = factory.mktemp("final-template")
        url = f"sqlite:///{folder / 'runs.db'}"
        space = load_space(write_space(folder / "space.toml", mrpc_dir, params=CHOICES))
        create_study(STUDY, StudySettings(space, sampler="random", seed=0), url)
        for lr in TRIALS.values():
            enqueue(STUDY, url, {"learning_rate": lr})
        assert Worker(WorkerOptions(STUDY, url, trials=len(TRIALS))).run() == len(TRIALS)
        _template.append(folder / "runs.db")
    return _template[0]


def copy_db(source: Path, folder: Path) -> str:
    """A consistent copy of a SQLite study file (WAL included); returns its URL."""
    target = folder / "runs.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def digest(url: str) -> str:
    """The database's bytes, its write-ahead log included (a write may sit there)."""
    path = Path(url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    blob = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return hashlib.sha256(blob).hexdigest()


def add_result(store: Store, study: str, number: int, seed: int, **values: Any) -> FinalTest:
    """Store one final-test row as a retrain would (figures made up unless given)."""
    trial = store.trial_by_number(study, number)
    assert trial is not None
    row: dict[str, Any] = {
        "seed": seed, "status": "completed", "test_f1": 0.80, "test_accuracy": 0.70,
        "test_loss": 0.6, "test_precision": 0.75, "test_recall": 0.86, "test_examples": 1725,
        "val_f1": 0.85, "val_accuracy": 0.78, "val_loss": 0.5, "val_examples": 408,
        "device": "cpu", "host": "test-host", "seconds": 1.5,
    }  # fmt: skip
    row.update(values)
    stored = store.add_final_test(store.reader.study_id(study), study, trial, row)
    assert stored is not None
    return stored
