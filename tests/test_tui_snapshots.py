"""SVG snapshots of the console on fixed data, at 80x24 and 120x40.

`pytest tests/test_tui_snapshots.py --snapshot-update` rewrites them after a deliberate change;
`snapshot_report.html` shows the differences when one fails.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import console_data
import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from hptui.core.studies.store import Store
from hptui.tui.app import make_app

SIZES = [(80, 24), (120, 40)]
VIEWS = {
    "studies": [],
    "live": ["enter"],
    "trials": ["enter", "2"],
    "space": ["enter", "3"],
    "analysis": ["enter", "4"],
    "new-study": ["n", "f3", "enter", "down", "enter"],  # the report grid preset
}


@pytest.fixture
def fixed_db(request: pytest.FixtureRequest) -> Path:
    """A fresh fixed study at the same absolute path every run (the header shows it)."""
    folder = Path(tempfile.gettempdir()) / "hptui-snapshots" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder / "runs.db"


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause(0.05)
        with contextlib.suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.1)


def press_then_settle(keys: list[str]):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", list(VIEWS))
def test_views(snap_compare, fixed_db: Path, view: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    url = console_data.build(fixed_db)
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK)
    console_data.for_snapshot(app)  # no animation; plot contents hidden
    assert snap_compare(app, terminal_size=size, run_before=press_then_settle(VIEWS[view]))


@pytest.mark.parametrize(
    "keys",
    [
        ["enter", "2", "space", "down", "down", "down", "space", "c"],  # compare 0 and 3
        ["enter", "2", "down", "down", "down", "enter"],  # details of 3
        ["enter", "2", "down", "b", "down", "x", "right", "right", "right", "right", "s"],
    ],
    ids=["compare", "details", "marks-and-sort"],
)
def test_trial_views(snap_compare, fixed_db: Path, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    url = console_data.build(fixed_db)
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK)
    console_data.for_snapshot(app)  # no animation; plot contents hidden
    assert snap_compare(app, terminal_size=(120, 40), run_before=press_then_settle(keys))
