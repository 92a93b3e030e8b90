"""The trials filter as a newcomer types it: the header's labels are names too (`lr` for
learning_rate), and after filtering the cursor is on the first row, or still on the trial
it was on when that trial is still shown."""

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


async def _filter(app: HptuiApp, pilot: Pilot[None], text: str) -> None:
    await pilot.press("slash", "ctrl+a", "ctrl+k")  # focus the box, clear it
    await pilot.press(*text)
    await pilot.press("enter")
    await settle(app, pilot)


def test_the_filter_takes_the_headers_labels_and_the_full_names(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        assert any(c.label == "lr" and c.key == "learning_rate" for c in grid.columns)
        await _filter(app, pilot, "lr > 5e-05")
        assert not pane.query_one("#filter-error").display
        assert grid.numbers == [3, 5]
        await _filter(app, pilot, "learning_rate > 5e-05, acc > 0.85")
        assert grid.numbers == [3]
        assert "filter: learning_rate > 5e-05, accuracy > 0.85" in str(
            pane.query_one("#trials-status").render()
        )

    drive(fixed_url, steps)


def test_after_filtering_the_cursor_is_on_the_first_row_or_stays_on_its_trial(
    fixed_url: str,
) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        await pilot.press("end")
        assert grid.current_number == 6  # the running trial, filtered out next
        await _filter(app, pilot, "f1 > 0.85")
        assert grid.numbers == [0, 1, 3, 5]
        assert grid.cursor_row == 0 and grid.current_number == 0
        await pilot.press("down", "down")
        assert grid.current_number == 3
        await _filter(app, pilot, "f1 > 0.89")
        assert grid.numbers == [3, 5] and grid.current_number == 3  # still shown: kept

    drive(fixed_url, steps)
