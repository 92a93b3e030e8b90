"""The held-out test from the console: `T` on the trials tab asks (K retrains, the test set
looked at once), starts a real detached `hptui final`, and the trial's details show what
it stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import console_data
import pytest
from console_pilot import settle
from final_data import STUDY, add_result, copy_db, digest, trained_db
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.final_test import FinalTestScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.screens.trial_detail import TrialDetailScreen
from hptui.tui.widgets.trials.grid import TrialsGrid
from hptui.tui.widgets.trials.pane import TrialsPane

FIXED = "mrpc-tpe"


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def drive(
    url: str, steps: Callable[[HptuiApp, Pilot[None]], Awaitable[None]], timeout: float = 60
) -> HptuiApp:
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await steps(app, pilot)

    asyncio.run(asyncio.wait_for(run(), timeout=timeout))
    return app


async def trials_at(app: HptuiApp, pilot: Pilot[None], number: int) -> TrialsPane:
    """The study's trials tab with the cursor on trial `number`."""
    await pilot.press("enter")
    await settle(app, pilot)
    await pilot.press("2")
    await settle(app, pilot)
    assert isinstance(app.screen, StudyScreen)
    pane = app.screen.query_one(TrialsPane)
    grid = pane.query_one(TrialsGrid)
    while grid.current_number != number:
        await pilot.press("down")
    return pane


async def wait_until(pilot: Pilot[None], check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting on the console"
        await pilot.pause(0.25)


def test_T_asks_what_will_happen_and_escape_writes_nothing(fixed_url: str) -> None:
    before = digest(fixed_url)
    warnings: list[str] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await trials_at(app, pilot, 3)
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, FinalTestScreen)
        said = str(app.screen.query_one("#final-what", Static).render())
        assert "K times" in said and "own seed 42 first" in said
        assert "looked at once" in said and "test.tsv" in said
        assert app.screen.query_one("#final-seeds", Input).value == "3"
        assert app.screen.query_one("#final-again", Checkbox).value is False
        app.screen.query_one("#final-seeds", Input).value = "0"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        error = str(app.screen.query_one("#final-error", Static).render())
        assert "seeds: a whole number from 1 to 100" in error
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)
        # A trial that did not complete: said at once, no dialog.
        app.notify = lambda text, **_: warnings.append(str(text))  # type: ignore[method-assign]
        await pilot.press("down")  # trial 4: FAIL
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)

    drive(fixed_url, steps)
    assert warnings == ["trial 4 is FAIL: only a COMPLETE trial can be tested"]
    assert digest(fixed_url) == before


def test_the_once_refusal_is_said_in_the_dialog(fixed_url: str) -> None:
    add_result(Store(fixed_url), FIXED, 3, 42)
    before = digest(fixed_url)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await trials_at(app, pilot, 5)
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, FinalTestScreen)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        error = str(app.screen.query_one("#final-error", Static).render())
        assert "already used for trial 3" in error and "--again" in error
        assert isinstance(app.screen, FinalTestScreen)  # still open: nothing started

    drive(fixed_url, steps)
    assert digest(fixed_url) == before
    assert not (Path(fixed_url.removeprefix("sqlite:///")).parent / "hptui-logs").exists()


def test_details_show_the_stored_test_beside_the_validation_figure(fixed_url: str) -> None:
    store = Store(fixed_url)
    add_result(store, FIXED, 3, 42, test_f1=0.84, test_accuracy=0.78)
    add_result(store, FIXED, 3, 43, test_f1=0.86, test_accuracy=0.80)

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await trials_at(app, pilot, 3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TrialDetailScreen)
        final = app.screen.query_one("#detail-final", Static)
        assert final.display
        text = str(final.render())
        assert "held-out test" in text and "seed 42: test f1 0.8400" in text
        assert "trial 3: validation f1 0.9012, accuracy 0.8578" in text
        assert "f1 0.8500 ± 0.0141" in text and "validation -> test: f1 -0.0512" in text
        await pilot.press("escape")
        await settle(app, pilot)
        # A trial without results shows no test section.
        await pilot.press("down", "down", "enter")  # trial 5
        await settle(app, pilot)
        assert isinstance(app.screen, TrialDetailScreen)
        assert app.screen.row["number"] == 5
        assert not app.screen.query_one("#detail-final", Static).display

    drive(fixed_url, steps)


@pytest.fixture
def reap() -> list[int]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_T_starts_a_detached_final_test_that_stores_its_result(
    tmp_path_factory: pytest.TempPathFactory, mrpc_dir: Path, tmp_path: Path, reap: list[int]
) -> None:
    url = copy_db(trained_db(tmp_path_factory, mrpc_dir), tmp_path)
    store = Store(url)
    shown: list[str] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        app.notify = lambda text, **_: shown.append(str(text))  # type: ignore[method-assign]
        await trials_at(app, pilot, 1)
        await pilot.press("T")
        await settle(app, pilot)
        assert isinstance(app.screen, FinalTestScreen)
        app.screen.query_one("#final-seeds", Input).value = "1"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, FinalTestScreen), 30)
        assert shown and shown[-1].startswith("final test of trial 1 started: pid ")
        reap.append(int(shown[-1].split("pid ")[1].split(",")[0]))
        await wait_until(pilot, lambda: bool(store.final_tests(STUDY)), 240)

    drive(url, steps, timeout=300)
    rows = store.final_tests(STUDY)
    assert [(r.trial_number, r.seed, r.test_examples) for r in rows] == [(1, 42, 1725)]
    log = Path(shown[-1].split("log ")[1])
    assert log.is_file() and log.name.startswith(f"{STUDY}-final-")
