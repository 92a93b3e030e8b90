"""The hptui console: a Textual app over a study storage.

The console only reads the storage (through `hptui.core.read`) and starts or signals worker
processes (through `hptui.core.workers`); training never runs in its process. Every read runs
in a thread worker, and closing the console never stops a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from hptui.core.read import StudyReader
from hptui.core.storage import redact

from .messages import ActionFailed
from .screens.help import HelpScreen
from .screens.studies import StudiesScreen


class HptuiApp(App[None]):
    """Studies, workers, live training and trials, from the keyboard."""

    CSS_PATH = "app.tcss"
    TITLE = "hptui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        storage_url: str,
        *,
        study: str | None = None,
        refresh_seconds: float = 0.3,
        data_dir: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.storage_url = storage_url
        self.initial_study = study
        self.refresh_seconds = refresh_seconds
        self.data_dir = data_dir
        self._reader: StudyReader | None = None
        self._reader_lock = threading.Lock()

    @property
    def storage_label(self) -> str:
        """The storage as shown on screen: a password never is."""
        return redact(self.storage_url)

    def reader(self) -> StudyReader:
        """The storage reader, opened on first use (call from a thread worker)."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = StudyReader(self.storage_url)
            return self._reader

    def use_storage(self, url: str) -> None:
        """Read another storage from now on (the open-storage prompt)."""
        with self._reader_lock:
            self.storage_url = url
            self._reader = None
        self.sub_title = self.storage_label

    def on_mount(self) -> None:
        self.sub_title = self.storage_label
        self.push_screen(StudiesScreen())
        if self.initial_study:
            from .screens.study import StudyScreen

            self.push_screen(StudyScreen(self.initial_study))

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(f"{message.what}: {message.error}", severity="error", markup=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def make_app(
    storage_url: str,
    *,
    study: str | None = None,
    refresh_seconds: float = 0.3,
    data_dir: str | None = None,
    clock: Callable[[], float] = time.time,
) -> HptuiApp:
    """The one factory of the console, used by the CLI and the tests (which pass a fixed
    `clock`, so ages and durations on screen are reproducible)."""
    return HptuiApp(
        storage_url, study=study, refresh_seconds=refresh_seconds, data_dir=data_dir, clock=clock
    )


def storage_url_for(db: str | None, storage: str | None) -> str:
    """`--db FILE` is a short form of `--storage sqlite:///FILE`."""
    if db:
        return f"sqlite:///{Path(db).expanduser()}"
    return storage or "sqlite:///runs.db"
