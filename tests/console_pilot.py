"""Waiting on the console in Pilot tests: its reads run in thread workers, so a test lets
them finish and the screen redraw before it looks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

if TYPE_CHECKING:
    from hptui.tui.app import HptuiApp
    from hptui.tui.widgets.trials.pane import TrialsPane


async def settle(
    app: App[None], pilot: Pilot[None], rounds: int = 3, pause: float = 0.05, last: bool = True
) -> None:
    """`rounds` times: a pause, then every worker done (a cancelled one is fine); then one
    more pause for the redraw unless `last` is False."""
    for _ in range(rounds):
        await pilot.pause(pause)
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
    if last:
        await pilot.pause(pause)


def drive(
    url: str,
    steps: Callable[[HptuiApp, Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = (120, 40),
) -> HptuiApp:
    """The real console on `url` (fixed clock, no timed refresh), driven by `steps`."""
    import console_data

    from hptui.core.studies.store import Store
    from hptui.tui.app import make_app

    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK)

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await steps(app, pilot)

    asyncio.run(asyncio.wait_for(run(), timeout=60))
    return app


async def open_trials(app: HptuiApp, pilot: Pilot[None]) -> TrialsPane:
    """From the studies screen: open the first study on its trials tab, read."""
    from hptui.tui.screens.study import StudyScreen
    from hptui.tui.widgets.trials.pane import TrialsPane

    await pilot.press("enter")
    await settle(app, pilot)
    await pilot.press("2")
    await settle(app, pilot)
    assert isinstance(app.screen, StudyScreen)
    pane = app.screen.query_one(TrialsPane)
    assert pane.loaded
    return pane
