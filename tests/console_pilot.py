"""Waiting on the console in Pilot tests: its reads run in thread workers, so a test lets
them finish and the screen redraw before it looks."""

from __future__ import annotations

import contextlib

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerCancelled


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
