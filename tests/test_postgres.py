"""PostgreSQL, for real: a throwaway server started for this module, two worker processes
sharing one study through it, and the CLI reading it back."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import hptui_env, write_space
from pg_server import postgres_server

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.workers.registry import list_workers

FAST_HEARTBEAT = ["--heartbeat", "1", "--grace", "3"]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as server:
        yield server.url


def _settings(tmp_path: Path, mrpc_dir: Path) -> StudySettings:
    return StudySettings(load_space(write_space(tmp_path / "space.toml", mrpc_dir)), seed=0)


def _worker(url: str, trials: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hptui", "worker", "s", "--trials", str(trials),
             "--storage", url, *FAST_HEARTBEAT],
            stdout=out, stderr=subprocess.STDOUT, env=hptui_env(),
        )  # fmt: skip


def test_two_worker_processes_share_one_postgres_study_exactly(
    tmp_path: Path, mrpc_dir: Path, postgres_url: str
) -> None:
    create_study("s", _settings(tmp_path, mrpc_dir), postgres_url)
    log = tmp_path / "workers.log"
    workers = [_worker(postgres_url, 4, log), _worker(postgres_url, 4, log)]
    try:
        codes = [w.wait(timeout=300) for w in workers]
    except subprocess.TimeoutExpired:
        pytest.fail("workers still running after 300 s:\n" + log.read_text()[-3000:])
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert codes == [0, 0], log.read_text()[-3000:]

    reader = StudyReader(postgres_url)
    rows = reader.trials("s")
    tail = log.read_text()[-3000:]
    assert [r.state for r in rows] == ["COMPLETE"] * 4, tail
    assert [r.number for r in rows] == [0, 1, 2, 3]
    assert len({r.trial_id for r in rows}) == 4
    for row in rows:
        assert row.value is not None and row.metrics, row
        curve = reader.curve(row.trial_id)
        assert curve.steps, f"trial {row.number} has no steps"
        assert all(isinstance(s["loss"], float) for s in curve.steps)
        assert [e["end_of_epoch"] for e in curve.evals].count(True) == 1, curve.evals
    # Who trained what depends on timing; that both processes worked on the study does not.
    pids = {int(pid) for pid in re.findall(r"hptui\.worker\[(\d+)\]", log.read_text())}
    assert pids == {w.pid for w in workers}, tail
    assert reader.study("s").counts == {"COMPLETE": 4}
    # A seeded study: each process samples its own stream, so no point is trained twice.
    assert len({r.params["learning_rate"] for r in rows}) == 4
    registry = list_workers(postgres_url, "s", include_exited=True)
    assert sorted(w.pid for w in registry) == sorted(w.pid for w in workers)
    assert len({w.sampler_seed for w in registry}) == 2
    assert {w.status for w in registry} == {"exited"}


def test_creating_a_postgres_study_twice_is_idempotent_and_listed(
    tmp_path: Path, mrpc_dir: Path, postgres_url: str
) -> None:
    settings = _settings(tmp_path, mrpc_dir)
    first, created = create_study("twice", settings, postgres_url)
    again, created_again = create_study("twice", settings, postgres_url)
    assert (created, created_again) == (True, False)
    assert first._study_id == again._study_id
    assert [s.name for s in StudyReader(postgres_url).studies()].count("twice") == 1

    listing = subprocess.run(
        [sys.executable, "-m", "hptui", "study", "list", "--storage", postgres_url],
        capture_output=True, text=True, env=hptui_env(COLUMNS="200"), timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^\s*twice\s+maximize f1\s+tpe\s", listing.stdout, re.M), listing.stdout


def test_simultaneous_starts_never_race_on_the_schema_on_postgres(postgres_url: str) -> None:
    """Processes released together create hptui's tables in a fresh database, again and
    again: none may fail with 'already exists' (or PostgreSQL's duplicate pg_type key)."""
    import multiprocessing

    import psycopg2
    import sqlalchemy as sa
    from test_storage import _create_tables_at_once

    from hptui.core.studies.storage import TABLES

    server = postgres_url.rsplit("/", 1)[0]
    admin = psycopg2.connect(sa.engine.make_url(server + "/postgres").render_as_string(
        hide_password=False).replace("postgresql+psycopg2", "postgresql"))  # fmt: skip
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE race")
    admin.close()
    url = server + "/race"
    context = multiprocessing.get_context("fork")
    for attempt in range(6):
        TABLES.metadata.drop_all(sa.create_engine(url))
        barrier = context.Barrier(3)
        workers = [
            context.Process(target=_create_tables_at_once, args=(url, barrier)) for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0, 0], f"attempt {attempt}"
        assert {"hptui_steps", "hptui_slots"} <= set(
            sa.inspect(sa.create_engine(url)).get_table_names()
        )
