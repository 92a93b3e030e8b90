"""Make the README tour's screenshots: one SVG per tab of the console at 120x40, read from
`runs.db.example`, by the real app (`make_app`) under Textual's test driver.

    python assets/make.py            # writes assets/*.svg
    python assets/make.py OUT_DIR    # elsewhere (the test writes into a temporary folder)

The example database is copied into a temporary folder first (the console is shown
`sqlite:///runs.db`, the name a user sees after copying it), and the clock is fixed at the
example's last finished trial, so ages on screen are the same from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "runs.db.example"
SIZE = (120, 40)
STUDY = "tpe"  # the example's study with the most to show on every tab
# (file name, title in the SVG's window bar, the key that shows it from the study screen)
TABS = (
    ("studies", "Studies", None),
    ("live", "Live", "1"),
    ("trials", "Trials", "2"),
    ("space", "Space", "3"),
    ("analysis", "Analysis", "4"),
)


def last_finished(store: object) -> float:
    """The example's last finished trial, as a Unix time: the screenshots' 'now'."""
    latest = 0.0
    for info in store.studies():  # type: ignore[attr-defined]
        for row in store.trials(info.name):  # type: ignore[attr-defined]
            if row.completed is not None:
                latest = max(latest, row.completed.timestamp())
    return latest + 60


async def settle(app: object, pilot: object) -> None:
    from textual.worker import WorkerCancelled

    for _ in range(4):
        await pilot.pause(0.1)  # type: ignore[attr-defined]
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()  # type: ignore[attr-defined]
    await pilot.pause(0.2)  # type: ignore[attr-defined]


async def shoot(out: Path) -> list[Path]:
    from hptui.core.studies.store import Store
    from hptui.tui.app import make_app
    from hptui.tui.widgets.studies.tables import StudiesTable

    store = Store("sqlite:///runs.db")
    now = last_finished(store)
    app = make_app(store, refresh_seconds=3600, clock=lambda: now)
    app.animation_level = "none"
    written: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for name, title, key in TABS:
            if key is not None:
                await pilot.press(key)
                await settle(app, pilot)
            else:
                table = app.screen.query_one(StudiesTable)
                names = [info.name for info in store.studies()]
                table.move_cursor(row=names.index(STUDY) if STUDY in names else 0)
                await settle(app, pilot)
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"hptui: {title}"), encoding="utf-8")
            written.append(path)
            if key is None:
                await pilot.press("enter")  # open the study for the tabs
                await settle(app, pilot)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(HERE), help="folder for the SVGs")
    out = Path(parser.parse_args(argv).out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="hptui-assets-") as work:
        shutil.copyfile(EXAMPLE, Path(work) / "runs.db")
        os.chdir(work)
        try:
            written = asyncio.run(shoot(out))
        finally:
            os.chdir(here)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
