"""Faults that used to lose or waste work, with real worker processes and real signals:
a worker paused past its grace period, seeded studies restarted or shared, a database that
cannot be written, and a worker with nothing left to do."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import hptui_env, wait_until, write_space

from hptui.core.studies.reader import StudyReader, TrialRow
from hptui.core.studies.settings import StudySettings, create_study, load_study
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import engine
from hptui.core.workers.registry import list_workers, request_stop
from hptui.core.workers.runner import Worker, WorkerOptions, fail_stale

# A beat a second and a grace the loaded 2-core test machine never reaches by accident.
GRACE = 8
HEARTBEAT = ["--heartbeat", "1", "--grace", str(GRACE)]


def _create(tmp_path: Path, mrpc_dir: Path, url: str, *, sampler: str = "tpe",
            seed: int | None = 0, **fixed: object) -> None:  # fmt: skip
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, **fixed))
    create_study("s", StudySettings(space, sampler=sampler, seed=seed), url)
    engine(url)  # hptui's tables, as `study create` makes them (workers started together)


def _worker(url: str, trials: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", str(trials),
             "--storage", url, *HEARTBEAT, *extra],
            stdout=out, stderr=subprocess.STDOUT, env=hptui_env(),
        )  # fmt: skip


def _running_with_steps(url: str) -> TrialRow | None:
    reader = StudyReader(url)
    for row in reader.trials("s"):
        if row.state == "RUNNING" and reader.curve(row.trial_id).steps:
            return row
    return None


@pytest.mark.slow
def test_a_worker_paused_past_its_grace_gives_up_the_trial_and_goes_on(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, num_epochs=25)
    log = tmp_path / "worker.log"
    process = _worker(storage_url, 2, log)
    try:
        wait_until(lambda: _running_with_steps(storage_url) is not None, what="a training step")
        paused = _running_with_steps(storage_url)
        assert paused is not None
        process.send_signal(signal.SIGSTOP)
        time.sleep(GRACE + 6)
        # Every read shows it lost before anyone has written so.
        (row,) = [r for r in StudyReader(storage_url).trials("s") if r.number == paused.number]
        assert (row.state, row.lost) == ("FAIL", True)
        assert row.reason == f"worker lost: no heartbeat for {GRACE} s"
        (info,) = StudyReader(storage_url).studies()
        assert info.counts.get("RUNNING", 0) == 0 and info.counts["FAIL"] == 1
        # A reader (as `hptui trials` does) writes it failed and queues its retry.
        study = load_study("s", storage_url, heartbeat=(1, GRACE))
        assert fail_stale(study, engine(storage_url), GRACE) == [paused.number]
    finally:
        process.send_signal(signal.SIGCONT)
    assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert f"trial {paused.number} was failed by another process" in text
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows].count("COMPLETE") == 2
    assert "RUNNING" not in [r.state for r in rows] and "WAITING" not in [r.state for r in rows]
    lost = next(r for r in rows if r.number == paused.number)
    assert lost.reason == f"worker lost: no heartbeat for {GRACE} s" and not lost.lost
    retry = [r for r in rows if r.number != paused.number and r.params == lost.params]
    assert [r.state for r in retry] == ["COMPLETE"]


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_restarted_seeded_study_never_repeats_a_point(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, sampler: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, sampler=sampler, seed=1)
    assert Worker(WorkerOptions("s", storage_url, trials=2)).run() == 2
    assert Worker(WorkerOptions("s", storage_url, trials=4)).run() == 2
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 4
    assert len({r.params["learning_rate"] for r in rows}) == 4
    seeds = [r.user_attrs["hptui.sampler_seed"] for r in rows]
    workers = list_workers(storage_url, "s", include_exited=True)
    assert seeds == [1 + workers[0].worker_id] * 2 + [1 + workers[1].worker_id] * 2
    # The record reproduces the stream: the same commands on a fresh database, same points.
    fresh = tmp_path / "again"
    fresh.mkdir()
    again = f"sqlite:///{fresh / 'runs.db'}"
    _create(fresh, mrpc_dir, again, sampler=sampler, seed=1)
    Worker(WorkerOptions("s", again, trials=2)).run()
    Worker(WorkerOptions("s", again, trials=4)).run()
    assert [r.params for r in StudyReader(again).trials("s")] == [r.params for r in rows]


@pytest.mark.slow
def test_two_workers_on_one_seeded_study_propose_different_points(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, sampler="tpe", seed=1)
    log = tmp_path / "workers.log"
    workers = [_worker(storage_url, 6, log), _worker(storage_url, 6, log)]
    assert [w.wait(timeout=600) for w in workers] == [0, 0], log.read_text()[-3000:]
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 6
    assert len({r.params["learning_rate"] for r in rows}) == 6
    assert len({r.user_attrs["hptui.sampler_seed"] for r in rows}) == 2
    assert "Traceback" not in log.read_text()


def test_a_worker_with_nothing_to_do_loads_no_model(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    assert Worker(WorkerOptions("s", storage_url, trials=1)).run() == 1

    def no_preflight(_self: Worker) -> None:
        raise AssertionError("the model was loaded although no trial was left")

    monkeypatch.setattr(Worker, "preflight", no_preflight)
    assert Worker(WorkerOptions("s", storage_url, trials=1)).run() == 0
    (_first, idle) = list_workers(storage_url, "s", include_exited=True)
    assert idle.exit_reason == "no trial left to run"


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
def test_a_read_only_database_stops_the_worker_with_one_line(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    db = tmp_path / "runs.db"
    subprocess.run([sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()", str(db)],
                   check=True, timeout=60)  # fmt: skip
    immutable = subprocess.run(["chattr", "+i", str(db)], capture_output=True, timeout=30)
    if immutable.returncode != 0:
        pytest.skip(f"chattr +i not permitted here: {immutable.stderr.decode().strip()}")
    try:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", "2",
             "--storage", storage_url, *HEARTBEAT],
            capture_output=True, text=True, env=hptui_env(), timeout=120,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "read-only" in errors[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "trial 0" not in result.stdout  # stopped before loading a model or claiming
    assert elapsed < 100 and os.path.getsize(db) > 0
    assert [r.state for r in StudyReader(storage_url).trials("s")] == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_full_disk_stops_the_worker_with_one_line(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """The study's database on a 2 MB tmpfs filled to the last byte, mounted in a private
    mount namespace (needs root or user namespaces; skipped where not allowed)."""
    _create(tmp_path, mrpc_dir, f"sqlite:///{tmp_path / 'seed.db'}")
    subprocess.run([sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
                    str(tmp_path / "seed.db")], check=True, timeout=60)  # fmt: skip
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=2m tmpfs {disk} || exit 97; "
        f"cp {tmp_path / 'seed.db'} {disk}/runs.db; "
        f"dd if=/dev/zero of={disk}/fill bs=4k 2>/dev/null; "
        f'exec "$@"'
    )
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
         sys.executable, "-m", "hptui", "worker", "s", "--trials", "2",
         "--storage", f"sqlite:///{disk}/runs.db", *HEARTBEAT],
        capture_output=True, text=True, env=hptui_env(), timeout=180,
    )  # fmt: skip
    if result.returncode == 97 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()[:200]}")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("hptui worker: error: disk full"), errors
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_three_crash_and_resume_cycles_end_with_exactly_the_seeded_total(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """The issue's acceptance run: a seeded 20-trial study through kill -9, a SIGSTOP past
    the grace period and a SIGTERM restart ends with 20 COMPLETE trials, 20 distinct
    parameter sets, nothing RUNNING or WAITING, and no traceback in any log."""
    _create(tmp_path, mrpc_dir, storage_url, sampler="tpe", seed=7, num_epochs=4)
    log = tmp_path / "workers.log"
    total = 20

    first = _worker(storage_url, total, log)
    wait_until(lambda: _running_with_steps(storage_url) is not None, what="a training step")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    paused = _worker(storage_url, total, log)
    wait_until(lambda: _running_with_steps(storage_url) is not None, timeout=300, what="a step")
    paused.send_signal(signal.SIGSTOP)
    try:
        time.sleep(GRACE + 4)
        restarted = _worker(storage_url, total, log)  # fails the paused worker's trial
        # registered, so its signal handlers are in place (a SIGTERM during its imports
        # would kill it with Python's default action instead)
        wait_until(
            lambda: restarted.pid in [w.pid for w in list_workers(storage_url, "s")],
            timeout=300, what="the restarted worker's registration",
        )  # fmt: skip
        wait_until(
            lambda: any(r.reason and r.reason.startswith("worker lost")
                        for r in StudyReader(storage_url).trials("s")),
            timeout=300, what="the paused trial failed as lost",
        )  # fmt: skip
    finally:
        paused.send_signal(signal.SIGCONT)
    time.sleep(5)
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(timeout=300) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    last = _worker(storage_url, total, log)
    assert [w.wait(timeout=1200) for w in (paused, last)] == [0, 0], log.read_text()[-3000:]

    rows = StudyReader(storage_url).trials("s")
    complete = [r for r in rows if r.state == "COMPLETE"]
    assert len(complete) == total
    assert len({r.params["learning_rate"] for r in complete}) == total
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
    assert "Traceback" not in log.read_text()


def _run_and_stop(url: str) -> None:
    """Run an in-process worker for 1 trial and stop it from the 'console' mid-trial."""
    worker = Worker(WorkerOptions("s", url, trials=1, heartbeat_interval=1, grace_period=GRACE))

    def stop_when_training() -> None:
        wait_until(lambda: worker.row is not None and _running_with_steps(url) is not None,
                  timeout=300, what="a training step")  # fmt: skip
        assert worker.row is not None
        request_stop(url, worker.row.id)

    stopper = threading.Thread(target=stop_when_training, daemon=True)
    stopper.start()
    worker.run()
    stopper.join(timeout=60)


def test_a_retry_that_fails_again_gives_its_slot_to_a_new_trial(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """Stopped twice (not the parameters' fault): the retry is not retried again, and the
    study's total still ends with that many trials that ran to their own outcome."""
    _create(tmp_path, mrpc_dir, storage_url, num_epochs=25)
    _run_and_stop(storage_url)
    _run_and_stop(storage_url)
    first, retry = StudyReader(storage_url).trials("s")
    assert (first.state, retry.state) == ("FAIL", "FAIL") and first.params == retry.params
    assert retry.reason == "stopped from the console"
    assert Worker(WorkerOptions("s", storage_url, trials=1)).run() == 1
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["FAIL", "FAIL", "COMPLETE"]
    assert rows[2].params != first.params
