"""Another tool deletes a study (`optuna delete-study`) and SQLite hands its ids to the next
study: hptui's rows of the deleted one (curves, events, slots, workers) are never shown as
the new study's, and the next write deletes them (core/studies/identity.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import hptui_env, write_space

from hptui.core.studies.identity import IDENTITY_TABLE
from hptui.core.studies.settings import StudySettings, create_study, load_study
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import engine, sqlite_path
from hptui.core.studies.store import Store
from hptui.core.studies.worker_rows import claim_slot, log_event

OPTUNA = Path(sys.executable).with_name("optuna")


def _run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*args], capture_output=True, text=True, env=hptui_env(), timeout=600
    )  # fmt: skip
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _hptui(*args: str) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "hptui", *args)


def _delete_with_optuna(url: str, name: str) -> None:
    _run(str(OPTUNA), "delete-study", "--study-name", name, "--storage", url)


def _count(url: str, table: str, study_id: int) -> int:
    path = sqlite_path(url)
    assert path is not None
    with sqlite3.connect(path) as c:
        return int(
            c.execute(f"SELECT COUNT(*) FROM {table} WHERE study_id = ?", (study_id,)).fetchone()[0]
        )


@pytest.mark.slow
def test_a_study_reusing_a_deleted_ones_id_inherits_nothing(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    _hptui("study", "create", "old", "--space", str(space), "--storage", storage_url)
    _hptui("worker", "old", "--trials", "3", "--storage", storage_url)
    store = Store(storage_url)
    old = store.study("old")
    old_trials = store.trials("old")
    assert len(old_trials) == 3 and all(store.curve(t.trial_id).steps for t in old_trials)
    assert _count(storage_url, "hptui_slots", old.study_id) == 3

    # Another tool deletes it; plain Optuna's next study gets the same study and trial ids.
    _delete_with_optuna(storage_url, "old")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    other = optuna.create_study(study_name="other", storage=storage_url, direction="maximize")
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    store = Store(storage_url)
    info = store.study("other")
    assert info.study_id == old.study_id  # the id was reused: the case this guards
    reused = {t.trial_id for t in store.trials("other")} & {t.trial_id for t in old_trials}
    assert reused, "SQLite reused no trial id: the test no longer covers curves"
    for trial in store.trials("other"):  # read only: nothing is deleted, nothing shown
        assert store.curve(trial.trial_id).steps == []
        assert store.curve(trial.trial_id).evals == []
        assert trial.reason is None
    _delete_with_optuna(storage_url, "other")

    # hptui's next study of another name reuses the id again: created clean, it runs.
    _hptui("study", "create", "fresh", "--space", str(space), "--storage", storage_url)
    store = Store(storage_url)
    fresh = store.study("fresh")
    assert fresh.study_id == old.study_id
    assert store.workers("fresh", include_exited=True) == []
    for table in ("hptui_slots", "hptui_workers", "hptui_trial_events"):
        assert _count(storage_url, table, fresh.study_id) == 0, table
    path = sqlite_path(storage_url)
    assert path is not None
    with sqlite3.connect(path) as c:  # the flat table's rows of the deleted study went too
        assert c.execute("SELECT COUNT(*) FROM hptui_trials WHERE study = 'old'").fetchone() == (0,)
    done = _hptui("worker", "fresh", "--trials", "3", "--storage", storage_url)
    assert "nothing to do" not in done.stdout + done.stderr
    store = Store(storage_url)
    trials = store.trials("fresh")
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    for trial in trials:  # each curve is its own run's, once: no deleted trial's steps
        steps = [row["step"] for row in store.curve(trial.trial_id).steps]
        assert steps and steps == sorted(set(steps))
    assert len(store.workers("fresh", include_exited=True)) == 1


def _study_with_rows(tmp_path: Path, url: str, name: str) -> int:
    """An hptui study with an event and a claimed slot of its own (written by the worker
    functions, without training)."""
    space = load_space(write_space(tmp_path / "space.toml", tmp_path))
    study, _ = create_study(name, StudySettings(space), url)
    trial_id = study._storage.create_new_trial(study._study_id)
    log_event(engine(url), study._study_id, trial_id, "RUNNING")
    assert claim_slot(engine(url), study._study_id, 3) is not None
    return int(study._study_id)


def test_a_rename_keeps_the_studys_rows(tmp_path: Path, storage_url: str) -> None:
    study_id = _study_with_rows(tmp_path, storage_url, "a")
    _hptui("study", "rename", "a", "b", "--storage", storage_url)
    load_study("b", storage_url)  # a writer claims the study: its rows are its own
    assert _count(storage_url, "hptui_slots", study_id) == 1
    assert _count(storage_url, "hptui_trial_events", study_id) == 1


def test_a_study_from_before_identities_is_adopted_with_its_rows(
    tmp_path: Path, storage_url: str
) -> None:
    study_id = _study_with_rows(tmp_path, storage_url, "legacy")
    path = sqlite_path(storage_url)
    assert path is not None
    with sqlite3.connect(path) as c:  # as an older hptui left it: no stamp, no identity
        c.execute(f"DROP TABLE {IDENTITY_TABLE}")
        c.execute("DELETE FROM study_system_attributes WHERE key = 'hptui.identity'")
    claim = (
        f"from hptui.core.studies.settings import load_study; load_study('legacy', {storage_url!r})"
    )
    _run(sys.executable, "-c", claim)  # a writer of this hptui opens it
    with sqlite3.connect(path) as c:
        assert c.execute(f"SELECT COUNT(*) FROM {IDENTITY_TABLE}").fetchone() == (1,)
    assert _count(storage_url, "hptui_slots", study_id) == 1
    assert _count(storage_url, "hptui_trial_events", study_id) == 1


@pytest.mark.slow
def test_a_rename_under_a_running_worker_leaves_the_flat_table_whole(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    import time

    space = write_space(tmp_path / "space.toml", mrpc_dir, num_epochs=3)
    _hptui("study", "create", "s", "--space", str(space), "--storage", storage_url)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", "5",
             "--storage", storage_url],
            stdout=out, stderr=subprocess.STDOUT, env=hptui_env(),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not any(t.state == "COMPLETE" for t in Store(storage_url).trials("s")):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        Store(storage_url).rename_study("s", "t")  # what `hptui study rename s t` runs
        done_at_rename = sum(t.state == "COMPLETE" for t in Store(storage_url).trials("t"))
        assert worker.wait(timeout=300) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert done_at_rename < 5, "the worker finished before the rename: nothing was tested"
    path = sqlite_path(storage_url)
    assert path is not None
    with sqlite3.connect(path) as c:
        flat = c.execute("SELECT study, COUNT(*) FROM hptui_trials GROUP BY study").fetchall()
    assert flat == [("t", 5)]
    assert "Traceback" not in log.read_text()
