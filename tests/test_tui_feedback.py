"""Slow steps show progress at once: `n` on the home screen puts "Building the space form"
on screen before the form (hundreds of widgets, seconds on a busy machine) is mounted, and
keys typed while it builds (a repeated `y` of the narrow-space dialog) never land in the
study-name field."""

from __future__ import annotations

import asyncio
from pathlib import Path

import console_data
import console_pilot
from textual import events
from textual.message import Message
from textual.widgets import Input

from hptui.core.studies.store import Store
from hptui.tui.app import make_app
from hptui.tui.screens.new_study import NewStudyScreen
from hptui.tui.widgets.space.form import SpaceForm


def screen_text(screen: object) -> str:
    strips = screen._compositor.render_strips()  # type: ignore[attr-defined]
    return "\n".join(strip.text for strip in strips)


def test_the_new_study_form_shows_progress_first_and_drops_keys_typed_meanwhile(
    tmp_path: Path,
) -> None:
    url = console_data.build(tmp_path / "runs.db")
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK)
    seen: dict[str, str] = {}

    def hook(message: Message) -> None:
        """At the first message after the form is in the DOM: what the screen shows."""
        screen = app.screen if app.screen_stack else None
        if "form" in seen or not isinstance(screen, NewStudyScreen):
            return
        if screen.query(SpaceForm):
            seen["form"] = screen_text(screen)

    async def run() -> None:
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await console_pilot.settle(app, pilot)
            typed_early = [events.Key("y", "y"), events.Key("y", "y")]  # before it is ready
            await pilot.press("n")
            assert isinstance(app.screen, NewStudyScreen)
            for key in typed_early:
                app.post_message(key)
            await console_pilot.settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, NewStudyScreen) and screen.ready
            name = screen.query_one("#study-name", Input)
            assert name.has_focus and name.value == ""  # the early keys were dropped
            await pilot.press("a")  # a key typed now is typed
            assert name.value == "a"

    asyncio.run(asyncio.wait_for(run(), timeout=120))
    assert "Building the space form" in seen["form"]  # still on screen as the form mounts
