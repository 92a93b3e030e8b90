"""The space form in the console: bad values as a user types them, each named by the core
validator on its row, no study until all are fixed; presets, TOML save/load, the Space tab's
new study from an edit, a manual trial, and a real worker started from the form."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import console_data
import pytest
from console_pilot import settle
from textual.pilot import Pilot
from textual.widgets import Input, Select

from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import load_study
from hptui.core.studies.space import load_space
from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.enqueue_trial import EnqueueTrialScreen
from hptui.tui.screens.new_study import NewStudyScreen
from hptui.tui.screens.start_workers import StartWorkersScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.widgets.space.form import SpaceForm
from hptui.tui.widgets.space.pane import SpacePane
from hptui.tui.widgets.space.rows import ParamRow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def drive(
    url: str,
    steps: Callable[[HptuiApp, Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = (80, 24),
    data_dir: str | None = None,
) -> HptuiApp:
    app = make_app(
        Store(url), refresh_seconds=3600, clock=lambda: console_data.CLOCK, data_dir=data_dir
    )

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await steps(app, pilot)

    asyncio.run(asyncio.wait_for(run(), timeout=120))
    return app


def studies(url: str) -> list[str]:
    return [s.name for s in StudyReader(url).studies()]


def error_of(form: SpaceForm, name: str) -> str:
    return str(form.query_one(f"#row-{name}", ParamRow).query_one(".row-error").render())


async def fill(app: HptuiApp, pilot: Pilot[None], name: str, kind: str, **fields: str) -> None:
    """Set a row as a user does: its type, then its fields (then the form re-checks)."""
    form = app.screen.query_one(SpaceForm)
    form.query_one(f"#kind-{name}", Select).value = kind
    await pilot.pause(0.05)
    for key, text in fields.items():
        box = form.query_one(f"#{key}-{name}", Input)
        box.value = ""
        box.focus()
        await pilot.press(*text) if text else None
    await settle(app, pilot)


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def test_bad_values_are_named_on_their_rows_and_nothing_is_created(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, NewStudyScreen)
        await pilot.press(*"typo-study")
        form = app.screen.query_one(SpaceForm)
        cases = [
            ("learning_rate", "float", {"low": "NaN", "high": "1e-4"}, "low must be finite (got nan)"),
            ("weight_decay", "float", {"low": "0", "high": "1e400"}, "high must be finite (got inf)"),
            ("warmup_ratio", "float", {"low": "abc", "high": "0.1"}, "low must be a number (got 'abc')"),
            ("beta1", "float", {"low": "0.95", "high": "0.8"}, "low (0.95) > high (0.8); swap them"),
            ("gradient_clip_val", "float", {"low": "0", "high": "2", "log": ""},
             "a log range needs low > 0"),
            ("max_seq_length", "int", {"low": "8.7", "high": "32.2"},
             "low of an int range must be a whole number (got 8.7)"),
            ("train_batch_size", "categorical", {"choices": ""}, "choices must be a non-empty list"),
            ("num_epochs", "categorical", {"choices": "1, 1"}, "choice 1 is listed twice"),
        ]  # fmt: skip
        for name, kind, fields, message in cases:
            log = "log" in fields
            await fill(app, pilot, name, kind, **{k: v for k, v in fields.items() if k != "log"})
            if log:
                form.query_one(f"#log-{name}").value = True  # type: ignore[attr-defined]
                await settle(app, pilot)
            assert f"{name}: " in error_of(form, name) and message in error_of(form, name)
        assert form.settings is None and len(form.errors) == len(cases)
        problems = str(form.query_one("#space-problems").render())
        assert f"{len(cases)} row(s) to fix" in problems
        await pilot.press("ctrl+s")  # disabled: nothing happens
        await settle(app, pilot)
        assert isinstance(app.screen, NewStudyScreen)
        assert studies(fixed_url) == ["mrpc-tpe"]
        fixes = [
            ("learning_rate", "float", {"low": "1e-5", "high": "1e-4"}),
            ("weight_decay", "float", {"low": "0", "high": "0.1"}),
            ("warmup_ratio", "float", {"low": "0", "high": "0.1"}),
            ("beta1", "float", {"low": "0.8", "high": "0.95"}),
            ("gradient_clip_val", "float", {"low": "0.5", "high": "2"}),
            ("max_seq_length", "int", {"low": "8", "high": "32"}),
            ("train_batch_size", "categorical", {"choices": "16, 32"}),
        ]
        for name, kind, fields in fixes:
            await fill(app, pilot, name, kind, **fields)
            assert error_of(form, name) == ""
            assert studies(fixed_url) == ["mrpc-tpe"]  # still one wrong row: nothing written
        await fill(app, pilot, "num_epochs", "categorical", choices="1, 2")
        assert form.settings is not None and form.errors == {}
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "typo-study" in studies(fixed_url)
        assert isinstance(app.screen, StartWorkersScreen)  # the next step of a new study
        stored = StudyReader(fixed_url).study("typo-study").settings
        assert stored is not None and len(stored.space.names) == len(cases)  # stored sorted

    drive(fixed_url, steps)


def test_the_report_grid_from_the_keyboard_alone(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press(*"report-grid", "f3", "enter", "down", "enter")  # the first preset
        await settle(app, pilot)
        form = app.screen.query_one(SpaceForm)
        assert form.settings is not None
        assert form.settings.space == load_space(EXAMPLES / "report-grid.toml")
        assert form.settings.sampler == "grid"
        assert "grid: 18 points" in str(form.query_one("#space-plan").render())
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert len(load_study("report-grid", fixed_url).trials) == 18

    drive(fixed_url, steps)


def test_save_then_load_a_toml_file_round_trips(fixed_url: str, tmp_path: Path) -> None:
    target = tmp_path / "saved.toml"

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press(*"x", "f3", "enter", "down", "down", "enter")  # the exploration
        await settle(app, pilot)
        form = app.screen.query_one(SpaceForm)
        explore = load_space(EXAMPLES / "report-explore.toml")
        assert form.settings is not None and form.settings.space == explore
        await pilot.press("f2")
        await settle(app, pilot)
        path_box = app.screen.query_one("#space-path", Input)
        path_box.value = str(target)
        await pilot.press("enter")
        await settle(app, pilot)
        assert target.read_text() == explore.to_toml()
        await fill(app, pilot, "learning_rate", "default")
        assert form.settings.space != explore
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        app.screen.query_one("#space-path", Input).value = str(target)
        await pilot.press("enter")
        await settle(app, pilot)
        assert form.settings is not None and form.settings.space == explore

    drive(fixed_url, steps)


def test_space_tab_shows_the_study_and_an_edit_becomes_a_new_study(fixed_url: str) -> None:
    before = [(t.number, t.params, t.value) for t in load_study("mrpc-tpe", fixed_url).trials]

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)
        pane = app.screen.query_one(SpacePane)
        assert pane.loaded
        form = pane.query_one(SpaceForm)
        assert form.settings is not None and form.settings == pane.stored
        assert form.study_name == "mrpc-tpe-2"
        await fill(app, pilot, "learning_rate", "float", high="6e-5")
        assert form.settings is not None
        form.query_one("#study-name", Input).focus()
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        note = str(pane.query_one("#space-note").render())
        assert "4 old trial(s) copied as history, 1 left out" in note
        assert len(load_study("mrpc-tpe-2", fixed_url).trials) == 4
        after = [(t.number, t.params, t.value) for t in load_study("mrpc-tpe", fixed_url).trials]
        assert after == before

    drive(fixed_url, steps, size=(120, 40))


def test_a_manual_trial_from_the_space_tab(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter", "3")
        await settle(app, pilot)
        app.screen.query_one("#study-name", Input).focus()
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, EnqueueTrialScreen)
        await pilot.press(*"2")  # learning_rate 2: outside the space
        await settle(app, pilot)
        error = str(app.screen.query_one("#point-error").render())
        assert "learning_rate: 2 is outside the study's space" in error
        await pilot.press("ctrl+s")  # disabled
        await settle(app, pilot)
        assert isinstance(app.screen, EnqueueTrialScreen)
        await pilot.press("backspace", *"3e-5", "tab", *"32")
        await settle(app, pilot)
        assert str(app.screen.query_one("#point-error").render()) == ""
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        waiting = [t for t in load_study("mrpc-tpe", fixed_url).trials if t.state.name == "WAITING"]
        assert len(waiting) == 1
        assert waiting[0].system_attrs["fixed_params"] == {
            "learning_rate": 3e-5, "train_batch_size": 32,
        }  # fmt: skip

    drive(fixed_url, steps, size=(120, 40))


@pytest.mark.slow
def test_create_a_study_and_start_a_worker_from_the_form(tmp_path: Path, mrpc_dir: Path) -> None:
    from hptui.core.workers.registry import list_workers

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    pids: list[int] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press(*"tiny")
        await fill(app, pilot, "model", "fixed", value="tiny-distilbert")
        await fill(app, pilot, "train_limit", "fixed", value="32")
        await fill(app, pilot, "eval_limit", "fixed", value="16")
        await fill(app, pilot, "num_epochs", "fixed", value="1")
        await fill(app, pilot, "learning_rate", "float", low="1e-5", high="1e-4")
        form = app.screen.query_one(SpaceForm)
        assert form.settings is not None, form.errors
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, StartWorkersScreen)
        app.screen.query_one("#trials", Input).value = "1"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pids:
            pids.extend(w.pid for w in list_workers(url))
            await pilot.pause(0.2)

    try:
        drive(url, steps, data_dir=str(mrpc_dir))
        assert len(pids) == 1
        assert "tiny" in studies(url)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
