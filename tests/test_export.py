"""Trials out: RFC 4180 CSV safe for spreadsheets, JSON, no silent overwrite, SQL table,
and the incremental read API front ends poll."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import write_space

from hptui.cli import main
from hptui.core.export import ExportError, sort_rows, to_csv, write_file
from hptui.core.read import StudyReader, TrialCursor
from hptui.core.space import load_space
from hptui.core.study import StudySettings, create_study, enqueue
from hptui.core.worker import Worker, WorkerOptions

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

    target = tmp_path / "out" / "trials.csv"
    assert main(["export", "s", "--storage", finished_study, "--csv", str(target)]) == 0
    exported = list(csv.DictReader(target.open(newline="")))
    assert {float(r["f1"]) for r in exported} == {r["f1"] for r in rows}
    assert main(["export", "s", "--storage", finished_study, "--csv", str(target)]) == 2
    assert "exists" in capsys.readouterr().err

    # The flat table for users' own SQL mirrors the same rows.
    db = sqlite3.connect(tmp_path / "runs.db")
    flat = db.execute("SELECT number, state, learning_rate, f1 FROM hptui_trials ORDER BY number")
    assert [(n, s) for n, s, _, _ in flat.fetchall()] == [(0, "COMPLETE"), (1, "COMPLETE")]


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
