"""Read-only copies and folders: a read either shows every trial or fails with one line
naming the fix (exit 2), never 0 rows with exit 0; reads work in a folder the user may not
write, and create no file beside a database that had none; a clean exit checkpoints the
write-ahead log, so `runs.db` copied alone holds every result.

Permissions mean nothing to root, so where the tests run as root the reading `hptui` runs
as `nobody` (setpriv), in folders under /tmp that `nobody` may enter."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, hptui_env, write_space

HPTUI = str(Path(sys.executable).with_name("hptui"))
# Builds a study of three recorded trials (no training) in a fresh process, so no engine of
# the test's own is left holding the file. With HOLD set, it copies runs.db and its -wal
# (not its -shm) while its connections are still open: the copy a user makes of a live
# database, its latest changes still in the log.
MAKE = """
import shutil, sys, optuna
from pathlib import Path
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
folder, space, hold = Path(sys.argv[1]), load_space(sys.argv[2]), sys.argv[3]
study, _ = create_study("s", StudySettings(space), f"sqlite:///{folder / 'runs.db'}")
for lr, f1 in ((1e-4, 0.8), (5e-4, 0.7), (2e-4, 0.75)):
    study.add_trial(optuna.trial.create_trial(
        params={"learning_rate": lr}, distributions=space.distributions(), value=f1,
        user_attrs={"hptui.metrics": {"f1": f1}, "hptui.reason": "completed"}))
if hold:
    Path(hold).mkdir()
    for name in ("runs.db", "runs.db-wal"):
        shutil.copy(folder / name, Path(hold) / name)
"""


def _as_reader() -> list[str]:
    """The command prefix of a user without write permission (root ignores modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot read as a non-root user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder `nobody` may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="hptui-ro-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, mrpc_dir: Path) -> Path:
    """`clean/runs.db` (every connection closed: no side files) and `live/` (runs.db and
    runs.db-wal copied while the writer was open, without -shm)."""
    folder = tmp_path_factory.mktemp("built")
    space = write_space(folder / "space.toml", mrpc_dir)
    for name, hold in (("clean", ""), ("source", str(folder / "live"))):
        (folder / name).mkdir()
        subprocess.run(
            [sys.executable, "-c", MAKE, str(folder / name), str(space), hold],
            check=True, env=hptui_env(), timeout=300, cwd=REPO,
        )  # fmt: skip
    assert sorted(p.name for p in (folder / "clean").iterdir()) == ["runs.db"]
    assert sorted(p.name for p in (folder / "live").iterdir()) == ["runs.db", "runs.db-wal"]
    assert (folder / "live" / "runs.db-wal").stat().st_size > 0
    return folder


def _copy(built: Path, which: str, place: Path) -> Path:
    target = place / "data"
    shutil.copytree(built / which, target)
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target / "runs.db"


def _read_only(folder: Path, files: bool = True) -> None:
    if files:
        for path in folder.iterdir():
            path.chmod(0o444)
    folder.chmod(0o555)


def _run(argv: list[str], prefix: list[str]) -> subprocess.CompletedProcess[str]:
    env = hptui_env(NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [*prefix, HPTUI, *argv], capture_output=True, text=True, timeout=300, env=env, cwd="/"
    )


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _count_in_csv(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


def test_a_log_without_its_shm_in_a_read_only_folder_is_one_line_not_an_empty_study(
    built: Path, place: Path
) -> None:
    db = _copy(built, "live", place)
    _read_only(db.parent)
    prefix, url = _as_reader(), f"sqlite:///{db}"
    out = place / "out"
    out.mkdir()
    out.chmod(0o777)
    for argv in (
        ["study", "list", "--storage", url],
        ["trials", "s", "--storage", url, "--format", "json"],
        ["export", "s", "--storage", url, "--csv", str(out / "t.csv")],
    ):
        done = _run(argv, prefix)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert "runs.db-wal" in done.stderr and "wal_checkpoint(TRUNCATE)" in done.stderr
        assert "copy runs.db and runs.db-wal to a writable folder" in done.stderr
    assert _names(out) == []  # no empty export
    assert _names(db.parent) == ["runs.db", "runs.db-wal"]


def test_the_same_copy_in_a_writable_folder_shows_all_three(built: Path, place: Path) -> None:
    """What the one-line fix says to do works: the log is read, every trial is there."""
    db = _copy(built, "live", place)
    prefix = _as_reader()
    for path in db.parent.iterdir():
        path.chmod(0o444)  # a read-only file is fine where the folder takes a -shm
    db.parent.chmod(0o777)
    done = _run(
        ["export", "s", "--storage", f"sqlite:///{db}", "--csv", str(db.parent / "t.csv")], prefix
    )
    assert done.returncode == 0, done.stderr
    assert _count_in_csv(db.parent / "t.csv") == 3


@pytest.mark.parametrize("files", [True, False], ids=["folder-and-files-0555", "folder-0555"])
def test_reads_work_in_a_read_only_folder(built: Path, place: Path, files: bool) -> None:
    db = _copy(built, "clean", place)
    _read_only(db.parent, files=files)
    prefix, url = _as_reader(), f"sqlite:///{db}"
    out = place / "out"
    out.mkdir()
    out.chmod(0o777)
    listed = _run(["study", "list", "--storage", url], prefix)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:5] == ["s", "maximize", "f1", "tpe", "3"]
    trials = _run(["trials", "s", "--storage", url, "--format", "csv"], prefix)
    assert trials.returncode == 0, trials.stderr
    assert len(trials.stdout.splitlines()) == 4
    export = _run(["export", "s", "--storage", url, "--csv", str(out / "t.csv")], prefix)
    assert export.returncode == 0, export.stderr
    assert _count_in_csv(out / "t.csv") == 3
    assert _names(db.parent) == ["runs.db"]


def test_a_read_only_file_in_a_writable_folder(built: Path, place: Path) -> None:
    db = _copy(built, "clean", place)
    db.chmod(0o444)
    db.parent.chmod(0o777)
    done = _run(["trials", "s", "--storage", f"sqlite:///{db}", "--format", "csv"], _as_reader())
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4


def test_pure_reads_create_no_file_beside_the_database(built: Path, tmp_path: Path) -> None:
    db = tmp_path / "data" / "runs.db"
    shutil.copytree(built / "clean", db.parent)
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}
    url = f"sqlite:///{db}"
    for argv in (
        ["study", "list", "--storage", url],
        ["trials", "s", "--storage", url],
        ["export", "s", "--storage", url, "--json", str(tmp_path / "t.json")],
    ):
        done = _run(argv, [])
        assert done.returncode == 0, (argv, done.stderr)
        assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before, argv
    assert (tmp_path / "t.json").read_text().count('"number"') == 3


def test_a_reader_opened_on_a_quiet_file_sees_a_writer_that_comes_later(
    built: Path, tmp_path: Path, mrpc_dir: Path
) -> None:
    """The no-side-file read (immutable while no connection has the file open) gives way
    to an ordinary one as soon as a writer appears: a long-lived reader (the console) sees
    the new study."""
    from hptui.core.studies.reader import StudyReader
    from hptui.core.studies.settings import StudySettings, create_study
    from hptui.core.studies.space import load_space

    db = tmp_path / "runs.db"
    shutil.copy(built / "clean" / "runs.db", db)
    reader = StudyReader(f"sqlite:///{db}")
    assert [s.name for s in reader.studies()] == ["s"]
    assert not db.with_name("runs.db-wal").exists()
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    create_study("later", StudySettings(space), f"sqlite:///{db}")
    assert sorted(s.name for s in reader.studies()) == ["later", "s"]


def _hold_open(db: Path) -> sqlite3.Connection:
    """Another process's idle connection (the console, a second worker): while it is open,
    a writer's exit does not fold the log into the file by itself."""
    holder = sqlite3.connect(db)
    holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
    return holder


def test_checkpoint_leaves_a_self_contained_file(
    built: Path, tmp_path: Path, mrpc_dir: Path
) -> None:
    import optuna

    from hptui.core.studies.settings import StudySettings, create_study
    from hptui.core.studies.space import load_space
    from hptui.core.studies.storage import checkpoint

    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    study, _ = create_study("c", StudySettings(space), url)
    holder = _hold_open(db)
    for lr in (1e-4, 2e-4, 3e-4):
        study.add_trial(
            optuna.trial.create_trial(
                params={"learning_rate": lr}, distributions=space.distributions(), value=0.5
            )
        )
    assert db.with_name("runs.db-wal").stat().st_size > 0
    checkpoint(url)
    holder.close()
    copy = tmp_path / "copy" / "runs.db"
    copy.parent.mkdir()
    shutil.copy(db, copy)  # the file alone
    done = _run(["trials", "c", "--storage", f"sqlite:///{copy}", "--format", "csv"], [])
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4


def test_a_cli_write_checkpoints_on_exit(tmp_path: Path, mrpc_dir: Path) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    assert (
        _run(["study", "create", "first", "--space", str(space), "--storage", url], []).returncode
        == 0
    )
    holder = _hold_open(db)
    try:
        made = _run(["study", "create", "second", "--space", str(space), "--storage", url], [])
        assert made.returncode == 0, made.stderr
        copy = tmp_path / "copy.db"
        shutil.copy(db, copy)  # while the holder still keeps the log beside the original
    finally:
        holder.close()
    listed = _run(["study", "list", "--storage", f"sqlite:///{copy}"], [])
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["first", "second"]


@pytest.mark.slow
def test_a_worker_that_exits_normally_checkpoints(tmp_path: Path, mrpc_dir: Path) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    assert (
        _run(["study", "create", "k", "--space", str(space), "--storage", url], []).returncode == 0
    )
    holder = _hold_open(db)
    try:
        worked = _run(["worker", "k", "--trials", "1", "--storage", url], [])
        assert worked.returncode == 0, worked.stdout[-2000:] + worked.stderr[-2000:]
        wal = db.with_name("runs.db-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        copy = tmp_path / "copy.db"
        shutil.copy(db, copy)
    finally:
        holder.close()
    trials = _run(["trials", "k", "--storage", f"sqlite:///{copy}", "--format", "csv"], [])
    assert trials.returncode == 0, trials.stderr
    rows = trials.stdout.splitlines()[1:]
    assert len(rows) == 1 and ",COMPLETE," in rows[0]


def test_the_tests_folder_modes_are_what_they_claim(place: Path) -> None:
    """Guards the tests above: the folder really refuses a non-root writer."""
    _read_only(place)
    probe = subprocess.run([*_as_reader(), "touch", str(place / "x")], capture_output=True)
    assert probe.returncode != 0
    assert stat.S_IMODE(place.stat().st_mode) == 0o555
