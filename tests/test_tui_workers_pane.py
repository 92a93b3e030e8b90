"""The worker pane of the home screen with a real detached worker that fails on missing data
(`--data-dir /nonexistent`): the console says so on the study's screen the user is watching,
the pane keeps it as `exited` with its reason, and its log opens in the console with the
log's last line on screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import console_pilot
import pytest
from conftest import write_space
from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from hptui.core.studies.settings import StudySettings
from hptui.core.studies.space import load_space
from hptui.core.studies.store import Store
from hptui.core.workers.registry import list_workers
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.start_workers import StartWorkersScreen
from hptui.tui.screens.studies import StudiesScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.screens.worker_log import WorkerLogScreen
from hptui.tui.widgets.studies.tables import WorkersTable

pytestmark = pytest.mark.slow


async def wait_until(pilot: Pilot[None], check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting on the console"
        await pilot.pause(0.25)


def test_a_failed_worker_stays_in_the_pane_with_its_reason_and_its_log(
    tmp_path: Path, mrpc_dir: Path
) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = Store(url)
    store.create_study("pane", StudySettings(load_space(space), sampler="random", seed=1))
    app = make_app(store, refresh_seconds=0.3, data_dir="/nonexistent")
    seen: dict[str, str] = {}

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("w")
        await console_pilot.settle(app, pilot)
        assert isinstance(app.screen, StartWorkersScreen)
        app.screen.query_one("#trials").value = "1"  # type: ignore[attr-defined]
        app.screen.query_one("#device").value = "cpu"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, StudiesScreen), 30)
        home = app.screen
        table = home.query_one(WorkersTable)
        await pilot.press("enter")  # watch the study's live tab while the worker starts
        await console_pilot.settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)

        def said() -> list[str]:
            return [n.message for n in app._notifications]

        # The worker fails while the study's screen is shown: the console says so there.
        await wait_until(pilot, lambda: any("data not found" in m for m in said()), 120)
        assert isinstance(app.screen, StudyScreen)
        assert any(m.startswith("worker 1 (pane,") and "exited: error:" in m for m in said())
        await pilot.press("escape")
        await console_pilot.settle(app, pilot)
        assert app.screen is home

        def exited() -> bool:
            worker = table.current_worker()
            return worker is not None and worker.status == "exited"

        await wait_until(pilot, exited, 10)
        assert not list_workers(url)  # the registry's default read has dropped it...
        row = [str(c) for c in table.get_row_at(0)]
        assert row[-1].startswith("exited: error:")  # ...the pane keeps it, with why
        state = str(app.screen.query_one("#worker-state", Static).render())
        assert "data not found" in state
        seen["state"] = state

        table.focus()
        await pilot.press("l")
        await console_pilot.settle(app, pilot)
        assert isinstance(app.screen, WorkerLogScreen)
        log = app.screen.query_one(RichLog)
        await wait_until(pilot, lambda: bool(log.lines), 10)
        worker = table.current_worker()
        assert worker is not None and worker.log_path is not None
        last = Path(worker.log_path).read_text().rstrip("\n").splitlines()[-1]
        shown = " ".join(strip.text.strip() for strip in log.lines)  # wrapped at the width
        assert shown.endswith(" ".join(last.split()))
        header = str(app.screen.query_one("#log-state", Static).render())
        assert "exited: error:" in header
        await pilot.press("escape")
        await console_pilot.settle(app, pilot)
        assert isinstance(app.screen, StudiesScreen)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await console_pilot.settle(app, pilot)
            await steps(app, pilot)

    asyncio.run(asyncio.wait_for(run(), timeout=240))
    assert "worker 1: exited: error:" in seen["state"]
