"""Storage: reads need read access only and never create anything; a missing, foreign or
damaged database is one line naming the file; hptui's tables are created race-safely."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_space

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import (
    StorageError,
    check_url,
    ensure_tables,
    optuna_storage,
    redact,
    table_names,
)


def _digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its hash (a read must leave this unchanged)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-shm", "-wal"))
    }


@pytest.fixture
def study_db(tmp_path: Path, mrpc_dir: Path) -> Path:
    db = tmp_path / "data" / "runs.db"
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    create_study("s", StudySettings(space), f"sqlite:///{db}")
    return db


def test_study_create_creates_hptui_tables_with_the_study(study_db: Path) -> None:
    names = {row[0] for row in sqlite3.connect(study_db).execute("SELECT name FROM sqlite_master")}
    assert {"studies", "trials", "hptui_steps", "hptui_evals", "hptui_trial_events"} <= names


def test_a_missing_file_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "runs.db"
    with pytest.raises(StorageError, match=r"typo/runs.db: no such database; create a study"):
        StudyReader(f"sqlite:///{target}")
    assert list(tmp_path.iterdir()) == []  # no folder, no empty database


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"hello, I am a text file\n" * 10,
            "runs.db: not a SQLite database (file is not a database)",
        ),
        (b"", "runs.db: no hptui or Optuna tables in it"),
    ],
)
def test_a_file_that_is_not_a_study_database_is_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    db = tmp_path / "runs.db"
    db.write_bytes(content)
    with pytest.raises(StorageError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        StudyReader(f"sqlite:///{db}")
    assert "\n" not in str(info.value)
    assert db.read_bytes() == content


def test_a_foreign_sqlite_database_is_named(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    sqlite3.connect(db).execute("CREATE TABLE recipes (name TEXT)")
    before = db.read_bytes()
    with pytest.raises(StorageError, match=r"runs.db: no hptui or Optuna tables in it"):
        StudyReader(f"sqlite:///{db}")
    assert db.read_bytes() == before


def test_a_truncated_copy_is_one_line(
    study_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hptui.cli import main

    connection = sqlite3.connect(study_db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    whole = study_db.read_bytes()
    for size in (100, len(whole) // 3, len(whole) // 2):
        copy = tmp_path / f"copy-{size}.db"
        copy.write_bytes(whole[:size])
        for command in (["trials", "s"], ["study", "list"]):
            assert main([*command, "--storage", f"sqlite:///{copy}"]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert f"copy-{size}.db" in err


def test_reads_write_nothing_and_work_in_an_immutable_folder(study_db: Path) -> None:
    """`chattr +i` on the folder: not even root may write there. Reads still work."""
    folder = study_db.parent
    before = _digest(folder)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE)")
    try:
        # a fresh process, so no engine of the writer's is reused
        url = f"sqlite:///{study_db}"
        code = (
            f"from hptui.core.studies.reader import StudyReader; r = StudyReader({url!r}); "
            "print([s.name for s in r.studies()], len(r.trials('s')))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['s'] 0"
    assert _digest(folder) == before


def test_reads_on_a_plain_optuna_database_create_no_tables(tmp_path: Path) -> None:
    import optuna

    db = tmp_path / "plain.db"
    url = f"sqlite:///{db}"
    study = optuna.create_study(storage=url, study_name="plain")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    before = db.read_bytes()
    reader = StudyReader(url)
    rows = reader.trials("plain")
    assert [r.state for r in rows] == ["COMPLETE", "COMPLETE"]
    assert reader.curve(rows[0].trial_id).steps == []
    assert not any(name.startswith("hptui_") for name in table_names(reader.engine))
    assert db.read_bytes() == before


def test_an_older_optuna_schema_is_a_message_not_an_upgrade(study_db: Path) -> None:
    connection = sqlite3.connect(study_db)
    connection.execute("UPDATE alembic_version SET version_num = 'v3.0.0.a'")
    connection.commit()
    connection.close()
    before = study_db.read_bytes()
    with pytest.raises(StorageError, match="never upgrades a database"):
        StudyReader(f"sqlite:///{study_db}")
    assert study_db.read_bytes() == before


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "runs.db", "", "sqlite:///\x00x"])
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageError, match="--storage"):
        check_url(url)


def test_passwords_are_redacted() -> None:
    text = "cannot reach postgresql+psycopg2://me:s3cr%40t@db.example:5432/hp now"
    assert redact(text) == "cannot reach postgresql+psycopg2://me:***@db.example:5432/hp now"
    assert redact("sqlite:///runs.db") == "sqlite:///runs.db"


def _create_tables_at_once(url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    import sqlalchemy as sa

    sqlite = url.startswith("sqlite")
    connectable = sa.create_engine(url, connect_args={"timeout": 120} if sqlite else {})
    barrier.wait(timeout=60)
    ensure_tables(connectable)


def test_simultaneous_starts_never_race_on_the_schema(tmp_path: Path) -> None:
    """Processes released together by a barrier create hptui's tables on a fresh database,
    many times over: none may fail with 'table already exists'."""
    context = multiprocessing.get_context("fork")
    for attempt in range(12):
        db = tmp_path / f"fresh-{attempt}.db"
        optuna_storage(f"sqlite:///{db}", read_only=False)  # a study database...
        connection = sqlite3.connect(db)
        for name in [r[0] for r in connection.execute("SELECT name FROM sqlite_master")]:
            if name.startswith("hptui_") and not name.startswith("sqlite"):
                connection.execute(f"DROP TABLE {name}")  # ...whose hptui tables are missing
        connection.commit()
        connection.close()
        barrier = context.Barrier(3)
        workers = [
            context.Process(target=_create_tables_at_once, args=(f"sqlite:///{db}", barrier))
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0, 0], f"attempt {attempt}"
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
        assert {"hptui_steps", "hptui_evals", "hptui_slots"} <= names
