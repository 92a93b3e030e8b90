"""A new study: its name, sampler, pruner, objective and seed, and the space form."""

from __future__ import annotations

import asyncio

from textual import events, on, work
from textual._time import get_time  # the clock of an event's `time`
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator, Static

from hptui.core.studies.settings import StudySettings
from hptui.core.views.space_form import row_names

from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.space.form import SpaceForm


class NewStudyScreen(ReportsWorkerErrors, Screen[str]):
    """Dismisses with the new study's name once the core has created it; create stays
    disabled while any field of the form is wrong."""

    CSS_PATH = "new_study.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create study"),
    ]

    def __init__(self, name: str = "", initial: StudySettings | None = None) -> None:
        """`name` and `initial` prefill the form (the analysis tab's narrower space comes
        here for review before it becomes a study)."""
        super().__init__()
        self.initial_name = name
        self.initial = initial

    def compose(self) -> ComposeResult:
        yield Header()
        # The form has hundreds of widgets and takes seconds to build on a slow machine:
        # this shows at once, the form replaces it (see `_build`).
        with Vertical(id="new-study-loading"):
            yield Static("Building the space form…", markup=False)
            yield LoadingIndicator()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "new study"
        self._ready_at: float | None = None
        self._build()

    @work(group="build-form", exclusive=True, exit_on_error=False, name="build the space form")
    async def _build(self) -> None:
        """Paint the loading line first, then mount the form. Keys typed meanwhile (a
        repeated `y` of the dialog before) are dropped, never typed into the name field."""
        painted = asyncio.Event()
        self.call_after_refresh(painted.set)
        await painted.wait()
        form = SpaceForm(list(row_names()), id="space-form")
        await self.mount(form, before=self.query_one(Footer))
        if self.initial is not None:
            form.load(self.initial.space, self.initial)
        if self.initial_name:
            form.set_name(self.initial_name)
        form.mark_clean()  # what escape may drop without asking: the form as first shown
        await self.query_one("#new-study-loading").remove()
        self._ready_at = get_time()
        self.query_one("#study-name").focus()
        self.refresh_bindings()

    @property
    def ready(self) -> bool:
        """Whether the form is built (and takes keys)."""
        return self._ready_at is not None

    def takes_key(self, key: events.Key) -> bool:
        """Keys typed before the form was built are dropped (the app asks; see
        `HptuiApp.on_event`), escape and ctrl+c excepted."""
        ready = getattr(self, "_ready_at", None)
        return key.key in ("escape", "ctrl+c") or (ready is not None and key.time >= ready)

    @on(SpaceForm.Checked)
    def _checked(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            forms = self.query(SpaceForm)
            return (bool(forms) and forms.first().settings is not None) or None
        return True

    def action_cancel(self) -> None:
        """Leave; edits typed into the form are thrown away only after a yes."""
        forms = self.query(SpaceForm)
        if not forms or not forms.first().edited:
            self.dismiss("")
            return
        from .confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss("")

        self.app.push_screen(ConfirmScreen("Discard the edits to this new study?"), answered)

    def action_create(self) -> None:
        forms = self.query(SpaceForm)
        form = forms.first() if forms else None
        if (
            form is None or form.settings is None
        ):  # never reached from a key: the binding is disabled
            return
        self._create(form.study_name, form.settings)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False, name="create the study")
    def _create(self, name: str, settings: StudySettings) -> None:
        app = self.app
        created = services(self).store.create_study(name, settings)
        said = "created" if created else "exists with these settings"
        app.call_from_thread(app.notify, f"study {name!r} {said}", markup=False)
        app.call_from_thread(self.dismiss, name)
