"""The space form: study settings on top, one row per training setting below.

Every keystroke re-checks the whole form with the core validator (`check_rows`, which is
`parse_space`): each wrong row shows the CLI's message under it, and `settings` stays None
until every row and field is right, so the screens' create and enqueue actions stay disabled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Select, Static

from hptui.core.errors import HptuiError
from hptui.core.studies.settings import OBJECTIVES, PRUNERS, SAMPLERS, StudySettings, grid_size
from hptui.core.studies.space import SearchSpace
from hptui.core.views.space_form import (
    PRESETS,
    RowFields,
    check_rows,
    check_study_fields,
    estimate_trial_seconds,
    rows_from_space,
)

from ...format import duration, error_line
from ...messages import ReportsWorkerErrors
from ...services import services
from .inputs import FormInput
from .rows import ParamRow

CURRENT = "current"


class SpaceForm(ReportsWorkerErrors, Vertical):
    """A search space and the study settings around it, checked as typed."""

    BINDINGS = [
        Binding("ctrl+o", "load_file", "Load TOML"),
        Binding("f2", "save_file", "Save TOML"),
        Binding("f3", "preset", "Preset"),
    ]

    @dataclass
    class Checked(Message):
        """Posted after each check; `settings` is None while anything is wrong."""

        form: SpaceForm
        settings: StudySettings | None

    def __init__(self, names: list[str], *, current: str | None = None, id: str = "") -> None:
        super().__init__(id=id or None)
        self.names = names
        self.current = current  # the study whose space "current" loads
        self.order: list[str] = []
        self.settings: StudySettings | None = None
        self.current_settings: StudySettings | None = None
        self.errors: dict[str, str] = {}
        self._finished: list[tuple[dict[str, Any], float]] = []
        self._check_pending = False
        self._reading = threading.Lock()
        self._clean: dict[str, object] | None = None  # the fields as loaded (mark_clean)

    def compose(self) -> ComposeResult:
        presets = [(label, key) for key, (label, *_rest) in PRESETS.items()]
        if self.current:
            presets.insert(0, (f"this study's space ({self.current})", CURRENT))
        with Vertical(id="space-settings"):
            with Horizontal():
                yield Label("name ", classes="space-label")
                yield FormInput(placeholder="study name", compact=True, id="study-name")
                yield Label(" preset ", classes="space-label")
                yield Select(presets, prompt="start from...", compact=True, id="preset")
            with Horizontal():
                yield Label("sampler ", classes="space-label")
                yield Select.from_values(
                    SAMPLERS, value="tpe", allow_blank=False, compact=True, id="sampler"
                )
                yield Label(" pruner ", classes="space-label")
                yield Select.from_values(
                    PRUNERS, value="none", allow_blank=False, compact=True, id="pruner"
                )
                yield Label(" seed ", classes="space-label")
                yield FormInput(placeholder="none", compact=True, id="sampler-seed")
            with Horizontal():
                yield Label("objective ", classes="space-label")
                yield Select.from_values(
                    list(OBJECTIVES), value="f1", allow_blank=False, compact=True, id="objective"
                )
                yield Label(" direction ", classes="space-label")
                yield Select.from_values(
                    ("maximize", "minimize"),
                    value="maximize",
                    allow_blank=False,
                    compact=True,
                    id="direction",
                )
            with Horizontal():
                yield Label("seeds per configuration ", classes="space-label")
                yield FormInput(placeholder="1", compact=True, id="seeds-per-config")
                yield Label(" (each seed is a trial of the study's total)", classes="space-label")
            yield Static("", id="space-plan", markup=False)
            yield Static("", id="space-problems", classes="error", markup=False)
        yield Static(
            "setting           type          low / high / step / log, choices or value",
            id="space-header",
        )
        with VerticalScroll(id="space-rows"):
            for name in self.names:
                yield ParamRow(name)

    def on_mount(self) -> None:
        self.request_check()
        self._read_history()
        self.call_after_refresh(self._mark_clean_once)

    def _mark_clean_once(self) -> None:
        if self._clean is None:  # a screen that loads a space first marks it itself
            self.mark_clean()

    # -- loading -------------------------------------------------------------------------

    def load(self, space: SearchSpace, settings: StudySettings | None = None) -> None:
        """Show a space (and a study's settings) in the form."""
        rows, self.order = rows_from_space(space)
        for row in self.query(ParamRow):
            row.load(rows.get(row.setting, RowFields()))
        if settings is not None:
            self.set_settings(settings.sampler, settings.seed, settings)
        self.request_check()

    def set_settings(
        self, sampler: str, seed: int | None, settings: StudySettings | None = None
    ) -> None:
        self.query_one("#sampler", Select).value = sampler
        self.query_one("#sampler-seed", Input).value = "" if seed is None else str(seed)
        if settings is not None:
            self.query_one("#pruner", Select).value = settings.pruner
            self.query_one("#objective", Select).value = settings.objective
            self.query_one("#direction", Select).value = settings.direction
            seeds = settings.seeds_per_config
            self.query_one("#seeds-per-config", Input).value = "" if seeds == 1 else str(seeds)

    def set_name(self, name: str) -> None:
        self.query_one("#study-name", Input).value = name

    @property
    def study_name(self) -> str:
        return self.query_one("#study-name", Input).value

    # -- edits: what Esc would throw away --------------------------------------------------

    def field_values(self) -> dict[str, object]:
        """Every field's value by id (text, choice, tick)."""
        return {
            str(widget.id): widget.value
            for widget in self.query("Input, Select, Checkbox")
            if isinstance(widget, (Input, Select, Checkbox))
        }

    def mark_clean(self) -> None:
        """The fields as they are now count as unedited (after the study's space loads)."""
        self._clean = self.field_values()

    @property
    def edited(self) -> bool:
        """Whether a person changed any field since `mark_clean` (or since the form was
        built): leaving then asks before the edits are thrown away."""
        return self._clean is not None and self.field_values() != self._clean

    # -- checking ------------------------------------------------------------------------

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _edited(self) -> None:
        self.request_check()

    @on(Select.Changed)
    def _selected(self, event: Select.Changed) -> None:
        if event.select.id == "objective" and isinstance(event.value, str):
            self.query_one("#direction", Select).value = OBJECTIVES[event.value]
        elif event.select.id == "preset" and isinstance(event.value, str):
            self._load_preset(event.value)
        self.request_check()

    def request_check(self) -> None:
        """Check once after the current burst of changes (a load changes many fields)."""
        if not self._check_pending:
            self._check_pending = True
            self.call_after_refresh(self._check)

    def _check(self) -> None:
        self._check_pending = False
        rows = {row.setting: row.fields() for row in self.query(ParamRow)}
        check = check_rows(rows, self.order)
        for row in self.query(ParamRow):
            row.show_kind(rows[row.setting].kind)
            row.show_error(check.errors.get(row.setting))
        errors = dict(check.errors)
        errors.update(
            check_study_fields(
                self.study_name,
                self.query_one("#sampler-seed", Input).value,
                self.query_one("#seeds-per-config", Input).value,
            )
        )
        settings = None
        if check.space is not None and not errors:
            try:
                settings = self._settings(check.space)
            except HptuiError as exc:
                errors["settings"] = str(exc)
        self.errors = errors
        self.settings = settings
        self._show(check.space, settings, errors)
        self.post_message(self.Checked(self, settings))

    def _settings(self, space: SearchSpace) -> StudySettings:
        seed_text = self.query_one("#sampler-seed", Input).value.strip()
        settings = StudySettings(
            space=space,
            objective=str(self.query_one("#objective", Select).value),
            direction=str(self.query_one("#direction", Select).value),
            sampler=str(self.query_one("#sampler", Select).value),
            pruner=str(self.query_one("#pruner", Select).value),
            seed=int(seed_text) if seed_text else None,
            seeds_per_config=int(self.query_one("#seeds-per-config", Input).value.strip() or 1),
        )
        settings.check_needs()
        return settings

    def _show(
        self, space: SearchSpace | None, settings: StudySettings | None, errors: dict[str, str]
    ) -> None:
        plan = self.query_one("#space-plan", Static)
        problems = self.query_one("#space-problems", Static)
        rows_wrong = [n for n in errors if n in self.names]
        lines = [errors[k] for k in ("name", "seed", "seeds_per_config", "settings") if k in errors]
        if rows_wrong:
            lines.append(f"{len(rows_wrong)} row(s) to fix: {', '.join(rows_wrong)}")
        problems.update("\n".join(lines))
        problems.display = bool(lines)
        if space is None:
            plan.update("fix the rows marked below to see the plan")
            return
        plan.update(self._plan(space, settings))

    def _plan(self, space: SearchSpace, settings: StudySettings | None) -> str:
        searched = [p for p in space.params if p.type != "fixed"]
        sampler = str(self.query_one("#sampler", Select).value)
        text = f"{len(searched)} searched, {len(space.fixed_values())} fixed"
        if sampler == "grid":
            try:
                text = f"grid: {grid_size(space):,} points, all queued at creation; " + text
            except HptuiError as exc:
                return str(exc)
        if settings is not None and settings.seeds_per_config > 1:
            text += f", {settings.seeds_per_config} seeds per configuration"
        estimate = estimate_trial_seconds(space, self._finished)
        if estimate is None:
            return text + "; no finished trial of this model here to estimate a trial's time"
        seconds, based_on = estimate
        return text + f"; about {duration(seconds)} a trial (from {based_on} finished here)"

    # -- history for the estimate --------------------------------------------------------

    @work(thread=True, group="space-history", exit_on_error=False)
    def _read_history(self) -> None:
        from hptui.core.views.space_form import finished_configs

        if not self._reading.acquire(blocking=False):
            return
        try:
            finished = finished_configs(services(self).store)
        except Exception:  # no storage yet: the plan says there is nothing to estimate by
            return
        finally:
            self._reading.release()
        self.app.call_from_thread(self._got_history, finished)

    def _got_history(self, finished: list[tuple[dict[str, Any], float]]) -> None:
        self._finished = finished
        self.request_check()

    # -- presets and files ---------------------------------------------------------------

    def _load_preset(self, key: str) -> None:
        if key == CURRENT:
            if self.current_settings is not None:
                self.load(self.current_settings.space, self.current_settings)
            return
        self._read_preset(key)

    @work(thread=True, group="space-file", exit_on_error=False)
    def _read_preset(self, key: str) -> None:
        from hptui.core.views.space_form import preset_space

        try:
            space, sampler, seed = preset_space(key)
        except HptuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._loaded, space, sampler, seed)

    def _loaded(self, space: SearchSpace, sampler: str | None, seed: int | None) -> None:
        self.load(space)
        if sampler is not None:
            self.set_settings(sampler, seed)

    def action_preset(self) -> None:
        self.query_one("#preset", Select).focus()

    def action_load_file(self) -> None:
        from ...screens.space_file import SpaceFileScreen

        def chosen(path: str | None) -> None:
            if path:
                self._read_file(path)

        self.app.push_screen(SpaceFileScreen("Load a search space (TOML file)"), chosen)

    @work(thread=True, group="space-file", exit_on_error=False)
    def _read_file(self, path: str) -> None:
        from hptui.core.studies.space import load_space

        try:
            space = load_space(path)
        except HptuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        except Exception as exc:
            self.app.call_from_thread(self.notify, error_line(exc), severity="error")
            return
        self.app.call_from_thread(self._loaded, space, None, None)
        self.app.call_from_thread(self.notify, f"loaded {path}", markup=False)

    def action_save_file(self) -> None:
        from ...screens.space_file import SpaceFileScreen

        check = check_rows({r.setting: r.fields() for r in self.query(ParamRow)}, self.order)
        if check.space is None:
            self.notify("fix the rows marked in red before saving", severity="warning")
            return
        space = check.space

        def chosen(path: str | None) -> None:
            if path:
                self._write_file(space, path, False)

        self.app.push_screen(SpaceFileScreen("Save the space to a TOML file"), chosen)

    @work(thread=True, group="space-file", exit_on_error=False)
    def _write_file(self, space: SearchSpace, path: str, overwrite: bool) -> None:
        from pathlib import Path

        from hptui.core.views.space_form import save_space

        if not overwrite and Path(path).expanduser().is_file():
            self.app.call_from_thread(self._ask_overwrite, space, path)
            return
        try:
            saved = save_space(space, path, overwrite=overwrite)
        except HptuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, f"saved {saved}", markup=False)

    def _ask_overwrite(self, space: SearchSpace, path: str) -> None:
        from ...screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._write_file(space, path, True)

        self.app.push_screen(ConfirmScreen(f"Replace {path}?"), answered)
