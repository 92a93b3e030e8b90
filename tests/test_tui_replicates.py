"""Seed replicates in the console, on the fixed study plus replicates of trials 3 and 5:
`g` groups the trials tab by configuration, `R` queues replicates through the Store, and
compare shows mean ± sd for trials that have them."""

from __future__ import annotations

from pathlib import Path

import console_data
import pytest
from console_pilot import drive, open_trials, settle
from textual.pilot import Pilot

from hptui.core.studies.store import Store
from hptui.tui.app import HptuiApp
from hptui.tui.screens.compare import CompareScreen
from hptui.tui.screens.replicate import ReplicateScreen
from hptui.tui.screens.study import StudyScreen
from hptui.tui.widgets.trials.grid import TrialsGrid
from hptui.tui.widgets.trials.pane import TrialsPane

STUDY = "mrpc-tpe"


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = console_data.build(tmp_path / "runs.db")
    console_data.add_replicates(url)
    return url


def _status(pane: TrialsPane) -> str:
    return str(pane.query_one("#trials-status").render())


def test_g_groups_the_trials_by_configuration_best_mean_first(url: str) -> None:
    shown: list[str] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        app.notify = lambda text, **_: shown.append(str(text))  # type: ignore[method-assign]
        pane = await open_trials(app, pilot)
        grid = pane.query_one(TrialsGrid)
        assert grid.numbers == list(range(11))
        await pilot.press("g")
        await settle(app, pilot)
        assert grid.numbers == [5, 3, 1, 0, 2, 4, 6]  # by mean f1; no value last
        keys = [c.key for c in grid.columns]
        assert keys[:2] == ["config", "n"] and keys[-1] == "trials"
        five = dict(zip(keys, grid.cells[5], strict=True))
        assert (five["config"], five["n"], five["f1"]) == ("#5", "3", "0.8964 ± 0.0025")
        assert five["trials"] == "5 9 10"
        assert dict(zip(keys, grid.cells[0], strict=True))["f1"] == "0.8791"  # one seed
        assert grid.sort_key == "f1" and grid.descending  # the header says how it is sorted
        status = _status(pane)
        assert "7 configuration(s) of 11 trial(s), by mean f1" in status
        assert "best by mean f1: #5, 0.8964 ± 0.0025 (n=3)" in status
        await pilot.press("s")  # grouped rows keep their order
        assert grid.numbers[0] == 5 and "sorted by the objective's mean" in shown[-1]
        pane.query_one("#trials-filter").value = "learning_rate >= 6e-5"  # type: ignore[attr-defined]
        await settle(app, pilot)
        assert grid.numbers == [5, 3]  # the filter picks trials, then they are grouped
        pane.query_one("#trials-filter").value = ""  # type: ignore[attr-defined]
        await settle(app, pilot)
        await pilot.press("g")
        await settle(app, pilot)
        assert grid.numbers == list(range(11)) and grid.sort_key is None

    drive(url, steps)


def test_R_asks_how_many_seeds_then_queues_them_through_the_store(url: str) -> None:
    shown: list[str] = []

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        app.notify = lambda text, **_: shown.append(str(text))  # type: ignore[method-assign]
        pane = await open_trials(app, pilot)
        await pilot.press("down", "down", "down", "space", "down", "space")  # 3, 5
        await pilot.press("R")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReplicateScreen) and screen.numbers == [3, 5]
        seeds = screen.query_one("#replicate-seeds")
        assert seeds.value == "3"  # type: ignore[attr-defined]
        seeds.value = "0"  # type: ignore[attr-defined]
        await settle(app, pilot)
        error = str(screen.query_one("#replicate-error").render())
        assert "seeds: must be from 1 to 100 (got 0)" in error
        await pilot.press("enter")  # refused: nothing queued, the dialog stays
        await settle(app, pilot)
        assert isinstance(app.screen, ReplicateScreen)
        seeds.value = "2"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot, rounds=5)
        assert not isinstance(app.screen, ReplicateScreen)
        assert shown[-1] == "queued 4 seed replicate(s): #3 seeds 45, 46; #5 seeds 45, 46"
        assert len(pane.model.rows) == 15  # read again: the queued trials show
        assert pane.model.rows[11]["state"] == "WAITING"

    drive(url, steps)
    queued = [r for r in Store(url).trials(STUDY) if r.state == "WAITING"]
    assert [(r.user_attrs["hptui.replicate_of"], r.user_attrs["hptui.replicate_seed"])
            for r in queued] == [(3, 45), (3, 46), (5, 45), (5, 46)]  # fmt: skip


def test_R_on_a_failed_trial_is_refused_under_the_field(url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("down", "down", "down", "down", "R")  # the cursor's trial: 4
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot, rounds=5)
        screen = app.screen
        assert isinstance(screen, ReplicateScreen)
        error = str(screen.query_one("#replicate-error").render())
        assert "trial 4 is FAIL: only a trial that finished COMPLETE" in error
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, StudyScreen)

    drive(url, steps)
    assert len(Store(url).trials(STUDY)) == 11


def test_R_in_the_grouped_view_replicates_a_complete_trial_of_the_configuration(
    url: str,
) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("g")
        await settle(app, pilot)
        await pilot.press("home", "down", "R")  # the second row: configuration #3
        await settle(app, pilot)
        assert isinstance(app.screen, ReplicateScreen) and app.screen.numbers == [3]
        await pilot.press("escape")

    drive(url, steps)


def test_compare_shows_mean_and_sd_of_trials_with_replicates(url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("space", "down", "down", "space", "down", "space")  # a mark moves on
        await pilot.press("c")  # trials 0, 3 and 5
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        table = screen.query_one("DataTable")
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        f1 = [str(c) for c in table.get_row_at(labels.index("  f1 ± sd"))]  # type: ignore[attr-defined]
        assert f1[1:] == ["–", "0.8887 ± 0.011 (n=3)", "0.8964 ± 0.0025 (n=3)"]
        assert "  acc ± sd" in labels and "  loss ± sd" in labels

    drive(url, steps)


def test_compare_without_replicates_adds_no_rows(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await open_trials(app, pilot)
        await pilot.press("space", "down", "space", "c")
        await settle(app, pilot)
        table = app.screen.query_one("DataTable")
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        assert not [label for label in labels if "± sd" in label]

    drive(url, steps)
