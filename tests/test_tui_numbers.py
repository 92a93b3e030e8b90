"""Numbers at 80x24 on the example database: each one shown whole, never cut (`interce…`,
`-0.0036…` once ended the coefficient table), and each reads back as its value to the
precision it shows (fewer digits where space is short, never a cut-off exponent)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from console_pilot import drive, settle
from screen_text import screen_text
from textual.pilot import Pilot

from hptui.tui.app import HptuiApp
from hptui.tui.format import number
from hptui.tui.screens.compare import CompareScreen
from hptui.tui.screens.trial_detail import TrialDetailScreen
from hptui.tui.widgets.analysis import render
from hptui.tui.widgets.analysis.pane import AnalysisPane
from hptui.tui.widgets.trials.grid import TrialsGrid
from hptui.tui.widgets.trials.pane import TrialsPane

EXAMPLE = Path(__file__).resolve().parent.parent / "runs.db.example"
CUT = re.compile(r"[\d.]…|e[-+]?…|[\d.]~")  # a number that ends in an ellipsis


def agrees(text: str, value: Any) -> bool:
    """`text` is `value` to the precision it shows: within half a unit of its last digit."""
    text = text.strip().replace("−", "-")
    if value is None:
        return text == "–"
    if isinstance(value, float) and math.isnan(value):
        return text == "nan"
    try:
        shown = Decimal(text)
    except InvalidOperation:
        return False
    exponent = shown.as_tuple().exponent
    assert isinstance(exponent, int)
    unit = Decimal(10) ** exponent
    return abs(shown - Decimal(repr(float(value)))) <= unit / 2 + Decimal("1e-15")


@pytest.mark.parametrize(("text", "value", "ok"), [
    ("7.448e-05", 7.448259879e-05, True), ("0.8454", 0.84537, True), ("20", 19.79, True),
    ("7.448259879", 7.448259879e-05, False), ("6.246e-", 6.246e-05, False),
    ("-0.0036…", -0.003662, False),
])  # fmt: skip
def test_agrees_reads_a_number_back(text: str, value: float, ok: bool) -> None:
    assert agrees(text, value) is ok


@pytest.fixture
def example_url(tmp_path: Path) -> str:
    copy = tmp_path / "runs.db.example"
    copy.write_bytes(EXAMPLE.read_bytes())
    return f"sqlite:///{copy}"


def assert_nothing_cut(app: HptuiApp, where: str) -> None:
    text = screen_text(app)
    found = CUT.findall(text)
    assert not found, f"{where}: a number cut at 80x24: {found}\n{text}"


def test_every_number_reads_back_at_80x24(example_url: str) -> None:
    async def steps(app: HptuiApp, pilot: Pilot[None]) -> None:
        await pilot.press("down", "down", "enter")  # the TPE study: lr like 8.629e-05
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        pane = app.screen.query_one(TrialsPane)
        grid = pane.query_one(TrialsGrid)
        # the trials: every numeric cell of every row against the trial's value
        for trial_number in grid.numbers:
            row = pane.model.rows[trial_number]
            for column, text in zip(grid.columns, grid.cells[trial_number], strict=True):
                if column.numeric:
                    assert agrees(text, row.get(column.key)), (column.key, text, row)
        for _ in range(len(grid.columns)):  # every column, scrolled to
            assert_nothing_cut(app, "trials")
            await pilot.press("right")
        # compare: the two first trials, every parameter and metric
        await pilot.press("home", "space", "space", "c")
        await settle(app, pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await pilot.press("a")  # the equal parameters too
        await settle(app, pilot)
        assert_nothing_cut(app, "compare")
        table = compare.query_one("DataTable")
        names = {"  " + render.short(n): n for n in compare.params}
        names.update({"≠ " + render.short(n): n for n in compare.params})
        names.update({"  " + render.short(m): m for m in ("accuracy", "f1", "loss")})
        for index in range(table.row_count):  # type: ignore[attr-defined]
            cells = [str(c) for c in table.get_row_at(index)]  # type: ignore[attr-defined]
            if cells[0] in names:
                for text, row in zip(cells[1:], compare.rows, strict=True):
                    assert agrees(text.split(" (")[0], row.get(names[cells[0]])), cells
        await pilot.press("escape", "enter")  # details of the trial under the cursor
        await settle(app, pilot)
        detail = app.screen
        assert isinstance(detail, TrialDetailScreen)
        assert_nothing_cut(app, "details")
        line = next(x for x in screen_text(app).splitlines() if "accuracy / f1 / loss" in x)
        shown = line.split("accuracy / f1 / loss", 1)[1].split("/")
        for text, key in zip(shown, ("accuracy", "f1", "loss"), strict=True):
            assert agrees(text, detail.row.get(key)), (key, text)
        # analysis: the coefficient table, row by row, against the fit
        await pilot.press("escape", "4")
        await settle(app, pilot, rounds=10)
        analysis = app.screen.query_one(AnalysisPane)
        assert analysis.view is not None
        result = next(iter(analysis.view.analysis.results.values()))
        assert result.fitted
        seen = 0
        for _ in range(12):  # page through the whole tab
            assert_nothing_cut(app, "analysis")
            for line in screen_text(app).splitlines():
                words = line.split()
                for term in result.terms:
                    name = render.term_name(term.term)
                    if name not in words[:2]:
                        continue
                    values = words[words.index(name) + 1 :]
                    if len(values) != 7:  # not a coefficient row (the importance table)
                        continue
                    expected = [term.coef, term.std_err, term.t, None, None, term.ci_low,
                                term.ci_high]  # fmt: skip
                    for text, value in zip(values, expected, strict=True):
                        if value is not None:
                            assert agrees(text, value), (name, text, value)
                    seen += 1
            await pilot.press("pagedown")
            await settle(app, pilot)
        assert seen >= len(result.terms)

    drive(example_url, steps, size=(80, 24))


def test_numbers_keep_their_exponent() -> None:
    assert number(7.448259879e-05) == "7.448e-05"
    assert number(3.5e-05) == "3.5e-05"
    assert number(6.246e-05, 3) == "6.25e-05"
