"""The trials table with the mouse: a click on a row moves the cursor there, a click on a
column's header sorts by it (again: reversed), as a user reaching for the mouse expects."""

from __future__ import annotations

from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot

from hptui.tui.app import HptuiApp
from hptui.tui.widgets.trials.grid import TrialsGrid


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def test_clicking_a_row_moves_the_cursor_to_it(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        assert grid.current_number == 0
        await pilot.click(TrialsGrid, offset=(4, 4))  # the header is line 0: row 3
        await settle(app, pilot)
        assert grid.current_number == 3
        await pilot.click(TrialsGrid, offset=(4, 1))
        await settle(app, pilot)
        assert grid.current_number == 0
        await pilot.click(TrialsGrid, offset=(4, 30))  # below the last row: nothing moves
        await settle(app, pilot)
        assert grid.current_number == 0
        await pilot.press("enter")  # the clicked row is the one the keys act on
        await settle(app, pilot)
        assert getattr(app.screen, "row", {}).get("number") == 0

    drive(fixed_url, steps)


def test_clicking_a_header_sorts_by_it_and_again_reverses(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        index = [c.key for c in grid.columns].index("f1")
        x = grid._offsets[index] + 1 - int(grid.scroll_offset.x)
        await pilot.click(TrialsGrid, offset=(x, 0))
        await settle(app, pilot)
        assert grid.sort_key == "f1" and not grid.descending
        assert grid.current_column is not None and grid.current_column.key == "f1"
        assert grid.numbers[:5] == [2, 0, 1, 5, 3] and set(grid.numbers[5:]) == {4, 6}
        await pilot.click(TrialsGrid, offset=(x, 0))
        await settle(app, pilot)
        assert grid.descending and grid.numbers[:5] == [3, 5, 1, 0, 2]
        assert "sorted by f1 desc" in str(pane.query_one("#trials-status").render())

    drive(fixed_url, steps)
