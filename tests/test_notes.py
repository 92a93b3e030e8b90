"""Trial notes: one line per trial, stored in the study (a trial user attribute), written
from the console (N) and `hptui note`, shown in details and in every export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from screen_text import screen_text
from textual.pilot import Pilot

from hptui.cli import main
from hptui.core.studies.notes import MAX_NOTE
from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp
from hptui.tui.screens.trial_detail import TrialDetailScreen
from hptui.tui.screens.trial_note import TrialNoteScreen

STUDY = "mrpc-tpe"


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def notes(url: str) -> dict[int, str | None]:
    found = Store(url).notes(STUDY)
    return {t.number: found.get(t.number) for t in Store(url).trials(STUDY)}


def test_n_stores_a_note_on_a_finished_trial_and_details_show_it(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("down", "down", "N")  # trial 2, COMPLETE
        await settle(app, pilot)
        assert isinstance(app.screen, TrialNoteScreen)
        await pilot.press(*"one class only, lr too low", "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, TrialNoteScreen)
        assert notes(fixed_url)[2] == "one class only, lr too low"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TrialDetailScreen)
        line = next(x for x in screen_text(app).splitlines() if x.strip().startswith("note"))
        assert "one class only, lr too low" in line
        await pilot.press("escape", "N")  # again: the dialog holds the note; clear it
        await settle(app, pilot)
        note_input = app.screen.query_one("#note-text")
        assert note_input.value == "one class only, lr too low"  # type: ignore[attr-defined]
        note_input.value = ""  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert notes(fixed_url)[2] is None

    drive(fixed_url, steps)


def test_a_note_with_a_line_break_is_refused_in_the_dialog(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("N")
        await settle(app, pilot)
        app.screen.query_one("#note-text").value = "two\nlines"  # type: ignore[attr-defined]
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TrialNoteScreen)
        error = app.screen.query_one("#note-error")
        assert error.display and "one line" in str(error.render())
        await pilot.press("escape")

    drive(fixed_url, steps)
    assert notes(fixed_url)[0] is None


def test_hptui_note_sets_it_and_trials_and_export_show_it(
    fixed_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["note", STUDY, "--trial", "3", "best so far", "--storage", fixed_url]) == 0
    assert "best so far" in capsys.readouterr().out
    assert notes(fixed_url)[3] == "best so far"
    assert main(["trials", STUDY, "--format", "json", "--storage", fixed_url]) == 0
    rows = {r["number"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[3]["note"] == "best so far" and rows[0]["note"] is None
    target = tmp_path / "out.csv"
    assert main(["export", STUDY, "--csv", str(target), "--storage", fixed_url]) == 0
    with target.open(newline="") as handle:
        exported = {int(r["number"]): r for r in csv.DictReader(handle)}
    assert exported[3]["note"] == "best so far" and exported[1]["note"] == ""
    assert main(["note", STUDY, "--trial", "3", "", "--storage", fixed_url]) == 0
    assert notes(fixed_url)[3] is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--trial", "99", "x"], "has no trial 99"),
        (["--trial", "1", "x" * (MAX_NOTE + 1)], f"at most {MAX_NOTE} characters"),
        (["--trial", "1", "a\nb"], "one line"),
    ],
)
def test_hptui_note_refuses_bad_input_in_one_line(
    fixed_url: str, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    before = Path(fixed_url.removeprefix("sqlite:///")).read_bytes()
    assert main(["note", STUDY, *args, "--storage", fixed_url]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert Path(fixed_url.removeprefix("sqlite:///")).read_bytes() == before


def test_the_console_export_has_the_note_column(
    fixed_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(fixed_url).set_note(STUDY, 1, "=SUM(A1)")  # a spreadsheet must not run it
    monkeypatch.chdir(tmp_path)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        from hptui.tui.screens.export import ExportScreen

        pane.action_export()
        await settle(app, pilot)
        assert isinstance(app.screen, ExportScreen)
        rows = app.screen.rows  # type: ignore[attr-defined]
        assert [r["note"] for r in rows][:3] == [None, "=SUM(A1)", None]

    drive(fixed_url, steps)
