"""The worker feed without a front end: a real detached worker that fails on missing data
stays listed as exited with its reason, and its log's tail is read; a log followed while it
grows gives only the new lines; a worker on another host is said to log there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import write_space

from hptui.core.studies.settings import StudySettings
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import TABLES, engine
from hptui.core.studies.store import Store
from hptui.core.views.workers import LogTail, WorkersFeed, state_line
from hptui.core.workers.heartbeat import WorkerRow


@pytest.fixture
def store(tmp_path: Path, mrpc_dir: Path) -> Store:
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    store.create_study("feed", StudySettings(load_space(space), sampler="random", seed=1))
    return store


def _row(store: Store) -> WorkerRow:
    """A registry row written the way a worker writes its own (this process is the worker)."""
    return WorkerRow.register(
        engine(store.url),
        store.study("feed").study_id,
        device="cpu",
        heartbeat_interval=5,
        grace_period=60,
    )


def test_a_worker_that_fails_on_missing_data_stays_listed_with_its_reason(store: Store) -> None:
    """Before the feed, the home screen read only workers that had not exited: this one
    vanished, its reason only in its log file."""
    started = store.start_workers("feed", 1, 1, data_dir="/nonexistent", device="cpu")
    deadline = time.monotonic() + 120
    feed = WorkersFeed(store)
    while True:
        update = feed.poll()
        if update.workers and update.workers[0].status == "exited":
            break
        assert time.monotonic() < deadline, "the worker never exited"
        time.sleep(0.5)
    (worker,) = update.workers
    assert worker.pid == started[0].pid
    assert "data not found" in (worker.exit_reason or "")
    assert state_line(worker).startswith("exited: error:")
    assert update.live == ()  # an exited worker is not counted as live

    tail = LogTail(store, worker)
    assert tail.path == started[0].log_path
    log = tail.poll()
    assert log.note is None and log.reset and not log.running
    last = started[0].log_path.read_text().rstrip("\n").splitlines()[-1]
    assert log.lines[-1] == last
    assert "data not found" in "\n".join(log.lines)

    feed.show_exited = False
    hidden = feed.poll()
    assert hidden.workers == () and hidden.exited_hidden == 1


def test_a_growing_log_is_followed_line_by_line(store: Store, tmp_path: Path) -> None:
    row = _row(store)
    log_file = tmp_path / "hptui-logs" / "feed-1.log"
    log_file.parent.mkdir()
    log_file.write_text("one\ntwo\nthr")
    row.update(log_path=str(log_file))
    (worker,) = WorkersFeed(store).poll().workers
    tail = LogTail(store, worker)

    first = tail.poll()
    assert first.reset and first.running and first.lines == ("one", "two")  # "thr" waits
    with log_file.open("a") as f:
        f.write("ee\nfour\n")
    more = tail.poll()
    assert not more.reset and more.lines == ("three", "four")
    assert tail.poll().lines == ()

    log_file.write_text("fresh\n")  # truncated (a new run): start over
    again = tail.poll()
    assert again.reset and again.lines == ("fresh",)

    row.exit("done")
    with log_file.open("a") as f:
        f.write("last words")  # no newline, and the worker is done: shown as it is
    final = tail.poll()
    assert not final.running and final.lines == ("last words",)
    assert tail.lines == ("fresh", "last words")


def test_a_long_log_is_read_from_its_end(store: Store, tmp_path: Path) -> None:
    row = _row(store)
    log_file = tmp_path / "big.log"
    log_file.write_text("".join(f"line {i}\n" for i in range(50_000)))
    row.update(log_path=str(log_file))
    (worker,) = WorkersFeed(store).poll().workers
    tail = LogTail(store, worker, lines=100)
    update = tail.poll()
    assert update.lines[-1] == "line 49999"
    assert all(line.startswith("line ") for line in update.lines)  # no half line first
    assert len(tail.lines) == 100 and tail.lines[0] == "line 49900"


def test_a_worker_on_another_host_says_where_its_log_is(store: Store) -> None:
    row = _row(store)
    row.update(host="gpu-box-7", log_path="/srv/runs/hptui-logs/feed-1.log")
    (worker,) = WorkersFeed(store).poll().workers
    update = LogTail(store, worker).poll()
    assert update.lines == ()
    assert update.note is not None
    assert "gpu-box-7" in update.note and "/srv/runs/hptui-logs/feed-1.log" in update.note


def test_a_worker_started_by_hand_has_no_log_file(store: Store) -> None:
    _row(store)
    (worker,) = WorkersFeed(store).poll().workers
    update = LogTail(store, worker).poll()
    assert update.note is not None and "started by hand" in update.note


def test_exited_workers_are_kept_newest_first(store: Store) -> None:
    rows = [_row(store) for _ in range(3)]
    rows[0].exit("done")
    time.sleep(0.01)
    rows[1].exit("error: something")
    with sa.create_engine(store.url).connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(TABLES.workers)).scalar() == 3
    update = WorkersFeed(store).poll()
    assert [w.worker_id for w in update.workers] == [rows[2].id, rows[1].id, rows[0].id]
    assert [w.status for w in update.workers][1:] == ["exited", "exited"]


def test_a_worker_that_exits_is_reported_once(store: Store) -> None:
    """`newly_exited` is what the console says out loud: each exit once, none on the first
    poll (the console opening on old exits does not shout about them)."""
    old = _row(store)
    old.exit("done")
    feed = WorkersFeed(store)
    assert feed.poll().newly_exited == ()
    row = _row(store)
    assert feed.poll().newly_exited == ()
    row.exit("error: DataNotFoundError: MRPC data not found")
    (exited,) = feed.poll().newly_exited
    assert exited.worker_id == row.id and exited.exit_reason is not None
    assert feed.poll().newly_exited == ()
