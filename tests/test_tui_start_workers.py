"""The start-workers dialog, in the real console: its total defaults to what the study needs
(a grid's points x seeds), it says before starting when the study already has its total (and
starts nothing), and "N per GPU" on this CPU host is refused under the form."""

from __future__ import annotations

import asyncio
from pathlib import Path

import console_pilot
import pytest
from conftest import write_space
from textual.pilot import Pilot
from textual.widgets import Input, Static

from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.studies.store import Store
from hptui.core.workers.registry import list_workers
from hptui.core.workers.runner import Worker, WorkerOptions
from hptui.tui.app import HptuiApp, make_app
from hptui.tui.screens.start_workers import StartWorkersScreen

GRID_18 = (
    '[params.learning_rate]\ntype = "categorical"\nchoices = [1e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2e-4]'
    '\n[params.weight_decay]\ntype = "categorical"\nchoices = [0.0, 0.01, 0.1]'
)


def _drive(url: str, steps: object, size: tuple[int, int] = (80, 24)) -> None:
    app = make_app(Store(url), refresh_seconds=3600)

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await console_pilot.settle(app, pilot)
            await steps(app, pilot)  # type: ignore[operator]

    asyncio.run(asyncio.wait_for(run(), timeout=120))


async def _open_dialog(app: HptuiApp, pilot: Pilot[None]) -> StartWorkersScreen:
    await pilot.press("w")
    await console_pilot.settle(app, pilot)
    assert isinstance(app.screen, StartWorkersScreen)
    return app.screen


def _text(screen: StartWorkersScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.mark.parametrize(("seeds", "total"), [(1, 18), (2, 36)])
def test_a_grid_defaults_to_every_point_with_its_seeds(
    tmp_path: Path, mrpc_dir: Path, storage_url: str, seeds: int, total: int
) -> None:
    space = load_space(write_space(tmp_path / "space.toml", mrpc_dir, params=GRID_18))
    create_study("grid", StudySettings(space, sampler="grid", seeds_per_config=seeds), storage_url)
    seen: dict[str, str] = {}

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        dialog = await _open_dialog(app, pilot)
        seen["trials"] = dialog.query_one("#trials", Input).value
        seen["note"] = _text(dialog, "#trials-note")
        seen["gpus"] = _text(dialog, "#gpu-line")

    _drive(storage_url, steps)
    assert seen["trials"] == str(total)  # not 10: no grid point skipped
    assert "grid of 18 points" in seen["note"] and f"{total} of {total} trials left" in seen["note"]
    assert seen["gpus"] == "No CUDA GPU here: per-GPU packing is off"


@pytest.mark.slow
def test_a_study_with_its_total_says_so_and_starts_nothing(
    tmp_path: Path, mrpc_dir: Path, storage_url: str
) -> None:
    space = write_space(tmp_path / "space.toml", mrpc_dir, train_limit=16, eval_limit=16)
    create_study("done", StudySettings(load_space(space), sampler="random", seed=1), storage_url)
    assert Worker(WorkerOptions("done", storage_url, trials=3, device="cpu")).run() == 3
    seen: dict[str, str] = {}

    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        dialog = await _open_dialog(app, pilot)
        trials = dialog.query_one("#trials", Input)
        seen["default"], seen["open note"] = trials.value, _text(dialog, "#trials-note")
        trials.value = "3"
        await console_pilot.settle(app, pilot)
        seen["note"] = _text(dialog, "#trials-note")
        await pilot.press("ctrl+s")
        await console_pilot.settle(app, pilot)
        assert app.screen is dialog  # not started, still open
        seen["refused"] = _text(dialog, "#start-error")
        # N per GPU on this CPU host: refused under the form, nothing started either.
        trials.value = "10"
        dialog.query_one("#per-gpu", Input).value = "2"
        await pilot.press("ctrl+s")
        await console_pilot.settle(app, pilot)
        assert app.screen is dialog
        seen["per gpu"] = _text(dialog, "#start-error")

    _drive(storage_url, steps)
    assert seen["default"] == "10" and "7 of 10 trials left to run" in seen["open note"]
    assert seen["note"] == "has 3 of 3 COMPLETE: raise the total to run more"
    assert seen["refused"] == f"nothing to start: {seen['note']}"
    assert "--per-gpu" in seen["per gpu"] and "no visible CUDA GPU" in seen["per gpu"]
    # The one row is the worker that ran the 3 trials above: the console started none.
    assert len(list_workers(storage_url, include_exited=True)) == 1
    assert not (tmp_path / "hptui-logs").exists()
