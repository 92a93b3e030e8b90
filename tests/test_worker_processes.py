"""Real worker processes: killed with -9, sent SIGTERM, detached, and two on one file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import hptui_env, wait_until, write_space

from hptui.core.studies.reader import StudyReader, TrialRow
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space

FAST_HEARTBEAT = ["--heartbeat", "1", "--grace", "3"]


def _create(tmp_path: Path, mrpc_dir: Path, url: str, **fixed: object) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, **fixed))
    create_study("s", StudySettings(space, seed=0), url)


def _worker(url: str, trials: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", str(trials),
             "--storage", url, *FAST_HEARTBEAT, *extra],
            stdout=out, stderr=subprocess.STDOUT, env=hptui_env(),
        )  # fmt: skip


def _running_with_steps(url: str) -> TrialRow | None:
    reader = StudyReader(url)
    for row in reader.trials("s"):
        if row.state == "RUNNING" and reader.curve(row.trial_id).steps:
            return row
    return None


def test_kill_9_mid_trial_is_failed_retried_and_nothing_is_lost(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, num_epochs=25)
    log = tmp_path / "worker.log"
    first = _worker(storage_url, 2, log)
    wait_until(lambda: _running_with_steps(storage_url) is not None, what="a training step")
    killed = _running_with_steps(storage_url)
    assert killed is not None
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    check = sqlite3.connect(tmp_path / "runs.db")
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()

    time.sleep(4)  # past the grace period: the killed trial's heartbeat is stale
    second = _worker(storage_url, 2, log)
    assert second.wait(timeout=900) == 0, log.read_text()[-3000:]
    rows = {r.number: r for r in StudyReader(storage_url).trials("s")}
    lost = rows[killed.number]
    assert lost.state == "FAIL" and lost.reason == "worker lost: no heartbeat for 3 s"
    retries = [r for r in rows.values() if r.number != killed.number and r.params == lost.params]
    assert [r.state for r in retries] == ["COMPLETE"]
    assert sum(r.state == "COMPLETE" for r in rows.values()) == 2  # the total, exactly
    assert len(rows) == 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_ends_the_trial_as_failed_and_the_worker_exits(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, signum: signal.Signals
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, num_epochs=25)
    log = tmp_path / "worker.log"
    process = _worker(storage_url, 3, log)
    wait_until(lambda: _running_with_steps(storage_url) is not None, what="a training step")
    process.send_signal(signum)
    assert process.wait(timeout=60) == 128 + signum  # as a shell reports a killed command
    rows = StudyReader(storage_url).trials("s")
    assert rows[0].state == "FAIL" and rows[0].reason.startswith(
        f"killed by {signum.name} at step "
    )
    assert [r.state for r in rows[1:]] == ["WAITING"]  # its retry, queued for the next worker
    assert rows[1].params == rows[0].params
    assert f"exiting after 1 trial(s) ({signum.name})" in log.read_text()


def test_a_detached_worker_outlives_its_parent_and_session(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    # The parent shell starts the worker detached and exits; then its whole process group
    # gets SIGHUP, as when an SSH connection drops.
    parent = subprocess.run(
        [sys.executable, "-m", "hptui", "worker", "s", "--trials", "2", "--detach",
         "--storage", storage_url, *FAST_HEARTBEAT],
        capture_output=True, text=True, env=hptui_env(), timeout=60, start_new_session=True,
    )  # fmt: skip
    assert parent.returncode == 0, parent.stderr
    line = parent.stdout.strip().splitlines()[-1]
    assert line.startswith("worker started: pid ")
    pid = int(line.split()[3].rstrip(","))
    log = Path(line.split(" log ", 1)[1])
    assert log.parent == tmp_path / "hptui-logs"
    assert log.name.endswith(f"-{pid}.log")  # named after the worker, not the parent
    assert os.getsid(pid) == pid  # a session of its own: the terminal's hangup won't reach it
    wait_until(lambda: len(StudyReader(storage_url).trials("s")) >= 1, what="the first trial")
    wait_until(lambda: not _alive(pid), timeout=300, what="the worker to finish")
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE", "COMPLETE"], log.read_text()[-2000:]
    assert "worker done" in log.read_text()


def test_two_workers_share_one_sqlite_file_exactly(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    log = tmp_path / "workers.log"
    workers = [_worker(storage_url, 4, log), _worker(storage_url, 4, log)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0], log.read_text()[-3000:]
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * 4
    assert sorted(r.number for r in rows) == [0, 1, 2, 3]
    hosts = json.dumps([r.user_attrs["hptui.host"] for r in rows])
    assert hosts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A finished child of ours lingers as a zombie until reaped; read its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
