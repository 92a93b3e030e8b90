"""Trials out: RFC 4180 CSV safe for spreadsheets, JSON, no silent overwrite, SQL table,
and the incremental read API front ends poll."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path

import pytest
from conftest import write_space

from hptui.cli import main
from hptui.core.studies.export import ExportError, sort_rows, to_csv, write_file
from hptui.core.studies.reader import StudyReader, TrialCursor
from hptui.core.studies.settings import StudySettings, create_study, enqueue
from hptui.core.studies.space import load_space
from hptui.core.workers.runner import Worker, WorkerOptions

HOSTILE = [
    '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
    'say "hi", then leave', "two\nlines", "naïve ✓",
]  # fmt: skip


def test_csv_round_trip_neutralises_formulas_and_keeps_numbers() -> None:
    rows = [
        {"number": i, "reason": text, "learning_rate": -0.5 * i, "f1": None}
        for i, text in enumerate(HOSTILE)
    ]
    text = to_csv(rows)
    assert text.endswith("\r\n")
    back = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(back) == len(HOSTILE)
    for original, read in zip(rows, back, strict=True):
        reason = read["reason"]
        assert reason.lstrip("'") == original["reason"]  # nothing lost but the guard
        assert reason.startswith("'") == (original["reason"][0] in "=+-@\t\r")
        assert float(read["learning_rate"]) == original["learning_rate"]  # numbers stay numbers
        assert read["f1"] == ""


def test_files_are_never_silently_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "trials.csv"
    write_file(target, "first\n")
    with pytest.raises(ExportError, match="exists; choose another name or pass --force"):
        write_file(target, "second\n")
    assert target.read_text() == "first\n"
    write_file(target, "second\n", overwrite=True)
    assert target.read_text() == "second\n"


def test_sorting_puts_missing_values_last() -> None:
    rows = [{"f1": 0.5}, {"f1": None}, {"f1": 0.9}]
    assert [r["f1"] for r in sort_rows(rows, "f1")] == [0.5, 0.9, None]
    assert [r["f1"] for r in sort_rows(rows, "-f1")] == [0.9, 0.5, None]
    with pytest.raises(Exception, match="--sort: no column 'F1'"):
        sort_rows(rows, "F1")


@pytest.fixture
def finished_study(tmp_path: Path, mrpc_dir: Path, storage_url: str) -> str:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir))
    create_study("s", StudySettings(space, seed=1), storage_url)
    Worker(WorkerOptions("s", storage_url, trials=2)).run()
    return storage_url


def test_cli_trials_and_export(
    finished_study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "trials",
                "s",
                "--storage",
                finished_study,
                "--format",
                "json",
                "--sort",
                "f1",
                "--desc",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert rows[0]["f1"] >= rows[1]["f1"]
    assert list(rows[0])[:5] == ["number", "state", "reason", "duration_s", "learning_rate"]

    target = tmp_path / "trials.csv"
    assert main(["export", "s", "--storage", finished_study, "--csv", str(target)]) == 0
    exported = list(csv.DictReader(target.open(newline="")))
    assert {float(r["f1"]) for r in exported} == {r["f1"] for r in rows}
    assert main(["export", "s", "--storage", finished_study, "--csv", str(target)]) == 2
    assert "exists" in capsys.readouterr().err

    # The flat table for users' own SQL mirrors the same rows (the worker wrote it).
    db = sqlite3.connect(tmp_path / "runs.db")
    flat = db.execute("SELECT number, state, learning_rate, f1 FROM hptui_trials ORDER BY number")
    assert [(n, s) for n, s, _, _ in flat.fetchall()] == [(0, "COMPLETE"), (1, "COMPLETE")]


def test_users_sql_on_the_flat_table_compares_numbers(finished_study: str, tmp_path: Path) -> None:
    """The README's kind of query, through the sqlite3 module: typed columns, so
    `duration_s < 100` and `f1 > x` compare numbers, not text."""
    rows = {r.number: r for r in StudyReader(finished_study).trials("s")}
    db = sqlite3.connect(tmp_path / "runs.db")
    types = {row[1]: row[2] for row in db.execute("PRAGMA table_info(hptui_trials)")}
    assert {types[c] for c in ("accuracy", "f1", "loss", "duration_s", "learning_rate")} == {"REAL"}
    assert types["number"] == "INTEGER"
    query = "SELECT number FROM hptui_trials WHERE duration_s < 100 ORDER BY number"
    quick = [n for (n,) in db.execute(query)]
    assert quick == sorted(n for n, r in rows.items() if (r.duration_s or 1e9) < 100)
    assert quick == [0, 1]  # the tiny model trains in seconds
    middle = sorted(r.metrics["f1"] for r in rows.values())[0]
    above = db.execute("SELECT number FROM hptui_trials WHERE f1 > ?", (middle,)).fetchall()
    assert [n for (n,) in above] == [n for n, r in rows.items() if r.metrics["f1"] > middle]
    (kind,) = db.execute("SELECT typeof(f1) FROM hptui_trials LIMIT 1").fetchone()
    assert kind == "real"


def test_flat_table_of_an_older_version_is_retyped(finished_study: str, tmp_path: Path) -> None:
    from hptui.core.studies.export import refresh_flat_table

    db = sqlite3.connect(tmp_path / "runs.db")
    db.execute("DROP TABLE hptui_trials")
    db.execute("CREATE TABLE hptui_trials (study TEXT, number INTEGER, f1 TEXT, "
               "duration_s TEXT, old_column TEXT, PRIMARY KEY (study, number))")  # fmt: skip
    db.execute("INSERT INTO hptui_trials VALUES ('other', 0, '0.5', '12.5', 'kept')")
    db.commit()
    assert refresh_flat_table(finished_study, "s") == 2
    types = {row[1]: row[2] for row in db.execute("PRAGMA table_info(hptui_trials)")}
    assert types["f1"] == "REAL" and types["duration_s"] == "REAL"
    other = db.execute("SELECT f1, typeof(f1), old_column FROM hptui_trials WHERE study='other'")
    assert other.fetchall() == [(0.5, "real", "kept")]


def test_json_export_is_strict_and_keeps_full_precision() -> None:
    from hptui.core.studies.export import to_json

    rows = [{"number": 0, "loss": float("nan"), "x": float("inf"), "lr": 1.2345678901234567e-5}]
    text = to_json(rows)
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert back == [{"number": 0, "loss": None, "x": None, "lr": 1.2345678901234567e-5}]
    assert float(to_csv(rows).splitlines()[1].split(",")[3]) == 1.2345678901234567e-5


def test_a_failed_export_leaves_the_old_file_and_no_fragment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while writing: the old file stays whole, no partial file is left, and
    the retry is not blocked by a fragment."""
    import os as os_module

    target = tmp_path / "trials.json"
    target.write_text("old, complete\n")
    real_fsync = os_module.fsync

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os_module, "fsync", full_disk)
    with pytest.raises(ExportError, match="No space left on device; the old file is intact"):
        write_file(target, "new" * 10_000, overwrite=True)
    with pytest.raises(ExportError, match="No space left"):
        write_file(tmp_path / "fresh.json", "new\n")
    assert target.read_text() == "old, complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.json"]
    monkeypatch.setattr(os_module, "fsync", real_fsync)
    write_file(tmp_path / "fresh.json", "new\n")  # the retry is not blocked
    assert (tmp_path / "fresh.json").read_text() == "new\n"


def test_export_targets_are_checked_first(
    finished_study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["export", "s", "--storage", finished_study]
    cases = [
        (["--csv", ""], "file name is empty"),
        (["--json", ""], "file name is empty"),
        (["--csv", str(tmp_path / "missing" / "t.csv")], "missing: no such folder; create it"),
        (["--csv", str(tmp_path)], "is a folder; give a file name"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "missing").exists()


def test_nan_sorts_last_either_way() -> None:
    nan = float("nan")
    rows = [{"f1": 0.5}, {"f1": nan}, {"f1": None}, {"f1": 0.9}, {"f1": "unreadable: {}"}]
    assert [r["f1"] for r in sort_rows(rows, "f1")][:3] == [0.5, 0.9, "unreadable: {}"]
    assert [r["f1"] for r in sort_rows(rows, "-f1")][:3] == [0.9, 0.5, "unreadable: {}"]
    for column in ("f1", "-f1"):
        tail = [r["f1"] for r in sort_rows(rows, column)][3:]
        assert tail[0] is None or math.isnan(tail[0])
        assert tail[1] is None or math.isnan(tail[1])


def test_incremental_reads_return_only_what_changed(finished_study: str) -> None:
    reader = StudyReader(finished_study)
    changed, cursor = reader.trial_changes("s", TrialCursor())
    assert sorted(r.number for r in changed) == [0, 1]
    assert reader.trial_changes("s", cursor)[0] == []  # nothing new: nothing read

    enqueue("s", finished_study, {"learning_rate": 3e-4})
    changed, cursor = reader.trial_changes("s", cursor)
    assert [(r.number, r.state) for r in changed] == [(2, "WAITING")]

    Worker(WorkerOptions("s", finished_study, trials=3)).run()
    changed, cursor = reader.trial_changes("s", cursor)
    assert [(r.number, r.state) for r in changed] == [(2, "COMPLETE")]

    curve = reader.curve(changed[0].trial_id)
    assert len(curve.steps) == 4
    later = reader.curve(changed[0].trial_id, curve.step_cursor, curve.eval_cursor)
    assert later.steps == [] and later.evals == []
    partial = reader.curve(changed[0].trial_id, curve.steps[1]["id"])
    assert [s["step"] for s in partial.steps] == [3, 4]


def test_study_list_shows_counts_and_best(
    finished_study: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "list", "--storage", finished_study]) == 0
    out = capsys.readouterr().out
    assert "s " in out and "tpe" in out
    info = StudyReader(finished_study).study("s")
    assert info.counts == {"COMPLETE": 2}
    best = max(StudyReader(finished_study).trials("s"), key=lambda r: r.value or 0)
    assert (info.best_value, info.best_number) == (best.value, best.number)


def test_plain_optuna_sees_the_same_study(finished_study: str) -> None:
    """What optuna-dashboard reads: Optuna's own API on the same file, no hptui code."""
    import optuna

    study = optuna.load_study(study_name="s", storage=finished_study)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    rows = StudyReader(finished_study).trials("s")
    assert [t.value for t in trials] == [r.value for r in rows]
    assert [t.params for t in trials] == [r.params for r in rows]
    assert trials[0].user_attrs["f1"] == rows[0].metrics["f1"]
    assert study.best_trial.number in {0, 1}
