"""The Space tab: the study's space in the form; an edit becomes a new study, never a rewrite."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from hptui.core.studies.settings import StudySettings
from hptui.core.views.space_form import row_names

from ...format import error_line
from ...messages import ReportsWorkerErrors
from ...services import services
from .form import SpaceForm


class SpacePane(ReportsWorkerErrors, Vertical):
    """Shows the study's stored space and settings; ctrl+s creates the edited space as a new
    study (`NAME-2`) seeded with the old trials that fit it; ctrl+t queues a manual trial."""

    BINDINGS = [
        Binding("ctrl+s", "create", "New study from edit"),
        Binding("ctrl+t", "enqueue", "Enqueue trial"),
        # Only while the form holds edits (else escape is the study screen's, to the studies).
        Binding("escape", "leave", "Studies"),
    ]

    def __init__(self, study: str) -> None:
        super().__init__(id="space-pane")
        self.study = study
        self.stored: StudySettings | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("", id="space-note", markup=False)

    async def activate(self) -> None:
        """The form (a few hundred widgets) is built when the tab is first shown, so
        opening a study stays quick."""
        if self.query(SpaceForm):
            return
        await self.mount(SpaceForm(list(row_names()), current=self.study, id="space-form"))
        self.query_one("#space-note", Static).update("reading the study's space...")
        self._read()

    @work(thread=True, group="space-read", exit_on_error=False, name="read the space")
    def _read(self) -> None:
        from hptui.core.studies.space_change import suggest_name

        try:
            studies = services(self).store.studies()
        except Exception as exc:
            self.app.call_from_thread(self._note, error_line(exc))
            return
        info = next((s for s in studies if s.name == self.study), None)
        if info is None or info.settings is None:
            self.app.call_from_thread(
                self._note, f"{self.study!r} has no hptui space stored; load one with ctrl+o"
            )
            return
        name = suggest_name(self.study, [s.name for s in studies])
        self.app.call_from_thread(self._show, info.settings, name, info.total)

    def _note(self, text: str) -> None:
        self.query_one("#space-note", Static).update(text)

    def _show(self, settings: StudySettings, new_name: str, trials: int) -> None:
        self.stored = settings
        form = self.query_one(SpaceForm)
        form.current_settings = settings
        form.load(settings.space, settings)
        form.set_name(new_name)
        form.mark_clean()
        self._note(
            f"{trials} trial(s); never rewritten: ctrl+s makes the edit a new study "
            f"({new_name!r}) with the old trials that fit; ctrl+t queues a trial"
        )
        self.loaded = True

    @on(SpaceForm.Checked)
    def _checked(self) -> None:
        self.screen.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "create":
            forms = self.query(SpaceForm)
            return (bool(forms) and forms.first().settings is not None) or None
        if action == "enqueue":
            return self.stored is not None or None
        if action == "leave":
            return self.edited
        return True

    @property
    def edited(self) -> bool:
        forms = self.query(SpaceForm)
        return bool(forms) and forms.first().edited

    def action_leave(self) -> None:
        """Escape with an edited space: ask before the edits go with the study screen."""
        from ...screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one(SpaceForm).mark_clean()
                self.app.pop_screen()

        question = "Discard the edits to the space? (ctrl+s keeps them as a new study)"
        self.app.push_screen(ConfirmScreen(question), answered)

    def action_create(self) -> None:
        form = self.query_one(SpaceForm)
        if form.settings is None:
            return
        self._create(form.study_name, form.settings)

    @work(
        thread=True, exclusive=True, group="space-create", exit_on_error=False,
        name="create the study",
    )  # fmt: skip
    def _create(self, name: str, settings: StudySettings) -> None:
        app = self.app
        change = services(self).store.change_space(self.study, name, settings)
        app.call_from_thread(self._note, change.summary())
        app.call_from_thread(app.notify, change.summary(), markup=False, timeout=10)

    def action_enqueue(self) -> None:
        if self.stored is None:
            return
        from ...screens.enqueue_trial import EnqueueTrialScreen

        self.app.push_screen(EnqueueTrialScreen(self.study, self.stored))
