"""The console at scale: what a person feels with 10,000 or 100,000 trials.

Fills a SQLite study with N finished trials through Optuna's API (as `read_api.py` does), then
drives the real app headless (Textual's Pilot) and prints, in one run:

- first paint: from the trials tab being opened to its first rows on screen, and to the
  whole study loaded (the first page is read on its own, then the rest in a thread);
- key-to-render latency (median and p95) of sort, filter and page-down on all N rows;
- the same rows mounted in Textual's own DataTable, side by side (the widget we replaced);
- the live tab's refresh cost (`LiveFeed.poll`) with 8 running trials writing steps;
- peak resident memory of the process.

    python bench/tui_scale.py --trials 10000
    python bench/tui_scale.py --trials 10000 100000 --keys 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from read_api import fill


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _drive(url: str, keys: int) -> dict[str, Any]:
    from textual.widgets import DataTable
    from textual.worker import WorkerCancelled

    from hptui.tui.app import make_app
    from hptui.tui.widgets.trials.grid import TrialsGrid
    from hptui.tui.widgets.trials.pane import TrialsPane

    app = make_app(url, study="scale", refresh_seconds=3600)
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        opened = time.perf_counter()
        await pilot.press("2")
        pane = app.screen.query_one(TrialsPane)
        grid = pane.query_one(TrialsGrid)
        first = None
        while not pane.loaded:
            if first is None and grid.numbers:
                first = time.perf_counter() - opened
            await asyncio.sleep(0.002)
        loaded = time.perf_counter() - opened
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        result["first_rows_ms"] = round(1000 * (first if first is not None else loaded), 1)
        result["all_loaded_ms"] = round(1000 * loaded, 1)
        result["rows"] = len(grid.numbers)

        async def timed(*presses: str) -> float:
            started = time.perf_counter()
            await pilot.press(*presses)
            await pilot.pause(0)
            return time.perf_counter() - started

        latencies: dict[str, list[float]] = {
            "sort": [],
            "filter": [],
            "page_down": [],
            "unbound_key": [],
        }
        columns = [c.key for c in grid.columns]
        for _ in range(columns.index("f1")):
            await pilot.press("right")
        for _ in range(keys):
            latencies["sort"].append(await timed("s"))
            latencies["page_down"].append(await timed("pagedown"))
            latencies["unbound_key"].append(await timed("f12"))  # Pilot's own cost
        box = pane.query_one("#trials-filter")
        for index in range(keys):
            started = time.perf_counter()
            box.value = f"f1 > 0.{index % 9 + 1}"  # type: ignore[attr-defined]
            await pilot.pause(0)
            latencies["filter"].append(time.perf_counter() - started)
        for name, samples in latencies.items():
            result[f"{name}_median_ms"] = round(1000 * statistics.median(samples), 2)
            result[f"{name}_p95_ms"] = round(1000 * p95(samples), 2)

        # Textual's DataTable with the same rows, for comparison.
        table: DataTable[str] = DataTable()
        await app.screen.mount(table)
        rows = [pane.model.cells[n] for n in sorted(pane.model.cells)]
        started = time.perf_counter()
        table.add_columns(*(c.label for c in pane.model.columns))
        table.add_rows(rows)
        await pilot.pause(0)
        result["datatable_add_rows_ms"] = round(1000 * (time.perf_counter() - started), 1)
    return result


def live_refresh(url: str, running: int = 8, polls: int = 40) -> dict[str, float]:
    """Median and p95 of LiveFeed.poll() with `running` trials each adding 20 steps a poll."""
    import optuna

    from hptui.core.events import StepEvent
    from hptui.core.live import LiveFeed
    from hptui.core.read import StudyReader
    from hptui.core.records import StepRecorder
    from hptui.core.storage import engine, optuna_storage

    storage = optuna_storage(url)
    study = optuna.load_study(study_name="scale", storage=storage)
    db = engine(url)
    recorders = []
    for _ in range(running):
        trial_id = storage.create_new_trial(study._study_id)
        recorders.append(StepRecorder(db, trial_id))
    feed = LiveFeed(StudyReader(url), "scale")
    feed.poll()
    samples = []
    step = 0
    for _ in range(polls):
        for recorder in recorders:
            for _ in range(20):
                step += 1
                recorder.add_step(StepEvent(step, 1, step / 1000, 0.5, 2e-5, 1.0, 300.0))
            recorder.flush()
        started = time.perf_counter()
        snapshot = feed.poll()
        samples.append(time.perf_counter() - started)
        assert len(snapshot.running) == running
    return {
        "live_poll_median_ms": round(1000 * statistics.median(samples), 2),
        "live_poll_p95_ms": round(1000 * p95(samples), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[10000])
    parser.add_argument("--keys", type=int, default=30, help="presses of each key timed")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--db", metavar="FILE", help="reuse a database filled earlier (study 'scale')"
    )
    args = parser.parse_args()
    figures = []
    for count in args.trials:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'scale.db'}"
            started = time.perf_counter()
            if args.db:
                shutil.copy(args.db, Path(folder) / "scale.db")
            else:
                fill(url, count)
            filled = time.perf_counter() - started
            result: dict[str, Any] = {"trials": count, "fill_s": round(filled, 1)}
            result.update(asyncio.run(_drive(url, args.keys)))
            result.update(live_refresh(url))
            result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        figures.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
