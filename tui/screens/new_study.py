"""A new study: its name, sampler, pruner, objective and seed, and the space form."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from hptui.core.studies.settings import StudySettings
from hptui.core.views.space_form import row_names

from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.space.form import SpaceForm


class NewStudyScreen(ReportsWorkerErrors, Screen[str]):
    """Dismisses with the new study's name once the core has created it; create stays
    disabled while any field of the form is wrong."""

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
        yield SpaceForm(list(row_names()), id="space-form")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "new study"
        form = self.query_one(SpaceForm)
        if self.initial is not None:
            form.load(self.initial.space, self.initial)
        if self.initial_name:
            form.set_name(self.initial_name)
        self.query_one("#study-name").focus()

    @on(SpaceForm.Checked)
    def _checked(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            return self.query_one(SpaceForm).settings is not None or None
        return True

    def action_cancel(self) -> None:
        self.dismiss("")

    def action_create(self) -> None:
        form = self.query_one(SpaceForm)
        if form.settings is None:  # never reached from a key: the binding is disabled
            return
        self._create(form.study_name, form.settings)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False, name="create the study")
    def _create(self, name: str, settings: StudySettings) -> None:
        app = self.app
        created = services(self).store.create_study(name, settings)
        said = "created" if created else "exists with these settings"
        app.call_from_thread(app.notify, f"study {name!r} {said}", markup=False)
        app.call_from_thread(self.dismiss, name)
