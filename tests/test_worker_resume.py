"""A study resumed right after a crash reaches its total, every grid point run once: real
worker processes and real signals (kill -9 with an immediate resume, SIGSTOP past the grace,
SIGTERM, a disk that fills up mid-trial), with a short heartbeat so the waits stay short."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import hptui_env, wait_until, write_space

from hptui.core.studies.reader import StudyReader, TrialRow
from hptui.core.studies.settings import StudySettings, create_study, load_study
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import engine
from hptui.core.workers.heartbeat import WorkerRow

GRACE = 8
POINTS = (1e-4, 3e-4, 1e-3)
LOST = f"worker lost: no heartbeat for {GRACE} s"


def _create_grid(tmp_path: Path, mrpc_dir: Path, url: str, points: int = len(POINTS)) -> None:
    choices = ", ".join(map(str, POINTS[:points]))
    params = f'[params.learning_rate]\ntype = "categorical"\nchoices = [{choices}]'
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, params, num_epochs=10))
    create_study("s", StudySettings(space, sampler="grid"), url)
    engine(url)  # hptui's tables, as `study create` makes them


def _command(url: str, trials: int, grace: int = GRACE) -> list[str]:
    return [sys.executable, "-m", "hptui", "worker", "s", "--trials", str(trials),
            "--storage", url, "--heartbeat", "1", "--grace", str(grace)]  # fmt: skip


def _worker(url: str, trials: int, log: Path, grace: int = GRACE) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            _command(url, trials, grace), stdout=out, stderr=subprocess.STDOUT, env=hptui_env()
        )


def _training(url: str, number: int | None = None) -> TrialRow | None:
    """A RUNNING trial (of that number) that has recorded a step: mid-trial."""
    reader = StudyReader(url)
    for row in reader.trials("s"):
        in_run = row.state == "RUNNING" and number in (None, row.number)
        if in_run and reader.curve(row.trial_id).steps:
            return row
    return None


def _assert_every_point_once(url: str, points: int = len(POINTS)) -> list[TrialRow]:
    rows = StudyReader(url).trials("s")
    complete = [r for r in rows if r.state == "COMPLETE"]
    assert len(complete) == points, [(r.number, r.state, r.reason) for r in rows]
    assert sorted(r.params["learning_rate"] for r in complete) == sorted(POINTS[:points])
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
    return rows


@pytest.mark.slow
def test_kill_9_then_an_immediate_resume_runs_every_grid_point_once(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """The issue's run: killed during the last point and resumed at once, the new worker
    used to say "has its N trials: nothing to do" while the killed trial was RUNNING."""
    _create_grid(tmp_path, mrpc_dir, storage_url)
    log = tmp_path / "worker.log"
    first = _worker(storage_url, 3, log)
    wait_until(lambda: _training(storage_url, 2) is not None, what="the last point training")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    # The dead worker's row still looks recent, but it uses no core: not counted when
    # a worker sizes its torch threads.
    study = load_study("s", storage_url)
    probe = WorkerRow.register(
        engine(storage_url), study._study_id, device="cpu", heartbeat_interval=1,
        grace_period=GRACE,
    )  # fmt: skip
    assert probe.live_on_host() == 1
    probe.exit("test probe")

    second = _worker(storage_url, 3, log)  # at once, as anyone does
    assert second.wait(timeout=600) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "nothing to do" not in text and "Traceback" not in text, text[-3000:]
    rows = _assert_every_point_once(storage_url)
    killed = next(r for r in rows if r.number == 2)
    assert (killed.state, killed.reason) == ("FAIL", LOST)
    assert len(rows) == 4  # the three points and the one lost run


@pytest.mark.slow
def test_a_worker_paused_past_the_grace_has_its_trial_retried_by_another(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """SIGSTOP: a second worker runs the other points, waits for the paused one's trial to
    be declared lost, runs its retry and exits with the total; the paused worker, continued,
    abandons the trial taken from it and exits with nothing left to do."""
    _create_grid(tmp_path, mrpc_dir, storage_url)
    log = tmp_path / "workers.log"
    paused = _worker(storage_url, 3, log)
    try:
        wait_until(lambda: _training(storage_url, 0) is not None, what="the first point training")
        paused.send_signal(signal.SIGSTOP)
        other = _worker(storage_url, 3, log)
        assert other.wait(timeout=600) == 0, log.read_text()[-3000:]
        _assert_every_point_once(storage_url)  # all while the first worker is still paused
    finally:
        paused.send_signal(signal.SIGCONT)
    assert paused.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert "trial 0 was failed by another process" in text
    rows = _assert_every_point_once(storage_url)
    lost = next(r for r in rows if r.number == 0)
    assert (lost.state, lost.reason) == ("FAIL", LOST)


@pytest.mark.slow
def test_sigterm_fails_the_trial_exits_143_and_a_resume_runs_its_retry(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    _create_grid(tmp_path, mrpc_dir, storage_url)
    log = tmp_path / "workers.log"
    first = _worker(storage_url, 3, log)
    wait_until(lambda: _training(storage_url, 0) is not None, what="the first point training")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    rows = StudyReader(storage_url).trials("s")
    stopped = next(r for r in rows if r.number == 0)
    assert stopped.state == "FAIL" and stopped.reason.startswith("killed by SIGTERM at step ")
    second = _worker(storage_url, 3, log)
    assert second.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    rows = _assert_every_point_once(storage_url)
    assert len(rows) == 4


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_disk_that_fills_mid_trial_has_the_trial_retried_on_resume(
    tmp_path: Path, mrpc_dir: Path
) -> None:
    """The study's database on a small tmpfs in a private mount namespace (needs root or
    user namespaces; skipped where not allowed): filled to the last byte mid-trial, the
    worker exits 1 with one line; with space freed, a resumed worker runs the trial's
    retry (it used to say "nothing to do") and the study ends with its point run once."""
    seed = f"sqlite:///{tmp_path / 'seed.db'}"
    _create_grid(tmp_path, mrpc_dir, seed, points=1)  # one slot: no other trial hides it
    subprocess.run([sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
                    str(tmp_path / "seed.db")], check=True, timeout=60)  # fmt: skip
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    url = f"sqlite:///{disk}/runs.db"
    worker = " ".join(f"'{part}'" for part in _command(url, 1))
    script = f"""
mount -t tmpfs -o size=16m tmpfs {disk} || exit 97
cp {tmp_path / "seed.db"} {disk}/runs.db
{worker} > {out}/first.log 2> {out}/first.err &
pid=$!
n=0
until grep -q 'eval at step' {out}/first.log; do
  sleep 0.2; n=$((n+1)); [ $n -gt 1500 ] && break
done
dd if=/dev/zero of={disk}/fill bs=4k 2>/dev/null
wait $pid; echo $? > {out}/first.rc
rm {disk}/fill
{worker} > {out}/second.log 2>&1; echo $? > {out}/second.rc
cp {disk}/runs.db* {out}/
"""
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, env=hptui_env(), timeout=900,
    )  # fmt: skip
    if result.returncode == 97 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()[:200]}")
    first_log = (out / "first.log").read_text()
    errors = (out / "first.err").read_text().strip().splitlines()
    assert (out / "first.rc").read_text().strip() == "1", first_log[-3000:]
    assert len(errors) == 1 and errors[0].startswith("hptui worker: error: disk full"), errors
    second_log = (out / "second.log").read_text()
    assert (out / "second.rc").read_text().strip() == "0", second_log[-3000:]
    assert "Traceback" not in first_log + second_log
    copy = f"sqlite:///{out / 'runs.db'}"
    rows = _assert_every_point_once(copy, points=1)
    full = next(r for r in rows if r.number == 0)
    assert full.state == "FAIL" and full.reason.startswith(("disk full", "worker lost")), full


@pytest.mark.slow
def test_a_worker_waits_for_a_late_trial_saying_how_long_and_ctrl_c_exits_130(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """The study's one slot is held by a paused worker's trial: a new worker (with a long
    grace) neither runs anything nor exits; it says it waits, and how long, until a Ctrl-C."""
    _create_grid(tmp_path, mrpc_dir, storage_url)
    log, waiting_log = tmp_path / "paused.log", tmp_path / "waiting.log"
    paused = _worker(storage_url, 1, log)
    try:
        wait_until(lambda: _training(storage_url, 0) is not None, what="the first point training")
        paused.send_signal(signal.SIGSTOP)
        time.sleep(4)  # past two of its beats: its trial is late
        waiting = _worker(storage_url, 1, waiting_log, grace=900)
        wait_until(lambda: "to be declared lost" in waiting_log.read_text(), what="the wait")
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=120) == 128 + signal.SIGINT, waiting_log.read_text()[-3000:]
    finally:
        paused.send_signal(signal.SIGCONT)
    text = waiting_log.read_text()
    line = next(x for x in text.splitlines() if "to be declared lost" in x)
    assert "trial 0 has not beaten for " in line and " s more for it to be declared lost" in line
    assert "nothing to do" not in text and "Traceback" not in text and "trial 0:" not in text
    assert paused.wait(timeout=300) == 0, log.read_text()[-3000:]
    rows = StudyReader(storage_url).trials("s")
    assert [r.state for r in rows].count("COMPLETE") == 1


def test_an_owed_retry_is_queued_once_however_many_processes_notice_it(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    """What a full disk used to leave: a grid point FAIL `disk full` in its slot and no
    retry (and a point that failed for its own parameters, which keeps its slot). Four
    processes settling the study at once queue exactly one retry, holding that slot; a
    worker then runs it and the last point: every point ran to an outcome, once."""
    import optuna

    from hptui.core.studies import attrs
    from hptui.core.workers.runner import Worker, WorkerOptions

    _create_grid(tmp_path, mrpc_dir, storage_url)
    options = WorkerOptions("s", storage_url, trials=3, heartbeat_interval=1, grace_period=GRACE)
    claimer = Worker(options)
    for reason in ("disk full: cannot write to the storage", "invalid config: num_labels"):
        trial_id = claimer.next_trial()
        assert trial_id is not None
        trial = optuna.trial.Trial(claimer.study, trial_id)
        trial.set_user_attr(attrs.REASON, reason)
        claimer.study.tell(trial, None, state=optuna.trial.TrialState.FAIL)

    settle = (
        "import sys; from hptui.core.studies.settings import load_study; "
        "from hptui.core.studies.storage import engine; "
        "from hptui.core.workers.retries import settle; "
        "print(settle(load_study('s', sys.argv[1]), engine(sys.argv[1])))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", settle, storage_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=hptui_env())
        for _ in range(4)
    ]  # fmt: skip
    answers = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, answers
    assert sorted(out.strip() for out, _err in answers) == ["[0]", "[]", "[]", "[]"], answers
    rows = StudyReader(storage_url).trials("s")
    # (the failed trial never drew its point: the retry shows the point it queues again)
    retries = [r for r in rows if r.state == "WAITING" and r.number > 2]
    assert [r.params for r in retries] == [{"learning_rate": POINTS[0]}]
    with engine(storage_url).connect() as c:
        held = dict(c.execute(sa.text("SELECT trial_id, slot FROM hptui_slots")).all())
    assert sorted(held) == sorted([retries[0].trial_id, rows[1].trial_id])

    assert Worker(options).run() == 2
    rows = StudyReader(storage_url).trials("s")
    complete = sorted(r.params["learning_rate"] for r in rows if r.state == "COMPLETE")
    assert complete == [POINTS[0], POINTS[2]]
    assert [r.reason for r in rows if r.number == 1] == ["invalid config: num_labels"]
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
