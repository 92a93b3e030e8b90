"""The analysis tab's tables as rich renderables: layout only, every number from the core.

Significance reads without colour: a row's first cell is `*` (p < alpha) or `**` (also
after Holm's correction), and heatmap cells show their correlation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from hptui.core.analysis.analyze import Analysis
from hptui.core.analysis.regression import RegressionResult, TermEstimate

from ...format import number, short

StyleOf = Callable[[str], Style]
COEF_HEADER = ("", "term", "coef", "std err", "t", "p", "Holm p", "95% CI\nlow", "95% CI\nhigh")
# Significant digits to try, most first, until a table fits the width it is given.
DIGITS = (4, 3, 2)


class NumberTable:
    """A table whose numbers are never cut: rich's Table shrinks columns to the width it is
    given and ends numbers in `…` (`-0.0036…` at 80 columns); this one instead shows fewer
    significant digits (4, then 3, then 2: each a correctly rounded form of the value),
    then narrower gaps, and past that is as wide as its cells (the tab scrolls sideways).

    `cells(digits)` gives the rows as text; headers may hold one line break."""

    def __init__(
        self,
        headers: Sequence[str],
        cells: Callable[[int], list[list[str]]],
        *,
        right: Sequence[bool],
        styles: Callable[[list[str]], Style | str | None] = lambda row: None,
    ) -> None:
        self.headers = [h.split("\n") for h in headers]
        self.cells = cells
        self.right = list(right)
        self.styles = styles

    def layout(self, max_width: int) -> tuple[list[list[str]], list[int], int]:
        """(rows, column widths, gap) of the first layout that fits `max_width`."""
        best: tuple[list[list[str]], list[int], int] | None = None
        for digits in DIGITS:
            rows = self.cells(digits)
            widths = [
                max([len(line) for line in header] + [len(row[i]) for row in rows])
                for i, header in enumerate(self.headers)
            ]
            for gap in (2, 1):
                if best is None or _width(widths, gap) < _width(best[1], best[2]):
                    best = (rows, widths, gap)
                if _width(widths, gap) <= max_width:
                    return rows, widths, gap
        assert best is not None
        return best

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        _rows, widths, gap = self.layout(options.max_width)
        return Measurement(_width(widths, gap), _width(widths, gap))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows, widths, gap = self.layout(options.max_width)
        height = max(len(h) for h in self.headers)
        for index in range(height):
            parts = []
            for header, width, right in zip(self.headers, widths, self.right, strict=True):
                lines = [""] * (height - len(header)) + header  # bottom-aligned
                parts.append(lines[index].rjust(width) if right else lines[index].ljust(width))
            yield Text((" " * gap).join(parts).rstrip(), style="bold", no_wrap=True)
        for row in rows:
            parts = [
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(row, widths, self.right, strict=True)
            ]
            text = (" " * gap).join(parts).rstrip()
            yield Text(text, style=self.styles(row) or "", no_wrap=True, overflow="ignore")


def _width(widths: Sequence[int], gap: int) -> int:
    return sum(widths) + gap * max(len(widths) - 1, 0)


def term_name(term: str) -> str:
    """`learning_rate*warmup_ratio` as `lr*warmup`: the short names of the trials tab."""
    if term == "const":
        return "intercept"
    if term.endswith("^2"):
        return short(term[:-2]) + "²"
    return "*".join(short(part) for part in term.split("*"))


def p_value(p: float) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def significance(term: TermEstimate, alpha: float) -> str:
    """`**` significant after Holm's correction, `*` significant alone, else blank."""
    if term.term == "const" or not term.p < alpha:
        return ""
    return "**" if term.p_holm < alpha else "*"


def coef_cells(term: TermEstimate, alpha: float, digits: int = 4) -> list[str]:
    """One row of the coefficient table, as the tab shows it (tests read these cells);
    `digits` significant digits (fewer where the table would not fit)."""
    return [
        significance(term, alpha), term_name(term.term), number(term.coef, digits),
        number(term.std_err, digits), number(term.t, min(digits, 3)), p_value(term.p),
        p_value(term.p_holm), number(term.ci_low, digits), number(term.ci_high, digits),
    ]  # fmt: skip


def coef_table(terms: Sequence[TermEstimate], alpha: float, style: StyleOf) -> NumberTable:
    """The coefficient table, at as many digits as the width allows (never cut)."""

    def cells(digits: int) -> list[list[str]]:
        return [coef_cells(term, alpha, digits) for term in terms]

    return NumberTable(
        COEF_HEADER, cells, right=[False, False] + [True] * (len(COEF_HEADER) - 2),
        styles=lambda row: style("significant") if row[0] else None,
    )  # fmt: skip


def fit_summary(result: RegressionResult) -> str:
    """n, R², adjusted R², F-test p and condition number of one fit, in one line."""
    what = result.metric
    if result.relative_to is not None:
        what += f" − baseline #{result.relative_to}"
    logs = f", log10 {', '.join(short(p) for p in result.log_params)}" if result.log_params else ""
    left = ", ".join(f"{n} {k.lower()}" for k, n in result.left_out.items())
    line = (
        f"{what} ~ {result.model} in {', '.join(short(p) for p in result.params)} "
        f"({result.mode}{logs}): n {result.n} of {result.total}"
        + (f" ({left} left out)" if left else "")
    )
    if result.fitted:
        line += (
            f"   R² {number(result.r2, 3)}   adj. R² {number(result.adj_r2, 3)}   "
            f"pred. R² {_q2(result.q2)}   F-test p {p_value(result.f_pvalue)}"
            + (f"   lack of fit p {p_value(result.lack_of_fit.p)}" if result.lack_of_fit else "")
            + f"   cond. {number(result.condition_number, 3)}"
        )
    return line


def _q2(q2: float) -> str:
    return "−inf" if q2 == -math.inf else number(q2, 3)


def fit_section(analysis: Analysis, style: StyleOf) -> RenderableType:
    """Per metric: the fit statistics, warnings, notes and coefficient table."""
    alpha = analysis.options.alpha
    parts: list[RenderableType] = []
    for result in analysis.results.values():
        parts.append(Text(fit_summary(result), style="bold"))
        for warning in result.warnings:
            parts.append(Text("warning: " + warning, style=style("warning")))
        for note in result.notes:
            parts.append(Text("note: " + note, style=style("note")))
        if result.fitted:
            parts.append(coef_table(result.terms, alpha, style))
        parts.append(Text(""))
    parts.append(
        Text(
            f"* p < {alpha:g} on its own   ** also after Holm's correction over every term of "
            "every metric fitted; what is established is said under advice",
            style=style("note"),
        )
    )
    return Group(*parts)


# How each kind of advice line (`Advice.metric_lines`) is styled.
LINE_STYLES = {
    "finding": "significant",
    "caution": "warning",
    "not-established": "note",
    "noise": "note",
    "none": None,
    "fit": None,
    "optimum": None,
}


def advice_section(analysis: Analysis, style: StyleOf) -> RenderableType:
    """Per metric, the lines `hptui analyze` prints under advice (the fit's verdict, the seed
    noise, the established findings, the rest as not established, the optimum or why there
    is none), less the warnings the fit section above already shows."""
    advice = analysis.advice
    parts: list[RenderableType] = []
    for metric, result in analysis.results.items():
        for kind, text in advice.metric_lines(metric, skip=result.warnings):
            if kind == "heading":
                parts.append(Text(text, style="bold"))
                continue
            name = LINE_STYLES.get(kind)
            parts.append(Text("  " + text, style=style(name) if name else ""))
    if advice.multiple_testing:
        parts.append(Text(advice.multiple_testing, style=style("note")))
    return Group(*parts)


def importance_section(analysis: Analysis, style: StyleOf) -> RenderableType:
    """Optuna's importance per metric beside the regression (what optuna-dashboard shows),
    marked descriptive: shares of 1, no test and no direction."""
    if not analysis.importance:
        return Text("")
    metrics = list(analysis.importance)
    params: list[str] = []
    for shares in analysis.importance.values():
        params += [p for p in shares if p not in params]
    table = Table("parameter", *metrics, box=None, padding=(0, 1), pad_edge=False)
    for column in table.columns[1:]:
        column.justify = "right"
    for param in params:
        cells = [_share(analysis.importance[m].get(param)) for m in metrics]
        table.add_row(short(param), *cells)
    title = Text(
        f"importance (descriptive: no test, no direction): {analysis.importance_evaluator}",
        style="bold",
    )
    notes = [Text(note, style=style("note")) for note in analysis.importance_notes]
    caption = Text(
        "each column sums to 1: how much a parameter accounts for the metric's best trials; "
        "the regression above says which way and how much, with a test",
        style=style("note"),
    )
    return Group(title, table, caption, *notes)


def _share(value: float | None) -> str:
    return "·" if value is None else f"{value:.2f}"


def trade_off_table(analysis: Analysis, style: StyleOf) -> RenderableType:
    """The core's cross-metric table: each term's change per metric, `*` when stated."""
    metrics = list(analysis.results)
    trade_offs = analysis.advice.trade_offs
    marked = {
        term_name(row["term"])
        for row in trade_offs
        if any(cell.get("significant") for cell in row["cells"].values())
    }

    def cells(digits: int) -> list[list[str]]:
        return [
            [term_name(row["term"]), *(_trade_cell(row["cells"].get(m), digits) for m in metrics),
             row["verdict"]]
            for row in trade_offs
        ]  # fmt: skip

    table = NumberTable(
        ["term", *metrics, "verdict"], cells, right=[False] * (len(metrics) + 2),
        styles=lambda row: style("significant") if row[0] in marked else None,
    )  # fmt: skip
    legend = Text(
        "each cell: the change over the observed range, others at their centre; * established "
        "(fit established, Holm p < alpha over every contrast, possible, above resolution and "
        "seed noise); better/worse follow each metric's direction",
        style=style("note"),
    )
    return Group(table, legend)


def _trade_cell(cell: dict[str, Any] | None, digits: int = 3) -> str:
    if not cell or cell.get("change") is None:
        return "·"
    mark = "*" if cell.get("significant") else ""
    return f"{number(cell['change'], min(digits, 3))}{mark} {cell['direction']}"


def heat_table(data: dict[str, Any], style: StyleOf) -> RenderableType:
    """The correlation matrix as a grid of numbers, each cell shaded by sign and size."""
    columns: Sequence[str] = data["columns"]
    table = Table("", *(short(c) for c in columns), box=None, padding=(0, 1), pad_edge=False)
    for column in table.columns[1:]:
        column.justify = "right"
    for name, row in zip(columns, data["values"], strict=True):
        cells = [Text(short(name), style="bold")]
        for value in row:
            cells.append(Text(_corr(value), style=style(_heat_class(value))))
        table.add_row(*cells)
    caption = Text(
        f"{data['method']} correlation over {data['n']} trial(s); shade: green positive, "
        "red negative, darker stronger",
        style=style("note"),
    )
    return Group(table, caption)


def _corr(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _heat_class(value: float | None) -> str:
    if value is None or abs(value) < 0.2:
        return "heat-none"
    sign = "pos" if value > 0 else "neg"
    return f"heat-{sign}-strong" if abs(value) >= 0.6 else f"heat-{sign}"
