"""A manual trial: one value per searched parameter, checked as typed like `enqueue`."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from hptui.core.errors import HptuiError
from hptui.core.studies.settings import StudySettings
from hptui.core.views.space_form import describe_distribution

from ..format import error_line
from ..messages import ReportsWorkerErrors
from ..services import services
from ..widgets.space.inputs import FormInput


class EnqueueTrialScreen(ReportsWorkerErrors, ModalScreen[bool]):
    """Queues one configuration in the study (empty fields: Optuna samples them)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "enqueue", "Enqueue"),
    ]

    def __init__(self, study: str, settings: StudySettings) -> None:
        super().__init__()
        self.study = study
        self.settings = settings
        self.names = list(settings.space.distributions())
        self.params: dict[str, object] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Enqueue a trial in {self.study!r}", markup=False)
            for name, dist in self.settings.space.distributions().items():
                with Horizontal(classes="point-row"):
                    yield Label(name, classes="point-name")
                    yield FormInput(
                        placeholder=describe_distribution(dist), compact=True, id=f"point-{name}"
                    )
            yield Static("", id="point-error", classes="error", markup=False)
            yield Static(
                "an empty field is sampled by the study   ctrl+s: enqueue   escape: cancel",
                classes="dialog-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self._check()

    @on(Input.Changed)
    def _changed(self) -> None:
        self._check()
        self.refresh_bindings()

    def _check(self) -> None:
        from hptui.core.views.space_form import check_point_fields

        texts = {n: self.query_one(f"#point-{n}", Input).value for n in self.names}
        self.params, errors = check_point_fields(self.settings, self.study, texts)
        self.query_one("#point-error", Static).update("\n".join(errors.values()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "enqueue":
            return self.params is not None or None
        return True

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_enqueue(self) -> None:
        if self.params is not None:
            self._enqueue(dict(self.params))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _enqueue(self, params: dict[str, object]) -> None:
        app = self.app
        try:
            services(self).store.enqueue(self.study, params)
        except HptuiError as exc:
            app.call_from_thread(self.query_one("#point-error", Static).update, str(exc))
            return
        except Exception as exc:
            app.call_from_thread(self.query_one("#point-error", Static).update, error_line(exc))
            return
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "all sampled"
        app.call_from_thread(app.notify, f"trial queued in {self.study!r}: {shown}", markup=False)
        app.call_from_thread(self.dismiss, True)
