"""The space form and the dialogs around it as a newcomer meets them: escape asks before
edits are thrown away, a mistyped model name is refused with the name meant, text typed
fast after ctrl+u stays, the enqueue dialog speaks plainly, the filter's hint looks like a
hint, and a version nobody recorded says so."""

from __future__ import annotations

from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from screen_text import screen_text
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Select

from hptui.cli import main
from hptui.core.errors import ConfigError
from hptui.core.studies.reader import StudyReader
from hptui.core.training.config import TrainConfig
from hptui.tui.app import HptuiApp
from hptui.tui.screens.confirm import ConfirmScreen
from hptui.tui.screens.enqueue_trial import EnqueueTrialScreen
from hptui.tui.screens.new_study import NewStudyScreen
from hptui.tui.screens.studies import StudiesScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.screens.trial_detail import TrialDetailScreen
from hptui.tui.widgets.space.form import SpaceForm
from hptui.tui.widgets.space.pane import SpacePane
from hptui.tui.widgets.space.rows import ParamRow
from hptui.tui.widgets.trials.pane import TrialsPane

EXAMPLE = Path(__file__).resolve().parent.parent / "runs.db.example"


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


async def new_study(app: HptuiApp, pilot: Pilot[None]) -> NewStudyScreen:
    await pilot.press("n")
    for _ in range(100):  # the form is built after the screen shows
        await settle(app, pilot, rounds=1)
        if isinstance(app.screen, NewStudyScreen) and app.screen.ready:
            return app.screen
    raise AssertionError("the new-study form was never built")


def test_escape_asks_before_dropping_a_new_studys_edits(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await new_study(app, pilot)
        await pilot.press("escape")  # nothing typed: leaves at once
        await settle(app, pilot)
        assert isinstance(app.screen, StudiesScreen)
        screen = await new_study(app, pilot)
        await pilot.press(*"my-sweep")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen) and "Discard" in app.screen.question
        await pilot.press("n")  # keep editing: the text is still there
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.query_one(SpaceForm).study_name == "my-sweep"
        await pilot.press("escape", "y")
        await settle(app, pilot)
        assert isinstance(app.screen, StudiesScreen)

    drive(fixed_url, steps)
    assert [s.name for s in StudyReader(fixed_url).studies()] == ["mrpc-tpe"]


def test_escape_on_an_edited_space_tab_asks_first(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter", "3")
        await settle(app, pilot, rounds=5)
        pane = app.screen.query_one(SpacePane)
        assert pane.loaded and not pane.edited
        box = pane.query_one("#high-learning_rate", Input)
        box.focus()
        await pilot.press("backspace", "3")
        await settle(app, pilot)
        assert pane.edited
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen) and "space" in app.screen.question
        await pilot.press("n")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen) and box.value.endswith("3")
        await pilot.press("escape", "y")
        await settle(app, pilot)
        assert isinstance(app.screen, StudiesScreen)
        await pilot.press("enter", "3")  # unedited: escape goes straight back
        await settle(app, pilot, rounds=5)
        app.screen.query_one("#high-learning_rate", Input).focus()
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, StudiesScreen)

    drive(fixed_url, steps)


def test_a_mistyped_model_is_refused_with_the_built_in_meant(
    fixed_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="did you mean 'tiny-distilbert'"):
        TrainConfig(model="tiny-distiler")
    for fine in ("tiny-distilbert", "distilbert-base-uncased", "org/some-model", str(tmp_path)):
        assert TrainConfig(model=fine).model == fine  # built-in, hub ids, a folder
    space = tmp_path / "space.toml"
    space.write_text('[fixed]\nmodel = "tiny-distiler"\n[params.learning_rate]\n'
                     'type = "float"\nlow = 1e-5\nhigh = 1e-4\n')  # fmt: skip
    assert main(["study", "create", "typo", "--space", str(space), "--storage", fixed_url]) == 2
    err = capsys.readouterr().err
    assert "tiny-distilbert" in err and len(err.strip().splitlines()) == 1

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        screen = await new_study(app, pilot)
        form = screen.query_one(SpaceForm)
        form.query_one("#kind-model", Select).value = "fixed"
        await settle(app, pilot)
        form.query_one("#value-model", Input).focus()
        await pilot.press(*"tiny-distiler")
        await settle(app, pilot)
        error = str(form.query_one("#row-model", ParamRow).query_one(".row-error").render())
        assert "model" in error and "did you mean 'tiny-distilbert'" in error
        assert "model" in form.errors

    drive(fixed_url, steps)


def test_text_typed_fast_after_ctrl_u_is_kept(fixed_url: str) -> None:
    """Keys arriving in one burst, as a terminal delivers fast typing: ctrl+u used to run
    after the characters behind it and delete them too."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        screen = await new_study(app, pilot)
        await pilot.press(*"abc")
        await settle(app, pilot)
        for key, char in [("ctrl+u", None), ("x", "x"), ("y", "y"), ("backspace", None),
                          ("z", "z")]:  # fmt: skip
            app.post_message(events.Key(key, char))
        await settle(app, pilot)
        assert screen.query_one(SpaceForm).study_name == "xz"

    drive(fixed_url, steps)


def test_the_enqueue_dialog_describes_each_parameter_plainly(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter", "3")
        await settle(app, pilot, rounds=5)
        app.screen.query_one("#study-name", Input).focus()
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, EnqueueTrialScreen)
        hints = {n: app.screen.query_one(f"#point-{n}", Input).placeholder
                 for n in app.screen.names}  # fmt: skip
        assert hints == {
            "learning_rate": "float in [1e-05, 0.0001] (log)",
            "train_batch_size": "one of 16, 32",
            "weight_decay": "one of 0.0, 0.01",
        }
        assert "Distribution(" not in screen_text(app)

    drive(fixed_url, steps, size=(80, 24))


def test_the_filter_placeholder_reads_as_a_hint(fixed_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        pane = await open_trials(app, pilot)
        hint = pane.query_one("#trials-filter", Input).placeholder
        assert hint.startswith("press / to filter") and not hint.startswith("filter:")
        assert not pane.trial_filter  # nothing filtered: the hint is not a filter

    drive(fixed_url, steps)


def test_a_version_nobody_recorded_says_so(tmp_path: Path) -> None:
    copy = tmp_path / "runs.db.example"
    copy.write_bytes(EXAMPLE.read_bytes())

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("down", "enter", "2")
        await settle(app, pilot)
        assert app.screen.query_one(TrialsPane).loaded
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, TrialDetailScreen)
        text = screen_text(app)
        assert "hptui unknown" not in text and "hptui (version not recorded)" in text
        assert "torch 2." in text  # the recorded ones as they were

    drive(f"sqlite:///{copy}", steps)


def test_escape_from_another_tab_still_asks_about_an_edited_space(fixed_url: str) -> None:
    """Edits on the Space tab survive a visit to another tab: escape from there asks too."""

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("enter", "3")
        await settle(app, pilot, rounds=5)
        pane = app.screen.query_one(SpacePane)
        pane.query_one("#high-learning_rate", Input).focus()
        await pilot.press("backspace", "3")
        await settle(app, pilot)
        assert pane.edited
        app.screen.set_focus(None)
        await pilot.press("2")  # the trials tab: the space pane is hidden, still edited
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen) and "space" in app.screen.question

    drive(fixed_url, steps)
