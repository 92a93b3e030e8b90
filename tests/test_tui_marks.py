"""Marks in the trials tab: `x` says which trials it will exclude and waits for a yes,
marking shows a count, and `u` clears the marks (a user once excluded the two best trials
by accident: the marks, not the trial under the cursor, were excluded without a word)."""

from __future__ import annotations

from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot

from hptui.core.studies.marks import load_marks
from hptui.tui.app import HptuiApp
from hptui.tui.screens.confirm import ConfirmScreen
from hptui.tui.widgets.trials.grid import TrialsGrid
from hptui.tui.widgets.trials.pane import TrialsPane

STUDY = "mrpc-tpe"


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def status(pane: TrialsPane) -> str:
    return str(pane.query_one("#trials-status").render())


def question(app: HptuiApp) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen.question


def test_x_names_the_marked_trials_and_excludes_only_after_yes(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        await pilot.press("down", "down", "down", "space", "down", "space")  # 3 and 5 (moves on)
        assert pane.marked == {3, 5}
        assert "2 marked" in status(pane)
        await pilot.press("up", "up", "up", "up")  # the cursor on trial 2, which is not marked
        await pilot.press("x")
        await settle(app, pilot)
        asked = question(app)
        assert "#3, #5" in asked and "2 marked" in asked and "#2" not in asked
        await pilot.press("n")  # no: nothing written
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == frozenset()
        await pilot.press("x")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == {3, 5}
        assert pane.query_one(TrialsGrid).excluded == {3, 5}
        await pilot.press("x", "y")  # both excluded: x asks to include them again
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == frozenset()

    drive(fixed_url, steps)


def test_without_marks_x_asks_about_the_trial_under_the_cursor(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("down", "down", "x")  # trial 2
        await settle(app, pilot)
        asked = question(app)
        assert "#2" in asked and "under the cursor" in asked
        await pilot.press("escape")  # cancel: nothing written
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == frozenset()
        await pilot.press("x", "y")
        await settle(app, pilot)
        assert load_marks(fixed_url, STUDY).excluded == {2}

    drive(fixed_url, steps)


def test_u_clears_every_mark_and_the_count_goes(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        await pilot.press("space", "space", "space")
        assert pane.marked == {0, 1, 2}
        assert "3 marked" in status(pane)
        grid = pane.query_one(TrialsGrid)
        assert grid.marked == {0, 1, 2}
        await pilot.press("u")
        await settle(app, pilot)
        assert pane.marked == set() and grid.marked == set()
        assert "marked" not in status(pane)
        await pilot.press("x")  # with the marks gone, x is about the cursor's trial (3)
        await settle(app, pilot)
        assert "#3" in question(app) and "#0" not in question(app)
        await pilot.press("n")

    drive(fixed_url, steps)


def test_the_new_keys_are_bindings_with_descriptions() -> None:
    bindings = {b.key: b.description for b in TrialsPane.BINDINGS}  # type: ignore[union-attr]
    assert bindings["u"] == "Clear marks" and bindings["x"] == "Exclude"
