"""The console with real worker processes: started from the keyboard, watched on the live
tab until their trial completes, stopped through the database, and left running when the
console quits. Tiny model on a real MRPC slice; nothing is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import console_pilot
import pytest
from conftest import write_space
from textual.pilot import Pilot

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.studies.store import Store
from hptui.core.workers.registry import list_workers, pid_alive
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.start_workers import StartWorkersScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.widgets.live.pane import LivePane

pytestmark = pytest.mark.slow


@pytest.fixture
def study_url(tmp_path: Path, mrpc_dir: Path) -> str:
    space = write_space(tmp_path / "space.toml", mrpc_dir, num_epochs=2, train_limit=64)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    create_study("live", StudySettings(load_space(space), sampler="random", seed=1), url)
    return url


@pytest.fixture
def long_study_url(tmp_path: Path, mrpc_dir: Path) -> str:
    """Trials long enough (minutes) to be stopped while they train."""
    space = write_space(
        tmp_path / "space.toml", mrpc_dir, num_epochs=50, train_limit=512, eval_limit=64
    )
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    create_study("long", StudySettings(load_space(space), sampler="random"), url)
    return url


@pytest.fixture
def reap() -> list[int]:
    """Pids to kill after the test, whatever happened in it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def drive(url: str, steps: Callable[[HptuiApp, Pilot[None]], Awaitable[None]]) -> HptuiApp:
    app = make_app(Store(url), refresh_seconds=0.3, data_dir=None)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await steps(app, pilot)

    asyncio.run(asyncio.wait_for(run(), timeout=300))
    return app


async def settle(app: HptuiApp, pilot: Pilot[None]) -> None:
    await console_pilot.settle(app, pilot, rounds=2, pause=0.1, last=False)


async def wait_until(pilot: Pilot[None], check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting on the console"
        await pilot.pause(0.25)


async def start_from_console(app: HptuiApp, pilot: Pilot[None], count: int, trials: int) -> None:
    await pilot.press("w")
    await settle(app, pilot)
    assert isinstance(app.screen, StartWorkersScreen)
    app.screen.query_one("#count").value = str(count)  # type: ignore[attr-defined]
    app.screen.query_one("#trials").value = str(trials)  # type: ignore[attr-defined]
    app.screen.query_one("#device").value = "cpu"  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")
    await wait_until(pilot, lambda: not isinstance(app.screen, StartWorkersScreen), 30)


def test_start_a_worker_and_watch_its_trial_complete_on_the_live_tab(
    study_url: str, reap: list[int]
) -> None:
    seen_running: list[int] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await start_from_console(app, pilot, count=1, trials=1)
        await wait_until(pilot, lambda: bool(list_workers(study_url, "live")), 60)
        reap.extend(w.pid for w in list_workers(study_url, "live"))
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)
        live = app.screen.query_one(LivePane)

        def complete() -> bool:
            snapshot = live.snapshot
            if snapshot is not None and snapshot.running:
                seen_running.append(snapshot.running[0].number)
            return snapshot is not None and snapshot.counts.get("COMPLETE", 0) == 1

        await wait_until(pilot, complete, 240)
        assert live.snapshot is not None and not live.snapshot.running
        assert "#0 complete" in str(live.query_one("#live-recent").render())

    drive(study_url, steps)
    rows = StudyReader(study_url).trials("live")
    assert [(r.number, r.state) for r in rows] == [(0, "COMPLETE")]
    assert str(rows[0].user_attrs["hptui.device"]).startswith("cpu")


def test_stop_a_worker_from_the_console(long_study_url: str, reap: list[int]) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await start_from_console(app, pilot, count=1, trials=3)

        def training() -> bool:
            workers = list_workers(long_study_url, "long")
            return bool(workers) and workers[0].trial_number is not None

        await wait_until(pilot, training, 120)
        worker = list_workers(long_study_url, "long")[0]
        reap.append(worker.pid)
        await wait_until(pilot, lambda: app.screen.query_one("#workers").row_count == 1, 10)  # type: ignore[attr-defined]
        app.screen.query_one("#workers").focus()
        await pilot.press("x")
        await settle(app, pilot)
        await pilot.press("y")
        await wait_until(pilot, lambda: not pid_alive(worker.pid), 120)

    drive(long_study_url, steps)
    rows = StudyReader(long_study_url).trials("long")
    first = rows[0]
    assert first.state == "FAIL" and first.reason is not None
    assert "stopped from the console" in first.reason
    assert not any(r.state == "RUNNING" for r in rows)


def test_quitting_the_console_leaves_a_detached_worker_training(
    long_study_url: str, reap: list[int]
) -> None:
    pids: list[int] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await start_from_console(app, pilot, count=1, trials=3)
        await wait_until(pilot, lambda: bool(list_workers(long_study_url, "long")), 60)
        pids.extend(w.pid for w in list_workers(long_study_url, "long"))
        reap.extend(pids)
        await pilot.press("q")

    app = drive(long_study_url, steps)
    assert app.return_code == 0
    time.sleep(2)
    assert pids and all(pid_alive(pid) for pid in pids)
    reopened = [w for w in list_workers(long_study_url, "long") if w.pid in pids]
    assert reopened and reopened[0].status in ("alive", "stale")
