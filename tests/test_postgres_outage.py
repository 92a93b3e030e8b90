"""A PostgreSQL outage mid-trial, for real: a worker trains on a throwaway server, the server
is stopped (`pg_ctl stop -m fast`, every connection cut) for 20 s and started again on the
same port; the worker waits, says so in one line, keeps its trial and finishes the study."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import hptui_env, write_space
from pg_server import PgServer, postgres_server

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.retry import RETRY_ENV, StorageUnreachable
from hptui.core.studies.settings import StudySettings, create_study, load_study
from hptui.core.studies.space import load_space

OUTAGE_SECONDS = 20
TRIALS = 2


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    with postgres_server() as started:
        yield started


def _wait_for(log: Path, text: str, worker: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if worker.poll() is not None:
            pytest.fail(f"worker exited before {text!r}:\n" + log.read_text()[-3000:])
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} in the worker log after {timeout} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_worker_rides_out_a_postgres_restart_mid_trial(
    tmp_path: Path, mrpc_dir: Path, server: PgServer
) -> None:
    # Long enough that the stop lands while trial 0 trains (it writes steps every second).
    space = write_space(tmp_path / "space.toml", mrpc_dir, train_limit=1024, num_epochs=2)
    create_study("s", StudySettings(load_space(space), seed=0), server.url)
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", str(TRIALS),
             "--storage", server.url, "--heartbeat", "2", "--grace", "120"],
            stdout=out, stderr=subprocess.STDOUT, env=hptui_env(),
        )  # fmt: skip
    try:
        _wait_for(log, "trial 0: {", worker, timeout=300)  # training has started
        server.stop("fast")
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "worker died in the outage:\n" + log.read_text()[-3000:]
        server.start()
        code = worker.wait(timeout=600)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text(errors="replace")
    tail = text[-4000:]
    assert code == 0, tail
    assert "bug in hptui" not in text and "Traceback" not in text, tail
    assert "storage unreachable: retrying in " in text and "(attempt 1)" in text, tail
    assert "storage back after " in text, tail
    rows = StudyReader(server.url).trials("s")
    assert [r.state for r in rows] == ["COMPLETE"] * TRIALS, tail
    # The trial that was training through the outage kept its run: one trial 0, its curve whole.
    curve = StudyReader(server.url).curve(rows[0].trial_id)
    steps = [s["step"] for s in curve.steps]
    assert steps and steps == sorted(set(steps)), steps
    assert [e["end_of_epoch"] for e in curve.evals].count(True) == 2, curve.evals


def test_an_outage_past_the_retry_budget_is_one_line_never_a_bug(
    tmp_path: Path, mrpc_dir: Path, server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    create_study("short", StudySettings(load_space(space), seed=0), server.url)
    study = load_study("short", server.url)  # reached once: later connects are retried
    monkeypatch.setenv(RETRY_ENV, "2")
    server.stop("fast")
    try:
        with pytest.raises(StorageUnreachable, match=r"^storage unreachable for \d+ s \("):
            study.enqueue_trial({"learning_rate": 3e-4})
        # A command started while the server is down fails at once, with one line.
        done = subprocess.run(
            [sys.executable, "-m", "hptui", "study", "enqueue", "short", "learning_rate=3e-4",
             "--storage", server.url],
            capture_output=True, text=True, env=hptui_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "bug in hptui" not in done.stderr and "Connection refused" in done.stderr
    finally:
        server.start()
    study.enqueue_trial({"learning_rate": 3e-4})  # the same study object, back at work
    assert [t.state.name for t in study.get_trials()] == ["WAITING"]
