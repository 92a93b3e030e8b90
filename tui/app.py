"""The hptui console: a Textual app over one study storage.

The app is handed a `Store` (`hptui.core.studies.store`): every read goes through it in a
thread worker, and so does every write the console makes (marks, queued trials, new studies,
a worker's stop request). Training never runs in this process: workers are started and
signalled through `hptui.core.workers.registry`, and closing the console never stops one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.color import Color
from textual.filter import Monochrome

from hptui.core.studies.store import Store

from .commands import ScreenCommands
from .messages import ActionFailed, ReportsWorkerErrors
from .screens.help import HelpScreen
from .screens.studies import StudiesScreen
from .services import Services


class HptuiApp(ReportsWorkerErrors, App[None]):
    """Studies, workers, live training and trials, from the keyboard."""

    CSS_PATH = "app.tcss"
    TITLE = "hptui"
    # The palette offers every key of the screen it is opened on, then Textual's own commands.
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", show=False),  # in `?`: the footer keeps room for Help
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, services: Services, *, study: str | None = None) -> None:
        super().__init__()
        self.services = services
        self.initial_study = study
        # With NO_COLOR, Textual's Monochrome filter reads `.color` of every segment's style,
        # and the plots draw segments with no style at all: give those an empty one.
        self._filters = [UnstyledSafe() if isinstance(f, Monochrome) else f for f in self._filters]

    @property
    def store(self) -> Store:
        return self.services.store

    def use_store(self, store: Store) -> None:
        """Read another storage from now on (the open-storage prompt)."""
        self.services.store = store
        self.sub_title = store.label

    def on_mount(self) -> None:
        self.sub_title = self.store.label
        self.push_screen(StudiesScreen())
        if self.initial_study:
            from .screens.study import StudyScreen

            self.push_screen(StudyScreen(self.initial_study))

    def on_action_failed(self, message: ActionFailed) -> None:
        """The one place errors are shown: a failed read, write or thread worker."""
        self.notify(f"{message.what}: {message.error}", severity="error", markup=False)

    async def on_event(self, event: events.Event) -> None:
        """A screen still building (the new-study form) may drop keys typed before it was
        ready, so a repeated key never lands in a text field it did not show yet."""
        if isinstance(event, events.Key) and not event.is_forwarded and self.screen_stack:
            takes_key = getattr(self.screen_stack[-1], "takes_key", None)
            if takes_key is not None and not takes_key(event):
                return
        await super().on_event(event)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


class UnstyledSafe(Monochrome):
    """Textual's monochrome filter, for segments without a style too."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        null = Style.null()
        return super().apply(
            [Segment(text, style or null, control) for text, style, control in segments],
            background,
        )


def make_app(
    store: Store,
    *,
    study: str | None = None,
    refresh_seconds: float = 0.3,
    data_dir: str | None = None,
    clock: Callable[[], float] = time.time,
) -> HptuiApp:
    """The one factory of the console, used by the CLI and the tests (which pass a fixed
    `clock`, so ages and durations on screen are reproducible)."""
    services = Services(store, refresh_seconds=refresh_seconds, data_dir=data_dir, clock=clock)
    return HptuiApp(services, study=study)


def store_for(db: str | None, storage: str | None) -> Store:
    """`--db FILE` is a short form of `--storage sqlite:///FILE`."""
    if db:
        return Store.for_file(db)
    return Store(storage or "sqlite:///runs.db")
