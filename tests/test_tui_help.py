"""`?` at 80x24 and 120x40: the screen's own keys first (grouped), Textual's generic keys
last, and the list scrolls to its end; the home footer keeps `? Help` in view at 80 columns
and the studies table keeps its `wkr` column on screen."""

from __future__ import annotations

import shutil
from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot
from textual.widgets import DataTable

from hptui.tui.app import HptuiApp
from hptui.tui.commands import GENERIC
from hptui.tui.screens.help import HelpScreen

SIZES = [(80, 24), (120, 40)]
TRIALS_KEYS = ["Details", "Compare", "Baseline", "Exclude", "Export"]


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def visible_rows(table: DataTable[object]) -> list[str]:
    """The `does` cells of the rows the table shows now (one line per row, one header)."""
    first = int(table.scroll_y)
    last = first + table.scrollable_content_region.height - 1
    return [str(table.get_row_at(i)[1]) for i in range(first, min(last, table.row_count))]


def footer_keys_in_view(app: HptuiApp) -> set[str]:
    """The footer's key descriptions a user can read: inside the screen and left of the
    command-palette key, which is docked over the footer's right end."""
    keys = list(app.screen.query("FooterKey"))
    palette = [key.region.x for key in keys if key.description == "palette"]
    right = min([app.screen.size.width, *palette])
    return {
        key.description
        for key in keys
        if key.description != "palette" and key.region.width and key.region.right <= right
    }


@pytest.mark.parametrize("size", SIZES)
def test_help_shows_the_screens_own_keys_first_and_scrolls_to_its_end(
    fixed_url: str, size: tuple[int, int]
) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#keys", DataTable)
        does = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert does[0] == "Trials pane"  # a heading, then the pane's keys, not "Cursor up"
        assert does.index(GENERIC) > does.index("Everywhere") > does.index("Export")
        seen: set[str] = set(visible_rows(table))
        for _ in range(table.row_count):
            await pilot.press("pagedown")
            await settle(app, pilot, rounds=1)
            seen |= set(visible_rows(table))
        assert set(TRIALS_KEYS) <= seen
        assert does[-1] in seen  # the list's end is reachable
        await pilot.press("home")
        await settle(app, pilot, rounds=1)
        assert "Trials pane" in visible_rows(table)

    drive(fixed_url, steps, size=size)


@pytest.mark.parametrize("size", SIZES)
def test_the_home_footer_and_table_fit(tmp_path: Path, size: tuple[int, int]) -> None:
    """On the example database (three studies, wider than 80 columns in full)."""
    example = Path(__file__).resolve().parent.parent / "runs.db.example"
    copy = tmp_path / "runs.db"
    shutil.copyfile(example, copy)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        shown = footer_keys_in_view(app)
        assert {"Start workers", "Worker log", "New study", "Help"} <= shown
        table = app.screen.query_one("#studies", DataTable)
        labels = [str(column.label) for column in table.ordered_columns]
        assert "wkr" in labels
        assert table.max_scroll_x == 0  # nothing cut at the right

    drive(f"sqlite:///{copy}", steps, size=size)


def test_end_and_home_move_the_home_tables_cursor_and_focus_shows(tmp_path: Path) -> None:
    """DataTable's own End scrolls sideways (a dead key on a row cursor); here it goes to the
    last study, Home to the first, and the focused table is the one with the bar."""
    example = Path(__file__).resolve().parent.parent / "runs.db.example"
    copy = tmp_path / "runs.db"
    shutil.copyfile(example, copy)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        studies = app.screen.query_one("#studies", DataTable)
        workers = app.screen.query_one("#workers", DataTable)
        assert studies.has_focus and studies.row_count == 3
        await pilot.press("end")
        assert studies.cursor_row == 2
        await pilot.press("home")
        assert studies.cursor_row == 0
        bar = studies.styles.outline_left
        assert bar != workers.styles.outline_left  # the bar marks where the keys go
        await pilot.press("tab")
        assert workers.has_focus and workers.styles.outline_left == bar

    drive(f"sqlite:///{copy}", steps)


@pytest.mark.parametrize("size", SIZES)
def test_the_trials_footer_keeps_export_and_help_in_view(
    fixed_url: str, size: tuple[int, int]
) -> None:
    """The footer once dropped `e Export` and `? Help` even at 120 columns: the trials tab
    shows its first-needed keys (Export still at 80 columns); the rest are in `?` and the
    palette."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        shown = footer_keys_in_view(app)
        assert {"Filter", "Mark", "Details", "Compare", "Export"} <= shown, shown
        if app.screen.size.width >= 120:
            assert {"Exclude", "Start workers", "Studies", "Help"} <= shown, shown

    drive(fixed_url, steps, size=size)
