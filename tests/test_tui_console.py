"""The console on a study with fixed contents: the real app driven from the keyboard
(Textual's Pilot), asserting on what the screen and the database hold."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot

from hptui.core.studies.marks import load_marks
from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp
from hptui.tui.screens.compare import CompareScreen
from hptui.tui.screens.help import HelpScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.screens.trial_detail import TrialDetailScreen
from hptui.tui.widgets.trials.grid import TrialsGrid
from hptui.tui.widgets.trials.pane import TrialsPane

STUDY = "mrpc-tpe"


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def digest(url: str) -> str:
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def test_studies_screen_lists_the_study_and_enter_opens_its_live_tab(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        table = app.screen.query_one("#studies")
        row = [str(c) for c in table.get_row_at(0)]  # type: ignore[attr-defined]
        assert row[0] == STUDY
        assert row[3:8] == ["1", "5", "0", "1", "0"]  # running, complete, pruned, fail, waiting
        assert row[8] == "0.9012" and row[9] == "3"  # best value and its trial
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)
        cards = list(app.screen.query("TrialCard"))
        assert len(cards) == 1
        card = cards[0]
        assert card.trial is not None and card.trial.number == 6  # type: ignore[attr-defined]
        assert card.trial.progress == pytest.approx(2 / 3)  # type: ignore[attr-defined]
        assert "ETA" in str(card.query_one(".card-eta").render())

    drive(fixed_url, steps)


def test_sort_filter_and_a_hostile_filter(fixed_url: str) -> None:
    before = digest(fixed_url)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        assert grid.numbers == [0, 1, 2, 3, 4, 5, 6]
        keys = [c.key for c in grid.columns]
        for _ in range(keys.index("f1")):
            await pilot.press("right")
        await pilot.press("s")
        assert grid.sort_key == "f1" and not grid.descending
        assert grid.numbers[:5] == [2, 0, 1, 5, 3] and set(grid.numbers[5:]) == {4, 6}
        await pilot.press("s")
        assert grid.descending and grid.numbers[:5] == [3, 5, 1, 0, 2]
        await pilot.press("slash")
        await pilot.press(*"f1 > 0.89")
        await pilot.press("enter")
        assert grid.numbers == [3, 5]
        assert "2 of 7" in str(pane.query_one("#trials-status").render())
        filter_input = pane.query_one("#trials-filter")
        filter_input.value = "1; DROP TABLE trials; --"  # type: ignore[attr-defined]
        await settle(app, pilot)
        error = pane.query_one("#filter-error")
        assert error.display and "cannot read" in str(error.render())
        assert grid.numbers == [3, 5]  # the last good filter still applies
        filter_input.value = "f1 > 0.5' OR '1'='1"  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert "needs a number" in str(error.render())
        filter_input.value = ""  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert not error.display and len(grid.numbers) == 7

    drive(fixed_url, steps)
    assert digest(fixed_url) == before  # filters never write


def test_baseline_and_exclusion_marks_are_stored_in_the_database(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        await pilot.press("down")  # trial 1
        await pilot.press("b")
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).baseline == 1
        await pilot.press("down", "x", "y")  # trial 2: predicts one class (confirmed)
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == {2}
        assert pane.query_one(TrialsGrid).excluded == {2}
        await pilot.press("space", "space")  # mark 2 and 3
        await pilot.press("x", "y")  # 2 is excluded, 3 is not: exclude both
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == {2, 3}
        await pilot.press("x", "y")  # both excluded: include both again
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == frozenset()
        await pilot.press("up", "up", "up", "b")  # back on 1: clear the baseline
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).baseline is None
        status = str(pane.query_one("#trials-status").render())
        assert "2 marked" in status

    drive(fixed_url, steps)


def test_compare_two_marked_trials_and_open_a_trials_details(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("c")  # nothing marked: a warning, no screen
        assert isinstance(app.screen, StudyScreen)
        await pilot.press("space", "down", "down", "space", "c")  # trials 0 and 3
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert [r["number"] for r in screen.rows] == [0, 3]
        table = screen.query_one("DataTable")
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        # equal parameters are hidden (diff-only compare); `a` shows them
        assert "≠ lr" in labels and "≠ batch" in labels and "  wd" not in labels
        f1_row = [str(c) for c in table.get_row_at(labels.index("  f1"))]  # type: ignore[attr-defined]
        assert f1_row[1:] == ["0.8791", "0.9012 (+0.0221)"]
        await pilot.press("escape")
        await pilot.press("enter")  # details of the trial under the cursor (4)
        await settle(app, pilot)
        detail = app.screen
        assert isinstance(detail, TrialDetailScreen)
        assert detail.row["number"] == 4
        text = str(detail.query_one("#detail-config").render())
        assert "hptui train" in text and "--set learning_rate=3e-05" in text
        summary = detail.query_one("#detail-summary").render()
        assert summary is not None

    drive(fixed_url, steps)


def test_export_writes_the_visible_rows_and_asks_before_replacing(
    fixed_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "out.csv"

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        pane.query_one("#trials-filter").value = "state = COMPLETE"  # type: ignore[attr-defined]
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        path_input = app.screen.query_one("#export-path")
        path_input.value = str(target)  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert f"will write CSV to {target}" in str(app.screen.query_one("#export-target").render())
        await pilot.press("enter")
        await settle(app, pilot)
        assert target.is_file()
        first = target.read_text()
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#export-path").value = str(target)  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert "exists" in str(app.screen.query_one("#export-target").render())
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("n")  # keep the file
        await settle(app, pilot)
        assert target.read_text() == first
        await pilot.press("escape")
        pane.query_one("#trials-filter").value = ""  # type: ignore[attr-defined]
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        app.screen.query_one("#export-path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)

    drive(fixed_url, steps)
    rows = list(csv.DictReader(target.open(newline="")))
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3, 4, 5, 6]
    assert rows[3]["f1"] == "0.9012" and rows[3]["learning_rate"] == "8e-05"


def test_help_lists_the_keys_of_the_screen_below(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#keys")
        does = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}  # type: ignore[attr-defined]
        assert {
            "Sort (again: reverse)",
            "Mark",
            "Compare",
            "Baseline",
            "Export",
            "Quit",
        } <= does
        await pilot.press("escape")
        assert isinstance(app.screen, StudyScreen)

    drive(fixed_url, steps)


def test_a_missing_database_is_explained_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "runs.db"

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        problem = app.screen.query_one("#storage-problem")
        assert problem.display
        text = str(problem.render())
        assert f"{missing}: no such database" in text and "Press o to open another storage" in text
        await pilot.press("enter")  # no study to open: a notice, no crash
        await pilot.press("o")
        await settle(app, pilot)
        app.screen.query_one("#storage").value = str(tmp_path / "other.db")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert "no file" in str(app.screen.query_one("#open-error").render())
        await pilot.press("escape")

    drive(f"sqlite:///{missing}", steps)
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_database_is_explained(tmp_path: Path) -> None:
    bogus = tmp_path / "runs.db"
    bogus.write_text("not a database\n" * 100)
    before = bogus.read_bytes()

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        problem = app.screen.query_one("#storage-problem")
        assert problem.display
        assert "runs.db" in str(problem.render())

    drive(f"sqlite:///{bogus}", steps)
    assert bogus.read_bytes() == before


def test_q_quits_from_any_tab(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("q")

    app = drive(fixed_url, steps)
    assert app.return_code == 0


def test_the_example_database_opens_with_its_three_studies(tmp_path: Path) -> None:
    """`hptui --db runs.db.example`: real GPU-trained studies and the imported cards, on a
    database from before the worker registry (it has no hptui_workers table)."""
    example = Path(__file__).resolve().parent.parent / "runs.db.example"
    copy = tmp_path / "runs.db.example"
    copy.write_bytes(example.read_bytes())
    copy.chmod(0o444)  # the console only reads

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        assert not app.screen.query_one("#storage-problem").display
        table = app.screen.query_one("#studies")
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        assert names == ["cards", "grid", "tpe"]
        await pilot.press("down", "enter")
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        pane = app.screen.query_one(TrialsPane)
        assert pane.loaded and len(pane.model.rows) == 18
        f1 = [row["f1"] for row in pane.model.rows.values()]
        assert len(set(f1)) > 5 and max(f1) > 0.812  # trials differ and beat the majority class

    drive(f"sqlite:///{copy}", steps)
    assert copy.read_bytes() == example.read_bytes()


def test_the_readmes_key_table_matches_the_bindings() -> None:
    """Each row of the README's key table is a binding with that description."""
    from hptui.tui.screens.new_study import NewStudyScreen
    from hptui.tui.screens.studies import StudiesScreen
    from hptui.tui.widgets.analysis.pane import AnalysisPane
    from hptui.tui.widgets.live.pane import LivePane
    from hptui.tui.widgets.space.form import SpaceForm
    from hptui.tui.widgets.space.pane import SpacePane

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("| key | where | does |", 1)[1].split("\n\n", 1)[0]
    owners = {
        "studies": [StudiesScreen],
        "a study": [StudyScreen],
        "studies, a study": [StudiesScreen, StudyScreen],
        "live": [LivePane],
        "trials": [TrialsPane],
        "analysis": [AnalysisPane],
        "anywhere": [HptuiApp],
        "new study": [NewStudyScreen],
        "space": [SpacePane],
        "space form": [SpaceForm],
    }
    rows = [r.strip("|").split("|") for r in table.strip().splitlines()[1:]]
    assert len(rows) >= 15
    for keys, where, does in rows:
        for owner in owners[where.strip()]:
            bindings = {(b.key, b.description) for b in owner.BINDINGS}  # type: ignore[union-attr]
            descriptions = {d for _, d in bindings}
            if keys.strip() == "`1` `2` `3` `4`":
                assert {"Live", "Trials", "Space", "Analysis"} <= descriptions
                continue
            key = keys.strip().strip("`").replace("?", "question_mark").replace("/", "slash")
            assert (key, does.strip()) in bindings, (key, does, owner)


def test_escape_in_the_filter_box_returns_to_the_table(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        await pilot.press("slash", *"f1 > 0.89", "escape")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)  # still on the study
        assert app.focused is pane.query_one(TrialsGrid)
        assert pane.query_one(TrialsGrid).numbers == [3, 5]  # the filter applies

    drive(fixed_url, steps)


def test_a_card_whose_trial_ended_ignores_a_late_update(fixed_url: str) -> None:
    """A poll can hand a card its trial after the card was removed (the trial finished in
    between): the console must not crash (it did, with NoMatches, before)."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        card = app.screen.query_one("TrialCard")
        trial = card.trial  # type: ignore[attr-defined]
        await card.remove()
        card.trial = trial  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)

    app = drive(fixed_url, steps)
    assert app.return_code in (None, 0)


def test_a_failing_read_in_any_thread_worker_is_shown_in_one_place(
    fixed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a read (not an HptuiError) is neither a crash nor silence: the one handler
    turns it into one error notification naming what was being done."""

    def broken(self: Store, trial_id: int, step_cursor: int = 0, eval_cursor: int = 0) -> None:
        raise RuntimeError("the curve table is gone\nsecond line never shown")

    shown: list[tuple[str, str]] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        monkeypatch.setattr(Store, "curve", broken)
        monkeypatch.setattr(
            app, "notify", lambda text, severity="information", **_: shown.append((severity, text))
        )
        await open_trials(app, pilot)
        await pilot.press("enter")  # details: its curve is read in a thread worker
        await settle(app, pilot)
        assert isinstance(app.screen, TrialDetailScreen)  # the screen is still there

    drive(fixed_url, steps)
    assert shown == [
        ("error", "read the curve: internal error (RuntimeError: the curve table is gone)")
    ]


TAB_KEYS = {"1": "live", "2": "trials", "3": "space", "4": "analysis"}


@pytest.mark.parametrize("no_color", [False, True])
def test_tab_keys_work_from_every_tab_with_and_without_colour(
    fixed_url: str, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    """Each tab key shows its tab from any other tab (from the trials tab, 1 and 3 used to
    flash the tab and jump back with the filter focused), focus lands inside the tab shown
    (so its own keys work), and NO_COLOR=1 (every segment filtered to monochrome; the plots
    draw segments with no style) reads every tab without a crash, at 80x24."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    seen: list[tuple[str, str, bool]] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        assert app.no_color is no_color
        await pilot.press("enter")
        await settle(app, pilot)
        tabs = app.screen.query_one("TabbedContent")
        for key in "12342131":
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, StudyScreen)
            pane = app.screen.query_one(f"TabPane#{TAB_KEYS[key]}")
            focused = app.focused
            inside = focused is not None and pane in focused.ancestors_with_self
            seen.append((key, tabs.active, inside))  # type: ignore[attr-defined]

    app = drive(fixed_url, steps, size=(80, 24))
    assert app.return_code in (None, 0)
    assert seen == [(key, TAB_KEYS[key], True) for key in "12342131"]
