"""Hostile and mistaken input over every sub-command: each gets exit status 2 and one line
naming the input and the fix, never a traceback, and nothing is written to the database or
the target file (hashed before and after). In-process through `hptui.cli.main`, so the
whole table runs in seconds."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_space

from hptui.cli import main
from hptui.core.studies.settings import SETTINGS_ATTR, StudySettings, create_study
from hptui.core.studies.space import load_space

LONG = "x" * 10_000
EMOJI = "🔥💥"
DB = "{db}"  # placeholders filled per test
WRONG_DEVICE = "cuda:99"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, mrpc_dir: Path) -> Path:
    """A study database with one hptui study holding two recorded trials (no training),
    plus the bad files the cases point at; built once, copied for each test."""
    import optuna

    tmp_path = tmp_path_factory.mktemp("template")
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    space_file = write_space(tmp_path / "space.toml", mrpc_dir)
    study, _ = create_study("s", StudySettings(load_space(space_file)), url)
    for lr, f1 in ((1e-4, 0.8), (5e-4, 0.7)):
        study.add_trial(
            optuna.trial.create_trial(
                params={"learning_rate": lr},
                distributions=load_space(space_file).distributions(),
                value=f1,
                user_attrs={"hptui.metrics": {"f1": f1}, "hptui.reason": "completed"},
            )
        )
    (tmp_path / "text.db").write_text("I am not a database\n" * 50)
    (tmp_path / "fixed5.toml").write_text("fixed = 5\n")
    (tmp_path / "params5.toml").write_text("params = 5\n")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "folder").mkdir()
    (tmp_path / "existing.csv").write_text("precious\n")
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    (tmp_path / "truncated.db").write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    return tmp_path


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    tmp_path = tmp_path / "w"
    shutil.copytree(template, tmp_path)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    yield {
        "db": f"sqlite:///{tmp_path / 'runs.db'}",
        "dir": str(tmp_path),
        "space": str(tmp_path / "space.toml"),
        "text": f"sqlite:///{tmp_path / 'text.db'}",
        "truncated": f"sqlite:///{tmp_path / 'truncated.db'}",
        "missing": f"sqlite:///{tmp_path / 'nowhere' / 'runs.db'}",
    }
    for number, handler in saved.items():
        signal.signal(number, handler)


# (argv, fragments the one error line must contain). {db} etc. come from `world`;
# commands that take --storage get `--storage {db}` unless they name another.
CASES: list[tuple[list[str], list[str]]] = [
    # train
    (["train", "--config", "{dir}/folder"], ["--config", "is a folder"]),
    (["train", "--config", "{dir}/binary.toml"], ["--config", "not a UTF-8"]),
    (["train", "--set", "device=cudaXYZ"], ["device", "'cuda', 'cuda:N'"]),
    (["train", "--set", f"device={WRONG_DEVICE}"], ["device", "cuda:99"]),
    (["train", "--set", "device=mps"], ["device", "mps"]),
    (["train", "--set", "seed=18446744073709551616"], ["seed", "2**64 - 1"]),
    (["train", "--set", "seed=-1"], ["seed", "from 0"]),
    (["train", "--set", "learning_rate=\x00"], ["learning_rate", "must be a number"]),
    (["train", "--set", f"{LONG}=1"], ["unknown setting", "…"]),
    (["train", "--set", f"{EMOJI}=1"], [EMOJI, "unknown setting"]),
    (["train", "--set", "num_epochs=1e400"], ["num_epochs"]),
    (["train", "--set", "nokey"], ["expected key=value"]),
    # study create
    (["study", "create", "", "--space", "{space}"], ["study name ''", "empty"]),
    (["study", "create", "/", "--space", "{space}"], ["study name '/'", "path"]),
    (["study", "create", "..", "--space", "{space}"], ["study name '..'", "path"]),
    (["study", "create", "a/b/c", "--space", "{space}"], ["'a/b/c'", "path"]),
    (["study", "create", "x\x00y", "--space", "{space}"], ["x\\x00y", "control"]),
    (["study", "create", "x\ny", "--space", "{space}"], ["x\\ny", "control"]),
    (["study", "create", LONG, "--space", "{space}"], ["10000 characters", "128"]),
    (["study", "create", "n", "--space", "{dir}/folder"], ["--space", "is a folder"]),
    (["study", "create", "n", "--space", "{dir}/fixed5.toml"], ["fixed", "must be a table"]),
    (["study", "create", "n", "--space", "{dir}/params5.toml"], ["params", "must be tables"]),
    (["study", "create", "n", "--space", "{dir}/binary.toml"], ["--space", "UTF-8"]),
    (["study", "create", "n", "--space", f"{EMOJI}.toml"], ["--space", "no such file", EMOJI]),
    (
        ["study", "create", "n", "--space", "{space}", "--seed", "18446744073709551616"],
        ["--seed", "2**32 - 1"],
    ),
    (["study", "create", "n", "--space", "{space}", "--seed", "-1"], ["--seed"]),
    (["study", "create", "n", "--space", "{space}", "--seed", "abc"], ["--seed", "invalid int"]),
    (["study", "create", "n", "--space", "{space}", "--storage", "sqlite:///"], ["no file name"]),
    (
        ["study", "create", "n", "--space", "{space}", "--storage", "{text}"],
        ["text.db: not a SQLite database (file is not a database)"],
    ),
    (
        ["study", "create", "n", "--space", "{space}", "--storage", "runs.db"],
        ["not a database URL", "sqlite:///"],
    ),
    (["study", "create", "n", "--space", "{space}", "--storage", "{dir}"], ["not a database URL"]),
    (["study", "create", "n", "--space", "{space}", "--sampler", "nope"], ["--sampler", "choice"]),
    # study list
    (["study", "list", "--storage", "{text}"], ["text.db: not a SQLite database"]),
    (["study", "list", "--storage", "{truncated}"], ["truncated.db"]),
    (["study", "list", "--storage", "{missing}"], ["no such database", "hptui study create"]),
    (["study", "list", "--storage", "sqlite:///{dir}/folder"], ["is a folder"]),
    (
        ["study", "list", "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"],
        ["me:***@127.0.0.1"],
    ),
    # study enqueue
    (["study", "enqueue", "s", "learning_rate=abc"], ["learning_rate", "outside"]),
    (["study", "enqueue", "s", "learning_rate=1"], ["learning_rate", "outside"]),
    (["study", "enqueue", "s", "nope=1"], ["nope", "not a searched parameter"]),
    (["study", "enqueue", "s", "\x00=1"], ["\\x00", "not a searched parameter"]),
    (["study", "enqueue", "s", "learning_rate"], ["expected key=value"]),
    (["study", "enqueue", "nope", "learning_rate=1e-4"], ["no study 'nope'"]),
    (["study", "enqueue", "/", "learning_rate=1e-4"], ["no study '/'"]),
    (
        ["study", "enqueue", "s", "learning_rate=1e-4", "--storage", "{missing}"],
        ["no such database"],
    ),
    # study delete / rename
    (["study", "delete", "s"], ["pass --yes", "nothing deleted"]),
    (["study", "delete", "nope", "--yes"], ["no study 'nope'"]),
    (["study", "delete", "", "--yes"], ["no study ''"]),
    (["study", "delete", "s", "--yes", "--storage", "{missing}"], ["no such database"]),
    (["study", "rename", "s", "s"], ["'s' already exists"]),
    (["study", "rename", "s", "a/b"], ["study name 'a/b'"]),
    (["study", "rename", "s", ""], ["study name ''"]),
    (["study", "rename", "nope", "t"], ["no study 'nope'"]),
    # worker
    (["worker", "a/b/c", "--trials", "1", "--detach"], ["study name 'a/b/c'", "path"]),
    (["worker", "../escape", "--trials", "1", "--detach"], ["'../escape'", "path"]),
    (["worker", "s", "--trials", "0"], ["--trials", "from 1 to 1,000,000"]),
    (["worker", "s", "--trials", "1", "--device", "cudaXYZ"], ["device"]),
    (["worker", "s", "--trials", "1", "--device", WRONG_DEVICE], ["device", "cuda:99"]),
    (["worker", "s", "--trials", "1", "--storage", "{missing}"], ["no such database"]),
    (["worker", "s", "--trials", "1", "--storage", "{text}"], ["not a SQLite database"]),
    (["worker", "nope", "--trials", "1"], ["no study 'nope'"]),
    # trials
    (["trials", "nope"], ["no study 'nope'"]),
    (["trials", "s", "--sort", "nope"], ["--sort", "no column 'nope'"]),
    (["trials", "s", "--sort", "\x1b[31mred"], ["--sort", "\\x1b"]),
    (["trials", "\x00"], ["no study '\\x00'"]),
    (["trials", LONG], ["no study 'xxxx", "…"]),
    (["trials", "s", "--storage", "{text}"], ["text.db: not a SQLite database"]),
    (["trials", "s", "--storage", "{truncated}"], ["truncated.db"]),
    (["trials", "s", "--storage", "{missing}"], ["no such database"]),
    (["trials", "s", "--storage", "sqlite:///"], ["no file name"]),
    (["trials", "s", "--format", "xml"], ["--format", "choice"]),
    # export
    (["export", "s", "--csv", ""], ["file name is empty"]),
    (["export", "s", "--json", ""], ["file name is empty"]),
    (["export", "s", "--csv", "{dir}/folder"], ["is a folder"]),
    (["export", "s", "--csv", "{dir}/nowhere/t.csv"], ["no such folder", "mkdir -p"]),
    (["export", "s", "--csv", "{dir}/existing.csv"], ["exists", "--force"]),
    (["export", "nope", "--csv", "{dir}/new.csv"], ["no study 'nope'"]),
    (["export", "s", "--csv", "{dir}/new.csv", "--storage", "{text}"], ["not a SQLite"]),
    (["export", "s"], ["one of the arguments --csv --json is required"]),
    # analyze
    (["analyze", "nope"], ["no study 'nope'"]),
    (["analyze", "s", "--storage", "{missing}"], ["no such database"]),
    (["analyze", "s", "--storage", "{text}"], ["not a SQLite database"]),
    (["analyze", "x\x00"], ["no study 'x\\x00'"]),
    (["analyze", "--from-csv", "{dir}/nowhere.csv"], ["nowhere.csv"]),
    (["analyze", "s", "--alpha", "abc"], ["--alpha"]),
    # import-cards
    (["import-cards", "{dir}/nowhere", "--study", "c"], ["nowhere", "no such folder"]),
    (["import-cards", "{dir}/folder", "--study", ""], ["study name ''"]),
    (["import-cards", "{dir}/folder", "--study", "a/b"], ["study name 'a/b'"]),
    (["import-cards", "{dir}/folder", "--study", "c", "--storage", "{text}"], ["not a SQLite"]),
]


def _digest(folder: Path, db: Path) -> tuple[str, list[str]]:
    """The database's content (a logical dump, so WAL checkpoints do not count) and the
    names and hashes of every other file in the folder."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dump = hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()
    connection.close()
    files = sorted(
        f"{p.relative_to(folder)}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
        for p in folder.rglob("*")
        if p.is_file() and p != db and not p.name.endswith(("-wal", "-shm"))
    )
    return dump, files


@pytest.mark.parametrize(
    ("argv", "fragments"),
    CASES,
    ids=[" ".join(a)[:60].encode("unicode_escape").decode() for a, _ in CASES],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    world: dict[str, str],
    argv: list[str],
    fragments: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(world["dir"])
    argv = [arg.format(**world) if "{" in arg and "}" in arg else arg for arg in argv]
    if any(arg == "--storage" for arg in argv) or argv[0] in ("train",) or "--help" in argv:
        full = argv
    else:
        full = [*argv, "--storage", world["db"]]
    before = _digest(folder, folder / "runs.db")
    try:
        status = main(full)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    out, err = capsys.readouterr()
    assert status == 2, f"exit {status}; stderr: {err[:500]}"
    assert err.count("\n") == 1 and err.endswith("\n"), err[:2000]
    assert "Traceback" not in err and len(err) < 2500
    assert "hunter2" not in err + out
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err[:500]!r}"
    assert _digest(folder, folder / "runs.db") == before


def test_an_immutable_database_folder_is_one_line(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(world["dir"])
    before = _digest(folder, folder / "runs.db")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE)")
    try:
        status = main(["study", "create", "n", "--space", world["space"], "--storage",
                       f"sqlite:///{folder / 'fresh.db'}"])  # fmt: skip
        err = capsys.readouterr().err
        trials = main(["trials", "s", "--storage", world["db"], "--format", "json"])
        out = capsys.readouterr().out
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert status == 2 and err.count("\n") == 1 and "fresh.db: cannot be written" in err
    assert trials == 0 and len(json.loads(out)) == 2  # reading still works
    assert _digest(folder, folder / "runs.db") == before


def test_markup_in_names_and_reasons_prints_as_written(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    from hptui.core.studies.storage import optuna_storage

    storage = optuna_storage(world["db"])
    settings = StudySettings(load_space(world["space"]))
    for name in ("[/]", "[link=https://evil.example]bank[/link]", f"{EMOJI} run"):
        create_study(name, settings, world["db"])  # core: the CLI refuses names with "/"
    study = optuna.load_study(study_name="[/]", storage=storage)
    study.add_trial(
        optuna.trial.create_trial(
            params={}, distributions={}, value=0.5,
            user_attrs={"hptui.reason": "[/] [bold red]spoof[/] [link=https://x]y[/link]"},
        )
    )  # fmt: skip
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")  # long names on one line, for the assertion
    assert main(["study", "list", "--storage", world["db"]]) == 0
    out = capsys.readouterr().out
    assert "[/]" in out and "[link=https://evil.example]bank[/link]" in out and EMOJI in out
    assert main(["trials", "[/]", "--storage", world["db"]]) == 0
    out = capsys.readouterr().out
    assert "[bold red]spoof[/]" in out or "[bold" in out  # the reason, as written


def test_data_written_by_plain_optuna_is_shown_not_fatal(
    world: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    from hptui.core.studies.storage import optuna_storage

    study = optuna.load_study(study_name="s", storage=optuna_storage(world["db"]))
    study.add_trial(optuna.trial.create_trial(
        params={"learning_rate": 2e-4}, distributions=study.trials[0].distributions, value=0.9,
        user_attrs={"f1": {"macro": 0.9}, "hptui.metrics": "oops"},
    ))  # fmt: skip
    study.add_trial(optuna.trial.create_trial(
        params={"learning_rate": 3e-4}, distributions=study.trials[0].distributions, value=0.1,
        user_attrs={"hptui.metrics": {"f1": "high", "loss": None}},
    ))  # fmt: skip
    study.set_user_attr(SETTINGS_ATTR + ".x", "unrelated")
    capsys.readouterr()
    assert main(["trials", "s", "--storage", world["db"], "--sort", "f1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["f1"] for r in rows][:2] == [0.7, 0.8]  # numbers first, in order
    assert sorted(str(r["f1"]) for r in rows[2:]) == [
        'unreadable: "high"',
        'unreadable: {"macro": 0.9}',
    ]
    assert main(["trials", "s", "--storage", world["db"]]) == 0
    assert "unreadable" in capsys.readouterr().out
    target = tmp_path / "plain.json"
    assert main(["export", "s", "--storage", world["db"], "--json", str(target)]) == 0
    assert len(json.loads(target.read_text())) == 4


def test_passwords_never_reach_the_screen(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HPTUI_STORAGE", "postgresql://me:hunter2@127.0.0.1:1/hp")
    with pytest.raises(SystemExit):
        main(["trials", "--help"])
    out = capsys.readouterr().out
    assert "postgresql://me:***@127.0.0.1:1/hp" in out and "hunter2" not in out
    assert main(["trials", "s"]) == 2
    err = capsys.readouterr().err
    assert "me:***@" in err and "hunter2" not in err


def test_debug_shows_the_traceback(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["trials", "s", "--storage", world["text"]]
    assert main([*argv, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("HPTUI_DEBUG", "1")
    assert main(argv) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_internal_error_is_one_line_exit_1(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hptui.commands.trials as trials_command

    def broken(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(trials_command, "run_trials", broken)
    assert main(["trials", "s", "--storage", world["db"]]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bug in hptui" in err and "--debug" in err


def test_study_delete_and_rename_keep_nothing_behind(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db = Path(world["dir"]) / "runs.db"
    assert main(["study", "rename", "s", f"{EMOJI} renamed", "--storage", world["db"]]) == 0
    assert main(["trials", f"{EMOJI} renamed", "--storage", world["db"], "--format", "json"]) == 0
    capsys.readouterr()
    assert main(["study", "delete", f"{EMOJI} renamed", "--yes", "--storage", world["db"]]) == 0
    assert "deleted study" in capsys.readouterr().out
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT COUNT(*) FROM trials").fetchone() == (0,)
    assert connection.execute("SELECT COUNT(*) FROM studies").fetchone() == (0,)
