"""Every text and number has a bound, said in one line (the field, the bound, exit 2,
nothing written); the password mask is linear on any text; names refuse the control and
bidi characters that make a terminal show something else than what is stored."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, hptui_env, write_space

from hptui.cli import main
from hptui.core.errors import ConfigError, printable
from hptui.core.studies.space import SpaceError, parse_space
from hptui.core.studies.storage import redact
from hptui.core.training.config import TrainConfig

# The mask as it was: one regex whose nested, overlapping quantifiers backtrack (80,000
# characters took 11 s). Kept as the reference the linear one must agree with.
OLD_MASK = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@")


def _old_redact(text: str) -> str:
    return OLD_MASK.sub(r"\g<head>:***@", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://me:secret@host/db", "postgresql://me:***@host/db"),
        ("a postgresql://me:p:w/x@host/db b", "a postgresql://me:***@host/db b"),
        (
            "mysql+pymysql://u:p@h then sqlite:///x.db",
            "mysql+pymysql://u:***@h then sqlite:///x.db",
        ),
        ("two x://a:b@c,y://d:e@f", "two x://a:***@c,y://d:***@f"),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
        ("1://a:b@c", "1://a:b@c"),
        ("", ""),
    ],
)
def test_the_mask_hides_passwords(text: str, expected: str) -> None:
    assert redact(text) == expected == _old_redact(text)


def test_the_mask_agrees_with_the_old_regex_on_random_text() -> None:
    rng = random.Random(19)
    alphabet = "ab1+.:/@ \t"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 18)))
        if rng.random() < 0.5:
            text = text.replace("/", "://", 2)
        assert redact(text) == _old_redact(text), repr(text)


# Texts on which the old regex backtracks quadratically: at a million characters it would
# run for hours; the linear mask returns at once, with the right output.
N = 1_000_000
PATHOLOGICAL = [
    ("a" * N + "://", "a" * N + "://"),
    ("a://" + "b" * N, "a://" + "b" * N),
    ("a://b:" * (N // 6), "a://b:" * (N // 6)),
    ("x" * N + "://u:pw@h", "x" * N + "://u:***@h"),
    ("x://u:" + "p" * N + "@h", "x://u:***@h"),
    ("a://b:c@" * (N // 8), "a://b:***@" * (N // 8)),
]


@pytest.mark.parametrize(
    ("text", "expected"), PATHOLOGICAL, ids=[str(i) for i in range(len(PATHOLOGICAL))]
)
def test_the_mask_is_linear_on_pathological_text(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("setting", "value", "fragments"),
    [
        ("model", "m" * 5000, ["model", "5,000 characters", "4,096"]),
        ("model", "evil\u202etxt.exe", ["model", "bidi"]),
        ("model", "two\nlines", ["model", "control characters"]),
        ("data_dir", "/d" * 3000, ["data_dir", "4,096"]),
        ("num_epochs", 10**20, ["num_epochs", "at most 10,000"]),
        ("train_batch_size", 10**9, ["train_batch_size", "at most 65,536"]),
        ("eval_limit", 10**12, ["eval_limit", "at most 1,000,000,000"]),
    ],
)
def test_every_setting_has_a_bound(setting: str, value: object, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_mapping({setting: value})
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    for fragment in fragments:
        assert fragment in message


def _create(
    tmp_path: Path, space: Path, capsys: pytest.CaptureFixture[str], name: str = "s"
) -> str:
    db = tmp_path / "runs.db"
    status = main(["study", "create", name, "--space", str(space), "--storage", f"sqlite:///{db}"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 400, err[:600]
    assert not db.exists()  # nothing written
    return err


@pytest.mark.parametrize(
    ("fixed", "fragments"),
    [
        ({"model": "m" * 50_000}, ["model", "50,000 characters", "4,096"]),
        ({"num_epochs": 10**20}, ["num_epochs", "10,000"]),
        ({"model": "tiny\u202edistilbert"}, ["model", "bidi"]),
    ],
    ids=["model-50k", "epochs-1e20", "model-bidi"],
)
def test_study_create_refuses_unbounded_settings(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str],
    fixed: dict[str, object], fragments: list[str],
) -> None:  # fmt: skip
    space = write_space(tmp_path / "space.toml", mrpc_dir, **fixed)
    err = _create(tmp_path, space, capsys)
    for fragment in fragments:
        assert fragment in err, err


def test_a_space_with_too_many_choices_is_one_line(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    choices = ", ".join(str(16 + i) for i in range(20_000))
    params = f'[params.eval_batch_size]\ntype = "categorical"\nchoices = [{choices}]'
    err = _create(tmp_path, write_space(tmp_path / "space.toml", mrpc_dir, params=params), capsys)
    assert "eval_batch_size" in err and "20,000 choices" in err and "10,000" in err


def test_a_huge_space_file_is_one_line(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    space.write_text(space.read_text() + "# " + "x" * 3 * 2**20 + "\n")
    err = _create(tmp_path, space, capsys)
    assert "--space" in err and "over 2 MiB" in err


def test_a_million_choices_are_refused_before_they_are_checked() -> None:
    """The duplicate check was quadratic (a list): a million choices hung `study create`."""
    raw = {
        "params": {
            "train_batch_size": {"type": "categorical", "choices": list(range(1, 10**6 + 1))}
        }
    }
    with pytest.raises(
        SpaceError, match=r"train_batch_size: has 1,000,000 choices; keep it to 10,000"
    ):
        parse_space(raw)


def test_duplicates_are_still_found_among_many_choices() -> None:
    many = list(range(1, 10_001))
    many[-1] = 5
    with pytest.raises(SpaceError, match=r"choice 5 is listed twice"):
        parse_space({"params": {"train_batch_size": {"type": "categorical", "choices": many}}})
    with pytest.raises(SpaceError, match=r"is listed twice"):
        parse_space(
            {"params": {"learning_rate": {"type": "categorical", "choices": [1e-4, 0.0001]}}}
        )
    assert parse_space(
        {"params": {"train_batch_size": {"type": "categorical", "choices": many[:-1]}}}
    )


@pytest.mark.parametrize(
    "name", ["lr\u202esweep", "a\u2066b", "x\u200fy", "tab\there", "bell\x07", "c1\x85"]
)
def test_study_names_refuse_control_and_bidi_characters(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    err = _create(tmp_path, write_space(tmp_path / "space.toml", mrpc_dir), capsys, name=name)
    assert "study name" in err and "characters" in err
    assert not any(ch in err for ch in name if not ch.isalnum())  # shown escaped


def test_printable_shows_hidden_characters_escaped() -> None:
    assert printable("plain name") == "plain name"
    assert printable("lr\u202esweep") == "lr\\u202esweep"
    assert printable("a\nb\x1b[31m") == "a\\nb\\x1b[31m"
    assert printable("émoji 🔥 ok") == "émoji 🔥 ok"


def test_a_worker_refuses_a_stored_huge_model_at_once(tmp_path: Path, mrpc_dir: Path) -> None:
    """A study written past the bounds (by another tool, or an older hptui): the worker
    stops on loading its settings with one line, instead of spinning on a 5 MB name."""
    import optuna

    from hptui.core.studies.attrs import SETTINGS
    from hptui.core.studies.settings import StudySettings, create_study
    from hptui.core.studies.space import load_space

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study, _ = create_study(
        "k", StudySettings(load_space(write_space(tmp_path / "s.toml", mrpc_dir))), url
    )
    settings = json.loads(study.user_attrs[SETTINGS])
    settings["space"]["fixed"]["model"] = "x" * 5_000_000
    optuna.load_study(study_name="k", storage=url).set_user_attr(SETTINGS, json.dumps(settings))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hptui")), "worker", "k", "--trials", "1", "--storage", url],
        capture_output=True, text=True, timeout=600, env=hptui_env(), cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "model" in done.stderr and "4,096" in done.stderr
    assert len(done.stderr) < 400


def test_study_list_and_trials_print_another_tools_bidi_text_escaped(tmp_path: Path) -> None:
    """A name or text another Optuna program stored is shown escaped, never as raw bidi or
    control characters that would make the terminal show something else."""
    import optuna

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = optuna.create_study(study_name="evil\u202etxt", storage=url)
    study.enqueue_trial({"x": 1.0}, user_attrs={"note_from_tool": "a\u2066b\x1b[31m"})
    study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=1)
    for args in (["study", "list"], ["trials", "evil\u202etxt"]):
        done = subprocess.run(
            [sys.executable, "-m", "hptui", "--db", str(tmp_path / "runs.db"), *args],
            capture_output=True, text=True, env={**hptui_env(), "COLUMNS": "200"},
            cwd=tmp_path, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "evil\\u202etxt" in done.stdout or args[0] == "trials"
        assert not {"\u202e", "\u2066", "\x1b"} & set(done.stdout), done.stdout


@pytest.mark.parametrize(
    ("option", "value"),
    [("--trials", "100000000000000000000"), ("--trials", "0"), ("--threads", "100000"),
     ("--per-gpu", "0"), ("--heartbeat", "0"), ("--grace", "999999999")],
)  # fmt: skip
def test_worker_numbers_are_bounded_before_anything_runs(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    """A total of 10^20 trials once spun a worker for ten minutes, deaf to SIGTERM: every
    whole number a worker reads is refused out of range in one line, before it starts."""
    db = tmp_path / "runs.db"
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    assert (
        main(["study", "create", "k", "--space", str(space), "--storage", f"sqlite:///{db}"]) == 0
    )
    capsys.readouterr()
    before = db.read_bytes()
    args = ["worker", "k", "--storage", f"sqlite:///{db}", "--trials", "3", option, value]
    status = main(args)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and option in err and "whole number" in err
    assert db.read_bytes() == before


def test_a_database_error_inside_optunas_wrapper_is_not_called_a_bug() -> None:
    """Optuna raises StorageInternalError from a failed database call: hptui names the
    database condition in one line (exit 2), it never asks the user to report a bug."""
    import sqlite3

    from optuna.exceptions import StorageInternalError

    from hptui.cli import describe_failure

    try:
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.Error as inner:
            raise StorageInternalError("An exception is raised during the commit.") from inner
    except StorageInternalError as exc:
        status, line = describe_failure(exc, "sqlite:///runs.db")
    assert status == 2 and "bug" not in line and "locked" in line
