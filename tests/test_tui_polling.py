"""An idle console does not keep reading: a hidden tab does not poll, a shown one polls at
once when shown again, and polls back off while nothing changes.

The polls are counted on the feed objects themselves (the `poll` of the live tab's
`LiveFeed` and the trials tab's `TrialsFeed`), with the console refreshing every 50 ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import console_data
import pytest
from console_pilot import settle

from hptui.core.studies.store import Store
from hptui.tui.app import make_app
from hptui.tui.widgets.live.pane import LivePane
from hptui.tui.widgets.trials.pane import TrialsPane

REFRESH = 0.05


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def _count(feed: Any) -> list[int]:
    """Count `feed.poll()` calls from now on (one cell, incremented by each call)."""
    calls = [0]
    poll: Callable[[], Any] = feed.poll

    def counted() -> Any:
        calls[0] += 1
        return poll()

    feed.poll = counted
    return calls


def test_a_hidden_tab_does_not_poll_and_polls_at_once_when_shown(fixed_url: str) -> None:
    app = make_app(Store(fixed_url), refresh_seconds=REFRESH, clock=lambda: console_data.CLOCK)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            live = app.screen.query_one(LivePane)
            while live._feed is None:
                await asyncio.sleep(0.01)
            live_polls = _count(live._feed)

            await pilot.press("2")
            await settle(app, pilot)
            trials = app.screen.query_one(TrialsPane)
            assert trials.loaded and trials._feed is not None
            trials_polls = _count(trials._feed)
            hidden_at = live_polls[0]
            await asyncio.sleep(1.0)  # 20 refresh periods
            assert live_polls[0] == hidden_at  # the live tab is hidden: not one poll

            await pilot.press("1")
            await settle(app, pilot)
            assert live_polls[0] > hidden_at  # shown again: read at once
            trials_hidden_at = trials_polls[0]
            await asyncio.sleep(2.5)  # longer than the trials tab's 2 s period
            assert trials_polls[0] == trials_hidden_at

            await pilot.press("2")
            await settle(app, pilot)
            assert trials_polls[0] > trials_hidden_at

    asyncio.run(asyncio.wait_for(run(), timeout=60))


def test_polls_back_off_while_nothing_changes(fixed_url: str) -> None:
    app = make_app(Store(fixed_url), refresh_seconds=REFRESH, clock=lambda: console_data.CLOCK)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            live = app.screen.query_one(LivePane)
            assert live.poller is not None
            for _ in range(200):  # the study holds still: each empty poll waits longer
                if live.poller.delay >= 8 * REFRESH:
                    break
                await asyncio.sleep(0.05)
            assert live.poller.delay >= 8 * REFRESH
            live.poller.found(True)  # something new: back to the quick period
            assert live.poller.delay == REFRESH

    asyncio.run(asyncio.wait_for(run(), timeout=60))
