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
- an idle console's CPU (all threads of the process, over `--idle` seconds of wall time, at
  the console's default refresh) with the live tab shown and with the trials tab shown;
- peak resident memory of the process before the DataTable comparison (the console's
  own), and after it.

    python bench/tui_scale.py --trials 10000
    python bench/tui_scale.py --trials 10000 100000 --keys 40
    python bench/tui_scale.py --trials 10000 --db filled.db --copies 10   # 100,000 from 10,000

`--copies K` repeats the filled trials K times in SQL (new trial ids and numbers, same
values), which takes seconds where filling 100,000 through Optuna takes half an hour.
Running it with `PYTHONPATH` set to an assembled copy of an older tree measures that tree
with the same harness (side by side).
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


async def _drive(url: str, keys: int, datatable: bool = True) -> dict[str, Any]:
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

        result["peak_rss_mb"] = _peak_rss_mb()  # the console's own, before the comparison
        if not datatable:
            return result
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


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


async def _idle(url: str, seconds: float) -> dict[str, Any]:
    """CPU used by an idle console (nothing changes in the study) at the default refresh:
    the study open on its live tab, then on its trials tab, `seconds` of wall time each."""
    from textual.worker import WorkerCancelled

    from hptui.core.studies.store import Store
    from hptui.tui.app import make_app
    from hptui.tui.widgets.trials.pane import TrialsPane

    app = make_app(Store(url))
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        studies = app.screen.query_one("#studies")
        while studies.row_count == 0:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)

        async def settle() -> None:
            await asyncio.sleep(3.0)  # first reads, first paints
            with contextlib.suppress(WorkerCancelled):
                await app.workers.wait_for_complete()
            await asyncio.sleep(2.0)

        async def measure(name: str) -> None:
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            used = (time.process_time() - cpu) / (time.perf_counter() - wall)
            result[f"idle_{name}_cpu_percent"] = round(100 * used, 1)

        await pilot.press("enter")
        await settle()
        await measure("live_tab")
        await pilot.press("2")
        pane = app.screen.query_one(TrialsPane)
        while not pane.loaded:
            await asyncio.sleep(0.05)
        await settle()
        await measure("trials_tab")
    return result


def grow(path: Path, copies: int) -> int:
    """Repeat the study's trials `copies` times in SQL: new ids and numbers, same values."""
    import sqlite3

    db = sqlite3.connect(path)
    (count,) = db.execute("SELECT COUNT(*) FROM trials").fetchone()
    (last_id,) = db.execute("SELECT MAX(trial_id) FROM trials").fetchone()
    (last_number,) = db.execute("SELECT MAX(number) FROM trials").fetchone()
    tables = {
        "trial_params": "param_id, trial_id, param_name, param_value, distribution_json",
        "trial_values": "trial_value_id, trial_id, objective, value, value_type",
        "trial_user_attributes": 'trial_user_attribute_id, trial_id, "key", value_json',
    }
    last_key = {
        table: db.execute(f"SELECT MAX({columns.split(',')[0]}) FROM {table}").fetchone()[0]
        for table, columns in tables.items()
    }
    with db:
        for k in range(1, copies):
            id_shift, number_shift = k * last_id, k * (last_number + 1)
            db.execute(
                "INSERT INTO trials SELECT trial_id + ?, number + ?, study_id, state, "
                "datetime_start, datetime_complete FROM trials WHERE trial_id <= ?",
                (id_shift, number_shift, last_id),
            )
            for table, columns in tables.items():
                key, _, rest = columns.partition(", trial_id, ")
                db.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {key} + ?, trial_id + ?, {rest} "
                    f"FROM {table} WHERE trial_id <= ?",
                    (k * last_key[table], id_shift, last_id),
                )
    db.close()
    return count * copies


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
    parser.add_argument(
        "--no-datatable", action="store_true", help="skip the DataTable comparison (slow)"
    )
    parser.add_argument(
        "--copies", type=int, default=1, help="repeat the filled trials K times in SQL"
    )
    parser.add_argument(
        "--idle", type=float, default=20.0, help="seconds of idle CPU measured per tab (0: skip)"
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
            if args.copies > 1:
                count = grow(Path(folder) / "scale.db", args.copies)
            filled = time.perf_counter() - started
            result: dict[str, Any] = {"trials": count, "fill_s": round(filled, 1)}
            result.update(asyncio.run(_drive(url, args.keys, not args.no_datatable)))
            result["peak_rss_with_datatable_mb"] = _peak_rss_mb()
            if args.idle > 0:  # before live_refresh adds running trials: nothing changes
                result.update(asyncio.run(_idle(url, args.idle)))
            result.update(live_refresh(url))
        figures.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
