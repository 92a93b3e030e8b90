"""The command palette offers the console's own keys: typing "export" on the trials tab finds
Export, picking it opens the export dialog; "start workers" and "filter" run theirs too."""

from __future__ import annotations

from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from hptui.tui.app import HptuiApp
from hptui.tui.screens.export import ExportScreen
from hptui.tui.screens.start_workers import StartWorkersScreen


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


async def run_from_palette(app: HptuiApp, pilot: Pilot[None], text: str) -> list[str]:
    """Open the palette, type `text`, pick the first match; returns the matches' prompts."""
    await pilot.press("ctrl+p")
    await settle(app, pilot)
    assert CommandPalette.is_open(app)
    await pilot.press(*text)
    await settle(app, pilot, rounds=6)
    options = app.screen.query_one("CommandList")
    prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]  # type: ignore[attr-defined]
    await pilot.press("down", "enter")
    await settle(app, pilot)
    return prompts


def test_export_from_the_palette_opens_the_export_dialog(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        prompts = await run_from_palette(app, pilot, "export")
        assert prompts and prompts[0].startswith("Export  (e)")
        assert isinstance(app.screen, ExportScreen)

    drive(fixed_url, steps)


def test_start_workers_and_filter_from_the_palette(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        prompts = await run_from_palette(app, pilot, "start workers")
        assert prompts[0].startswith("Start workers  (w)")
        assert isinstance(app.screen, StartWorkersScreen)
        await pilot.press("escape")
        await settle(app, pilot)

        await open_trials(app, pilot)
        await run_from_palette(app, pilot, "filter")
        focused = app.screen.focused
        assert isinstance(focused, Input) and focused.id == "trials-filter"

    drive(fixed_url, steps)


def test_the_palette_lists_keys_hidden_from_the_footer(fixed_url: str) -> None:
    """The home screen's `o` is not in the footer; the palette still has it."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        prompts = await run_from_palette(app, pilot, "open storage")
        assert prompts[0].startswith("Open storage  (o)")
        assert type(app.screen).__name__ == "OpenStorageScreen"

    drive(fixed_url, steps)
