"""Create a study from a TOML search space (the full space editor is the Space tab's job)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Select, Static

from hptui.core.errors import HptuiError

SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "gp")
OBJECTIVES = ("f1", "accuracy", "loss")


class NewStudyScreen(ModalScreen[str]):
    """Dismisses with the new study's name once it is created (checked by the core first)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("New study")
            yield Label("Name")
            yield Input(placeholder="mrpc-grid", id="name")
            yield Label("Search space (TOML file)")
            yield Input("examples/grid.toml", id="space")
            yield Label("Sampler")
            yield Select([(s, s) for s in SAMPLERS], value="tpe", id="sampler", allow_blank=False)
            yield Label("Objective")
            yield Select(
                [(o, o) for o in OBJECTIVES], value="f1", id="objective", allow_blank=False
            )
            yield Label("Seed (empty: none)")
            yield Input("", id="seed", type="integer")
            yield Static("", id="new-error", classes="error", markup=False)
            yield Static("ctrl+s: create   escape: cancel", classes="dialog-hint")
        yield Footer()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    def action_cancel(self) -> None:
        self.dismiss("")

    def action_create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        space = self.query_one("#space", Input).value.strip()
        seed_text = self.query_one("#seed", Input).value.strip()
        error = self.query_one("#new-error", Static)
        if not name:
            error.update("name: type a name for the study")
            return
        if not space:
            error.update("search space: the path of a TOML file (see examples/)")
            return
        try:
            seed = int(seed_text) if seed_text else None
        except ValueError:
            error.update("seed: a whole number, or empty")
            return
        sampler = str(self.query_one("#sampler", Select).value)
        objective = str(self.query_one("#objective", Select).value)
        error.update("creating...")
        self._create(name, space, sampler, objective, seed)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _create(
        self, name: str, space_path: str, sampler: str, objective: str, seed: int | None
    ) -> None:
        from hptui.core.space import load_space
        from hptui.core.study import OBJECTIVES as DIRECTIONS
        from hptui.core.study import StudySettings, create_study

        app = self.app
        try:
            settings = StudySettings(
                space=load_space(space_path),
                objective=objective,
                direction=DIRECTIONS[objective],
                sampler=sampler,
                seed=seed,
            )
            create_study(name, settings, app.storage_url)  # type: ignore[attr-defined]
        except (HptuiError, OSError) as exc:
            app.call_from_thread(self.query_one("#new-error", Static).update, str(exc))
            return
        app.call_from_thread(app.notify, f"study {name!r} created")
        app.call_from_thread(self.dismiss, name)
