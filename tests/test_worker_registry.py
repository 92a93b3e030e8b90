"""The worker registry with real worker processes: started detached, listed with their host,
pid and device, stopped through the database, and a reader that never creates anything."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path

import pytest
from conftest import wait_until, write_space

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import engine
from hptui.core.workers.registry import (
    WorkerError,
    WorkerInfo,
    list_workers,
    pid_alive,
    request_stop,
    start_workers,
)

# Beats every second; a generous grace, so a loaded 2-core machine never makes a live
# worker look gone.
HEARTBEAT = {"heartbeat_interval": 1, "grace_period": 30}


def _create(tmp_path: Path, mrpc_dir: Path, url: str, **fixed: object) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, **fixed))
    create_study("s", StudySettings(space, seed=0), url)
    engine(url)  # hptui's tables, as `study create` makes them (workers started together)


def test_a_reader_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    assert list_workers(f"sqlite:///{missing}") == []
    assert not missing.exists()
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.commit()
    assert list_workers(f"sqlite:///{plain}") == []
    tables = {r[0] for r in sqlite3.connect(plain).execute("SELECT name FROM sqlite_master")}
    assert tables == {"t"}


def test_stop_a_worker_unknown_id_is_an_error(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url)
    with pytest.raises(WorkerError, match="no running worker 99"):
        request_stop(storage_url, 99)


@pytest.mark.slow
def test_start_two_workers_list_them_and_stop_one(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create(tmp_path, mrpc_dir, storage_url, num_epochs=25)
    started = start_workers(storage_url, "s", 2, 2, device="cpu", **HEARTBEAT)
    assert len(started) == 2
    for worker in started:
        assert worker.log_path.parent == tmp_path / "hptui-logs"
        assert worker.log_path.name.endswith(f"-{worker.pid}.log")  # the worker's own pid

    def training() -> list[WorkerInfo]:
        workers = list_workers(storage_url, "s")
        return [w for w in workers if w.trial_number is not None and w.status == "alive"]

    wait_until(lambda: len(training()) == 2, what="both workers training a trial")
    workers = training()
    cores = len(os.sched_getaffinity(0))
    assert sorted(w.pid for w in workers) == sorted(s.pid for s in started)
    for w in workers:
        assert (w.study_name, w.host, w.device) == ("s", platform.node(), "cpu")
        # Torch threads: $OMP_NUM_THREADS when set, else the cores shared by the two workers.
        env_threads = os.environ.get("OMP_NUM_THREADS", "")
        assert w.threads == (int(env_threads) if env_threads.isdigit() else max(1, cores // 2))
        assert w.heartbeat_age() < 30 and not w.stop_requested
        assert w.rss_bytes is None or w.rss_bytes > 0
    assert len({w.sampler_seed for w in workers}) == 2  # a seeded study: one stream each

    stopped = workers[0]
    request_stop(storage_url, stopped.worker_id)
    wait_until(lambda: not pid_alive(stopped.pid), timeout=120, what="the stopped worker to exit")
    (after,) = [w for w in list_workers(storage_url, include_exited=True) if w.pid == stopped.pid]
    assert (after.status, after.exit_reason) == ("exited", "stopped from the console")
    assert stopped.pid not in [w.pid for w in list_workers(storage_url)]
    rows = {r.number: r for r in StudyReader(storage_url).trials("s")}
    assert rows[stopped.trial_number].state == "FAIL"
    assert rows[stopped.trial_number].reason == "stopped from the console"
    log = next(s.log_path for s in started if s.pid == stopped.pid).read_text()
    assert "exiting after 1 trial(s) (stopped from the console)" in log
    assert "Traceback" not in log

    other = next(s for s in started if s.pid != stopped.pid)
    wait_until(lambda: not pid_alive(other.pid), timeout=400, what="the other worker to finish")
    rows = {r.number: r for r in StudyReader(storage_url).trials("s")}
    retried = [r for r in rows.values() if r.params == rows[stopped.trial_number].params]
    assert sorted(r.state for r in retried) == ["COMPLETE", "FAIL"]  # retried once
    assert sum(r.state == "COMPLETE" for r in rows.values()) == 2
    (done,) = [w for w in list_workers(storage_url, include_exited=True) if w.pid == other.pid]
    assert (done.status, done.exit_reason) == ("exited", "done")
    assert "Traceback" not in other.log_path.read_text()
