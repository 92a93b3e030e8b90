"""Compare shows the parameters the trials differ in; `a` shows the equal ones too."""

from __future__ import annotations

from pathlib import Path

import console_data
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot

from hptui.tui.app import HptuiApp
from hptui.tui.screens.compare import CompareScreen


def labels(screen: CompareScreen) -> list[str]:
    table = screen.query_one("DataTable")
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]


def test_equal_parameters_are_hidden_until_a_shows_them(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("space", "down", "down", "space", "c")  # trials 0 and 3: wd equal
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        shown = labels(screen)
        assert "≠ lr" in shown and "≠ batch" in shown
        assert "  wd" not in shown and "≠ wd" not in shown
        assert "  f1" in shown  # metrics always show
        hidden = str(screen.query_one("#compare-hidden").render())
        assert "wd" in hidden and "a: show" in hidden
        await pilot.press("a")
        await settle(app, pilot)
        assert "  wd" in labels(screen) and "≠ lr" in labels(screen)
        table = screen.query_one("DataTable")
        row = [str(c) for c in table.get_row_at(labels(screen).index("  wd"))]  # type: ignore[attr-defined]
        assert row[1:] == ["0", "0"]
        await pilot.press("a")
        await settle(app, pilot)
        assert "  wd" not in labels(screen)

    drive(url, steps)
