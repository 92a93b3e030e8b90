"""A refused command writes nothing: every write command, given input it refuses, exits 2
with one line and leaves the database exactly as it was (or not there at all): a missing
file, an empty file, another program's SQLite database. And of several `study create` of one
name at the same instant, one creates it and the others say it exists, never "a bug"."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import hptui_env
from pg_server import postgres_server

SPACE = """[fixed]
model = "tiny-distilbert"
num_epochs = 1
[params.learning_rate]
type = "float"
low = 1e-4
high = 1e-3
log = true
"""
# low > high: refused when the space is read
BAD_SPACE = SPACE.replace("low = 1e-4", "low = 1e-2")

# Each write command with input it must refuse. Commands on a study need it to exist; the
# create commands get a bad space or option. {db}, {space}, {bad}, {dir} are filled in.
COMMANDS = {
    "create-bad-space": ["study", "create", "k", "--space", "{bad}"],
    "create-no-space-file": ["study", "create", "k", "--space", "{dir}/none.toml"],
    "create-bad-seeds": ["study", "create", "k", "--space", "{space}", "--seeds-per-config", "0"],
    "create-infinite-grid": ["study", "create", "k", "--space", "{space}", "--sampler", "grid"],
    "enqueue": ["study", "enqueue", "k", "learning_rate=3e-4"],
    "delete": ["study", "delete", "k"],
    "rename": ["study", "rename", "k", "k2"],
    "replicate": ["study", "replicate", "k", "--top", "1"],
    "import-cards": ["import-cards", "{dir}/cards", "--study", "c"],
    "worker": ["worker", "k", "--trials", "1"],
    "final": ["final", "k", "--trial", "0"],
    "export": ["export", "k", "--csv", "{dir}/out.csv"],
    "note": ["note", "k", "--trial", "0", "a note"],
}


def _hptui(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptui", *args],
        capture_output=True, text=True, env=hptui_env(), timeout=timeout,
    )  # fmt: skip


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file in the folder (the database, its -wal/-shm, anything made beside) by hash."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def _make_database(db: Path, kind: str) -> None:
    if kind == "empty":
        db.touch()
    elif kind == "foreign":  # another program's database: a table of its own, one row
        connection = sqlite3.connect(db)
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        connection.execute("INSERT INTO notes (text) VALUES ('keep me')")
        connection.commit()
        connection.close()


@pytest.mark.parametrize("kind", ["missing", "empty", "foreign"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_refused_write_command_writes_nothing(tmp_path: Path, command: str, kind: str) -> None:
    inputs = tmp_path / "inputs"
    (inputs / "cards").mkdir(parents=True)  # a folder without any model card in it
    (inputs / "space.toml").write_text(SPACE)
    (inputs / "bad.toml").write_text(BAD_SPACE)
    folder = tmp_path / "db"
    folder.mkdir()
    db = folder / "runs.db"
    _make_database(db, kind)
    before = _snapshot(folder)
    fill = {"{space}": str(inputs / "space.toml"), "{bad}": str(inputs / "bad.toml"),
            "{dir}": str(inputs)}  # fmt: skip
    args = []
    for arg in COMMANDS[command]:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        args.append(arg)
    done = _hptui(*args, "--storage", f"sqlite:///{db}")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "bug in hptui" not in done.stderr
    assert _snapshot(folder) == before  # byte-identical, nothing beside it, or still missing
    assert not (inputs / "out.csv").exists()


def _create_at_once(tmp_path: Path, seeds: list[int]) -> list[tuple[int, str, str]]:
    """`hptui study create k` in one process per seed, all released at the same instant."""
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    go = tmp_path / "go"
    wait_then_run = (
        "import pathlib, sys, time\n"
        "go = pathlib.Path(sys.argv[1])\n"
        "while not go.exists(): time.sleep(0.005)\n"
        "from hptui.cli import main\n"
        "sys.argv = ['hptui', *sys.argv[2:]]\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    create = [sys.executable, "-c", wait_then_run, str(go), "study", "create", "k"]
    processes = [
        subprocess.Popen(
            [*create, "--space", str(space), "--seed", str(seed), "--storage", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=hptui_env(),
        )
        for seed in seeds
    ]
    time.sleep(1.5)  # every process has imported hptui and waits on the file
    go.touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append((process.returncode, out, err))
    return results


def test_concurrent_creates_of_one_name_one_wins_the_others_say_it_exists(
    tmp_path: Path,
) -> None:
    # Four different seeds: whichever wins, the other three are refused (other settings,
    # or created at the same instant), each with the study named and exit status 2.
    results = _create_at_once(tmp_path, [1, 2, 3, 4])
    shown = "\n".join(f"{code}: {out}{err}" for code, out, err in results)
    assert sorted(code for code, _out, _err in results) == [0, 2, 2, 2], shown
    for code, out, err in results:
        if code == 0:
            assert "study 'k' created" in out, shown
        else:
            first = err.strip().splitlines()[0]
            assert first.startswith("hptui study create: error: study 'k' already exists"), shown
        assert "Traceback" not in err and "bug in hptui" not in err, shown


def test_concurrent_same_creates_never_end_in_an_internal_error(tmp_path: Path) -> None:
    # The same command four times at once: one creates; the others either find it made
    # (exit 0, "exists (same settings)") or caught it being made (exit 2, "already exists").
    results = _create_at_once(tmp_path, [7, 7, 7, 7])
    shown = "\n".join(f"{code}: {out}{err}" for code, out, err in results)
    assert sum("study 'k' created" in out for _code, out, _err in results) == 1, shown
    for code, _out, err in results:
        assert code in (0, 2) and "bug in hptui" not in err and "Traceback" not in err, shown
        if code == 2:
            assert err.strip() == "hptui study create: error: " + (
                "study 'k' already exists (another process or program created it); choose "
                "another name, or run the same command again to compare its settings"
            ), shown


def test_a_refused_command_adds_no_table_to_an_empty_postgres_database(tmp_path: Path) -> None:
    import psycopg2

    with postgres_server() as server:
        url = server.url
        for args in (
            ["study", "enqueue", "k", "learning_rate=3e-4"],
            ["worker", "k", "--trials", "1"],
            ["study", "replicate", "k", "--top", "1"],
        ):
            done = _hptui(*args, "--storage", url)
            assert done.returncode == 2, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert "no study 'k'" in done.stderr or "no hptui or Optuna" in done.stderr
        connection = psycopg2.connect(
            host="127.0.0.1", port=server.port, user="postgres", dbname="hptui"
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                assert cursor.fetchall() == []
        finally:
            connection.close()
