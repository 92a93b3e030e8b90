"""The console at scale: what a person feels with 10,000 or 100,000 trials.

Fills a SQLite study with N finished trials through Optuna's API (as `read_api.py` does), then
drives the real app headless (Textual's Pilot) and prints, in one run:

- launch to the studies listed; then, the app being up, from opening the study's trials tab
  to its first rows on screen and to the whole study loaded (the first page is read on its
  own, then the rest in a thread);
- the work a key costs (median and p95): sort, filter and page-down on all N rows, each with
  every visible line drawn again; and the same keys end to end through Textual's Pilot,
  beside a key bound to nothing (the harness's own floor: Pilot waits for the app to idle);
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

    from hptui.core.studies.filters import parse_filter
    from hptui.core.studies.store import Store
    from hptui.tui.app import make_app
    from hptui.tui.widgets.trials.grid import TrialsGrid
    from hptui.tui.widgets.trials.pane import TrialsPane

    app = make_app(Store(url), refresh_seconds=3600)
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        launched = time.perf_counter()
        studies = app.screen.query_one("#studies")
        while studies.row_count == 0:  # type: ignore[attr-defined]
            await asyncio.sleep(0.002)
        result["launch_to_studies_ms"] = round(1000 * (time.perf_counter() - launched), 1)
        # The app is up: open the study and its trials tab, as a person would. The pane
        # notes when it was shown and when its first and last rows were applied.
        await pilot.press("enter", "2")
        pane = app.screen.query_one(TrialsPane)
        grid = pane.query_one(TrialsGrid)
        while not pane.loaded:
            await asyncio.sleep(0.002)
        shown = pane.timings["shown"]
        first = pane.timings["first_rows"] - shown
        loaded = pane.timings["all_rows"] - shown
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        result["first_rows_ms"] = round(1000 * first, 1)
        result["all_loaded_ms"] = round(1000 * loaded, 1)
        result["rows"] = len(grid.numbers)

        def render() -> None:
            """Draw every visible line, as the compositor does after a change."""
            for y in range(grid.size.height):
                grid.render_line(y)

        def work(action: Any) -> float:
            started = time.perf_counter()
            action()
            render()
            return time.perf_counter() - started

        async def end_to_end(*presses: str) -> float:
            started = time.perf_counter()
            await pilot.press(*presses)
            return time.perf_counter() - started

        names = ("sort", "filter", "page_down")
        work_ms: dict[str, list[float]] = {name: [] for name in names}
        pilot_ms: dict[str, list[float]] = {"sort": [], "page_down": [], "unbound_key": []}
        columns = [c.key for c in grid.columns]
        for _ in range(columns.index("f1")):
            await pilot.press("right")
        filters = [f"f1 > 0.{i % 9 + 1}" for i in range(keys)]

        def apply_filter(text: str) -> None:
            pane.trial_filter = parse_filter(text, pane.model.column_names())
            pane._refresh_view()

        for index in range(keys):
            work_ms["sort"].append(work(pane.action_sort))
            work_ms["page_down"].append(work(lambda: grid.action_page(1)))
            work_ms["filter"].append(work(lambda i=index: apply_filter(filters[i])))
            await pilot.pause(0)
        apply_filter("")
        for _ in range(keys):
            pilot_ms["sort"].append(await end_to_end("s"))
            pilot_ms["page_down"].append(await end_to_end("pagedown"))
            pilot_ms["unbound_key"].append(await end_to_end("f12"))
        for name, samples in work_ms.items():
            result[f"{name}_work_median_ms"] = round(1000 * statistics.median(samples), 2)
            result[f"{name}_work_p95_ms"] = round(1000 * p95(samples), 2)
        for name, samples in pilot_ms.items():
            result[f"{name}_pilot_p95_ms"] = round(1000 * p95(samples), 2)

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

    from hptui.core.studies.storage import engine, optuna_storage
    from hptui.core.studies.store import Store
    from hptui.core.studies.worker_rows import StepRecorder
    from hptui.core.training.events import StepEvent
    from hptui.core.views.live import LiveFeed

    storage = optuna_storage(url)
    study = optuna.load_study(study_name="scale", storage=storage)
    db = engine(url)
    recorders = []
    for _ in range(running):
        trial_id = storage.create_new_trial(study._study_id)
        recorders.append(StepRecorder(db, trial_id))
    feed = LiveFeed(Store(url), "scale")
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
