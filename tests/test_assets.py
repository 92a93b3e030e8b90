"""`python assets/make.py DIR` (the README tour's one command) writes one SVG per tab of the
console at 120x40, each with its tab's title and what that tab shows of runs.db.example."""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

from conftest import REPO

# file: (title in the window bar, something only that tab shows of the example)
EXPECTED = {
    "studies.svg": ("hptui: Studies", "Workers"),
    "live.svg": ("hptui: Live", "Last finished"),
    "trials.svg": ("hptui: Trials", "COMPLETE"),
    "space.svg": ("hptui: Space", "learning_rate"),
    "analysis.svg": ("hptui: Analysis", "intercept"),
}


def test_one_command_writes_a_screenshot_of_every_tab(tmp_path: Path) -> None:
    example = REPO / "runs.db.example"
    before = example.read_bytes()
    done = subprocess.run(
        [sys.executable, str(REPO / "assets" / "make.py"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(EXPECTED)
    for name, (title, shown) in EXPECTED.items():
        svg = (tmp_path / "out" / name).read_text()
        assert svg.startswith("<svg")
        text = html.unescape(svg).replace("\xa0", " ")
        assert title in text and shown in text, name
    assert example.read_bytes() == before  # the example is read from a copy
    assert not (tmp_path / "runs.db").exists()


def test_the_readme_tour_shows_the_assets() -> None:
    readme = (REPO / "README.md").read_text()
    tour = readme.split("## Tour", 1)[1].split("\n## ", 1)[0]
    assert "python assets/make.py" in tour
    for name in EXPECTED:
        assert f"](assets/{name})" in tour
        assert (REPO / "assets" / name).is_file()
