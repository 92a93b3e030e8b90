"""The console's analysis tab on studies with known contents: the real app driven from the
keyboard (Textual's Pilot), its tables checked against the analysis core's own result, its
actions checked in the database afterwards."""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import analysis_data
import console_data
import console_pilot
import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from hptui.core.analysis.analyze import AnalysisOptions, analyze
from hptui.core.studies.marks import set_baseline, set_excluded
from hptui.core.studies.reader import StudyReader
from hptui.core.studies.settings import load_settings
from hptui.core.studies.store import Store
from hptui.core.views.analysis import plan_enqueue
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.confirm import ConfirmScreen
from hptui.tui.screens.narrow_space import NarrowSpaceScreen
from hptui.tui.screens.new_study import NewStudyScreen
from hptui.tui.widgets.analysis import render
from hptui.tui.widgets.analysis.pane import AnalysisPane
from hptui.tui.widgets.space.form import SpaceForm

STUDY = "quad"


@pytest.fixture
def quad_url(tmp_path: Path) -> str:
    return analysis_data.build(tmp_path / "runs.db")


def drive(
    url: str,
    steps: Callable[[HptuiApp, Pilot[None], AnalysisPane], Awaitable[None]],
    size: tuple[int, int] = (120, 40),
) -> HptuiApp:
    """Open the only (or first) study's analysis tab, wait for its first fit, run `steps`."""
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: analysis_data.CLOCK)

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            await pilot.press("4")
            await settle(app, pilot)
            pane = app.screen.query_one(AnalysisPane)
            assert pane.fits >= 1
            await steps(app, pilot, pane)

    asyncio.run(asyncio.wait_for(run(), timeout=120))
    return app


async def settle(app: HptuiApp, pilot: Pilot[None]) -> None:
    """Let the thread workers read and fit, and the screen redraw."""
    await console_pilot.settle(app, pilot, rounds=4)


async def press(app: HptuiApp, pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (wide enough that no row wraps)."""
    console = Console(width=250, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)  # type: ignore[arg-type]
    return console.export_text()


def shown(pane: AnalysisPane, name: str) -> str:
    return text_of(pane.query_one(f"#analysis-{name}", Static))


def assert_table_matches(pane: AnalysisPane, core_options: AnalysisOptions, url: str) -> None:
    """Every coefficient row the tab shows is the core's, cell for cell, and every row of
    the core's result is shown."""
    expected = analyze(core_options, study=STUDY, store=Store(url))
    assert pane.view is not None
    got = pane.view.analysis
    assert list(got.results) == list(expected.results)
    lines = [" ".join(line.split()) for line in shown(pane, "fit").splitlines()]
    for metric, result in expected.results.items():
        assert " ".join(render.fit_summary(result).split()) in lines
        for term, ours in zip(result.terms, got.results[metric].terms, strict=True):
            assert ours.coef == pytest.approx(term.coef, rel=1e-9, abs=1e-12)
            assert ours.p_holm == pytest.approx(term.p_holm, rel=1e-9, abs=1e-12) or (
                math.isnan(ours.p_holm) and math.isnan(term.p_holm)
            )
            cells = render.coef_cells(term, core_options.alpha)
            assert " ".join(c for c in cells if c) in lines, cells


def test_the_coefficient_table_is_the_cores_and_finds_the_known_quadratic(quad_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        assert pane.metric == "f1"  # the study's objective
        assert_table_matches(pane, AnalysisOptions(metrics=("f1",)), quad_url)
        assert pane.view is not None
        f1 = pane.view.analysis.results["f1"]
        square = f1.term("learning_rate^2")
        assert square is not None and square.coef < 0 and square.p_holm < 0.05
        marks = {render.term_name(t.term): render.significance(t, 0.05) for t in f1.terms}
        assert marks["lr²"] == "**" and marks["warmup"] == "**" and marks["warmup²"] == ""
        # the fitted peak is where the known quadratic peaks: u = 0.02 / 0.6 above 10^-4.5
        optimum = pane.view.analysis.advice.optima["f1"]
        assert math.log10(optimum.values["learning_rate"]) == pytest.approx(-4.5 + 0.02 / 0.6,
                                                                            abs=0.02)  # fmt: skip
        assert optimum.values["warmup_ratio"] == pytest.approx(0.2)
        fit = shown(pane, "fit")
        assert "R² 0.99" in fit and "F-test p <0.0001" in fit and "cond." in fit
        assert "peaks at learning_rate" in shown(pane, "advice")
        assert "none excluded" in str(pane.query_one("#analysis-status", Static).content)
        heat = shown(pane, "heatmap")
        assert "spearman correlation over 25 trial(s)" in heat and "+1.00" in heat
        assert len(pane.view.parallel["lines"]) == 25 and len(pane.view.parallel["best"]) == 3

    drive(quad_url, steps)


def test_every_toggle_refits_as_the_cli_would(quad_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        await press(app, pilot, "m")
        assert pane.metric == "accuracy"
        assert_table_matches(pane, AnalysisOptions(metrics=("accuracy",)), quad_url)
        await press(app, pilot, "m")
        assert_table_matches(pane, AnalysisOptions(metrics=("loss",)), quad_url)
        assert "(m: all three metrics" in shown(pane, "trade")
        await press(app, pilot, "m")
        assert pane.metric == "all"
        assert_table_matches(pane, AnalysisOptions(), quad_url)
        trade = shown(pane, "trade")
        assert "verdict" in trade and "agrees" in trade
        lr_row = next(line for line in trade.splitlines() if line.startswith("lr "))
        assert lr_row.count("*") == 3  # stated for all three metrics
        await press(app, pilot, "f")
        assert pane.raw
        assert_table_matches(pane, AnalysisOptions(raw=True), quad_url)
        assert "raw features" in str(pane.query_one("#analysis-status", Static).content)
        await press(app, pilot, "f", "m")
        assert pane.metric == "f1" and not pane.raw
        assert_table_matches(pane, AnalysisOptions(metrics=("f1",)), quad_url)
        await press(app, pilot, "p")
        title = str(pane.query_one("#analysis-curve-title", Static).content)
        assert "vs warmup" in title

    drive(quad_url, steps)


def test_relative_mode_says_no_baseline_then_uses_the_marked_one(quad_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        await press(app, pilot, "r")
        assert pane.relative and pane.view is None
        assert "no baseline is marked" in pane.message
        status = str(pane.query_one("#analysis-status", Static).content)
        assert "NO BASELINE MARKED" in status
        set_baseline(quad_url, STUDY, 12)  # what b does in the trials tab
        pane.poll()  # the next tick of the poll: the marks changed, so it refits
        await settle(app, pilot)
        assert pane.view is not None and pane.view.analysis.relative_to == 12
        assert "relative to baseline #12" in str(pane.query_one("#analysis-status", Static).content)
        assert_table_matches(pane, AnalysisOptions(metrics=("f1",), relative_to=12), quad_url)
        assert "f1 − baseline #12" in shown(pane, "fit")
        await press(app, pilot, "r")
        assert pane.view is not None and pane.view.analysis.relative_to is None

    drive(quad_url, steps)


def test_excluded_trials_are_left_out_and_counted_and_finished_trials_refit(
    quad_url: str,
) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        set_excluded(quad_url, STUDY, [0, 24])
        pane.poll()
        await settle(app, pilot)
        assert pane.view is not None and pane.view.analysis.excluded == (0, 24)
        assert pane.view.analysis.results["f1"].n == 23
        status = str(pane.query_one("#analysis-status", Static).content)
        assert "2 excluded in the trials tab, left out" in status
        assert "2 excluded left out" in shown(pane, "fit")
        fits = pane.fits
        pane.poll()  # nothing changed: no refit
        await settle(app, pilot)
        assert pane.fits == fits
        analysis_data.add_trial(quad_url, STUDY, 3e-5, 0.1)  # a trial finishes
        pane.poll()
        await settle(app, pilot)
        assert pane.fits == fits + 1 and pane.view.analysis.results["f1"].n == 24

    drive(quad_url, steps)


def waiting_trials(url: str) -> list[dict[str, float]]:
    return [t.params for t in StudyReader(url).trials(STUDY) if t.state == "WAITING"]


def test_queue_the_optimum_after_a_confirm(quad_url: str) -> None:
    expected = plan_enqueue(analyze(AnalysisOptions(metrics=("f1",)), study=STUDY,
                                    store=Store(quad_url)), "f1")  # fmt: skip
    assert expected.allowed and expected.params

    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        await press(app, pilot, "o")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Queue the fitted f1 optimum" in app.screen.question
        await press(app, pilot, "n")  # no: nothing queued
        assert waiting_trials(quad_url) == []
        await press(app, pilot, "o", "y")
        assert "queued a trial at the fitted optimum" in pane.message

    drive(quad_url, steps)
    queued = waiting_trials(quad_url)
    assert len(queued) == 1
    assert queued[0] == pytest.approx(expected.params)


def test_a_thin_fit_is_refused_and_only_queued_when_confirmed(tmp_path: Path) -> None:
    url = analysis_data.build(tmp_path / "runs.db", points=3)  # 9 trials for 6 terms

    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        await press(app, pilot, "o")
        assert "refused unless confirmed" in pane.message and "1.5 per term" in pane.message
        assert isinstance(app.screen, ConfirmScreen)
        assert "9 trials for 6 terms" in app.screen.question
        assert "--force" in app.screen.question
        await press(app, pilot, "escape")
        assert waiting_trials(url) == []
        await press(app, pilot, "o", "y")

    drive(url, steps)
    assert len(waiting_trials(url)) == 1


def test_a_broken_fit_is_refused_with_its_reason_and_nothing_is_written(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")  # 5 trials: the linear fit breaks down
    before = Path(url.removeprefix("sqlite:///")).read_bytes()

    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        assert "quadratic model has 8 terms" in shown(pane, "fit")
        await press(app, pilot, "o")
        assert not isinstance(app.screen, ConfirmScreen)  # no way to force a broken fit
        assert pane.message.startswith("refused:") and "breaks down" in pane.message
        await press(app, pilot, "n")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "breaks down" in pane.message

    drive(url, steps)
    assert Path(url.removeprefix("sqlite:///")).read_bytes() == before


async def wait_for(pilot: Pilot[None], check: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)


def test_narrow_space_creates_a_new_study_after_showing_the_space(quad_url: str) -> None:
    expected = analyze(AnalysisOptions(metrics=("f1",)), study=STUDY, store=Store(quad_url))
    space = expected.suggested_space("f1")

    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        await press(app, pilot, "n")
        screen = app.screen
        assert isinstance(screen, NarrowSpaceScreen)
        assert "quad-narrow" in screen.question and "sampler tpe" in screen.question
        assert screen.toml == space.to_toml()
        await press(app, pilot, "n")  # cancel: nothing created
        assert [s.name for s in StudyReader(quad_url).studies()] == [STUDY]
        await press(app, pilot, "n", "y")  # the space form opens, prefilled, for review
        assert isinstance(app.screen, NewStudyScreen)
        form = app.screen.query_one(SpaceForm)
        assert form.study_name == "quad-narrow"
        await wait_for(pilot, lambda: form.settings is not None)
        await press(app, pilot, "ctrl+s")
        await wait_for(pilot, lambda: "created the study quad-narrow" in pane.message)
        await press(app, pilot, "n")
        assert isinstance(app.screen, NarrowSpaceScreen)
        assert "quad-narrow-2" in app.screen.question  # the first name is taken now
        await press(app, pilot, "escape")

    drive(quad_url, steps)
    assert [s.name for s in StudyReader(quad_url).studies()] == [STUDY, "quad-narrow"]
    created = load_settings("quad-narrow", quad_url)
    assert created.space.to_dict() == space.to_dict()
    original = load_settings(STUDY, quad_url)
    assert (created.objective, created.sampler, created.seed) == (
        original.objective,
        original.sampler,
        original.seed,
    )


def test_usable_at_80x24(quad_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None], pane: AnalysisPane) -> None:
        body = pane.query_one("#analysis-body")
        assert app.focused is body  # its keys work at once
        assert body.max_scroll_y > 0  # the rest is a scroll away
        await press(app, pilot, "end")
        assert body.scroll_y == body.max_scroll_y
        await press(app, pilot, "m")
        assert pane.metric == "accuracy"

    drive(quad_url, steps, size=(80, 24))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_of_a_known_quadratic(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """The tab on the known-quadratic study (all three metrics: the trade-off table too), at
    a fixed path so every run draws the same screen."""
    import shutil
    import tempfile

    folder = Path(tempfile.gettempdir()) / "hptui-snapshots" / f"analysis-quad-{size[0]}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = analysis_data.build(folder / "runs.db")
    app = make_app(Store(url), refresh_seconds=3600, clock=lambda: analysis_data.CLOCK)
    console_data.for_snapshot(app)  # no animation; plot contents hidden

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot.app, pilot)  # type: ignore[arg-type]
        for key in ("enter", "4", "m", "m", "m"):
            await pilot.press(key)
            await settle(pilot.app, pilot)  # type: ignore[arg-type]

    assert snap_compare(app, terminal_size=size, run_before=run_before)
