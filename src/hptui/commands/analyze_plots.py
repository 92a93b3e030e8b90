"""`hptui analyze --plot KIND`: terminal plots of the data `hptui.core.analysis.plots` computes.

plotext changed its API completely in 6.0 (one `plotext.figure` object with signals instead
of module-level `scatter`/`plot`/`clear_figure`); `_draw_xy` speaks both, so the pin can be
`plotext>=5.2.8,<7` (5.3.2 and 6.1.0 tested) and the console may use textual-plotext (which
needs plotext<6). The correlation heatmap is a coloured table (rich), on either version.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from hptui.core.analysis.analyze import Analysis

Series = tuple[Sequence[float], Sequence[float], str, str]  # x, y, label, "points" | "line"


def draw_plots(analysis: Analysis, kind: str) -> None:
    """Draw `kind` (scatter, heatmap, parallel, residuals) for every fitted metric."""
    from hptui.core.analysis import plots

    table = analysis.table
    metrics = list(analysis.results)
    if kind == "heatmap":
        columns = [*analysis.params, *[m for m in metrics if m in table.columns]]
        _print_heatmap(plots.correlation_matrix(table, columns, exclude=analysis.excluded))
    elif kind == "parallel":
        data = plots.parallel_coordinates_data(
            table, list(analysis.params), [m for m in metrics if m in table.columns],
            log_params=analysis.log_params,
        )  # fmt: skip
        names = [axis["name"] for axis in data["axes"]]
        series: list[Series] = [
            (list(range(len(names))), line["values"], "", "line")
            for line in data["lines"]
            if line["state"] == "COMPLETE" and None not in line["values"]
        ]
        _draw_xy(series, "parallel coordinates (each axis scaled to 0..1)",
                 "axis", "scaled value", min(160, 24 * len(names)), 25)  # fmt: skip
        print("axes: " + ", ".join(f"{i} {n}" for i, n in enumerate(names)))
    elif kind == "residuals":
        for result in analysis.results.values():
            data = plots.residuals(result)
            if not data["fitted"]:
                print(f"{result.metric}: no fit, no residuals")
                continue
            lo, hi = min(data["fitted"]), max(data["fitted"])
            _draw_xy(
                [(data["fitted"], data["residuals"], "trials", "points"),
                 ([lo, hi], [0.0, 0.0], "zero", "line")],
                f"{result.metric}: residual vs fitted (look for a pattern or a funnel)",
                f"fitted {result.metric}", "residual", 80, 20,
            )  # fmt: skip
    else:
        for result in analysis.results.values():
            for panel in plots.scatter_with_fit(table, result):
                _draw_fit_panel(panel, result)


def _draw_fit_panel(panel: dict[str, Any], result: Any) -> None:
    """Trials, the fitted curve (others at their centre) and its 95% confidence band."""
    from hptui.core.analysis.plots import curve_data

    log = bool(panel["log"])
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    points = [(scale(x), y) for x, y in zip(panel["x"], panel["y"], strict=True)
              if x is not None and y is not None and (not log or x > 0)]  # fmt: skip
    series: list[Series] = [([p[0] for p in points], [p[1] for p in points], "trials", "points")]
    x, y, low, high = curve_data(result, panel["param"])
    if x:
        xs = [scale(v) for v in x]
        series += [(xs, y, "fit (others at centre)", "line"),
                   (xs, low, "95% CI", "line"), (xs, high, "", "line")]  # fmt: skip
    x_label = f"log10({panel['param']})" if log else panel["param"]
    _draw_xy(series, f"{panel['y_label']} vs {panel['param']}", x_label, panel["y_label"], 80, 20)


def _draw_xy(
    series: Sequence[Series], title: str, x_label: str, y_label: str, width: int, height: int
) -> None:
    import plotext as plt

    series = [s for s in series if len(s[0])]
    if not series:
        print(f"{title}: nothing to plot")
        return
    if hasattr(plt, "clear_figure"):  # plotext 5.x: module-level functions
        plt.clear_figure()
        for x, y, label, kind in series:
            draw = plt.plot if kind == "line" else plt.scatter
            draw(list(x), list(y), label=label or None)
        plt.title(title)
        plt.xlabel(x_label)
        plt.ylabel(y_label)
        plt.plotsize(width, height)
        if not sys.stdout.isatty():
            plt.clear_color()
        print(plt.build())  # through sys.stdout, so redirection and capture see it
        return
    figure = plt.figure  # plotext 6.x: one figure object, signals drawn on it
    figure.clear()
    for x, y, label, kind in series:
        signal = figure.signal(list(x), list(y))
        if kind == "line":
            signal.lines()
        if label:
            signal.label(label)
        figure.draw(signal)
    figure.title(title)
    figure.label(x_label, axis="x")
    figure.label(y_label, axis="y")
    figure.plot_size(width, height)
    # plotext 6 prints from native code; build the text and print it through sys.stdout.
    print(figure.build().string(colorless=not sys.stdout.isatty()))


def _print_heatmap(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"{data['method']} correlation of parameters and metrics, n = {data['n']}"
    table = Table("", *data["columns"], title=title, box=None)
    for name, values in zip(data["columns"], data["values"], strict=True):
        cells = []
        for v in values:
            if v is None:
                cells.append("-")
                continue
            shade = "red" if v < 0 else "green"
            strength = "bold " if abs(v) >= 0.5 else "" if abs(v) >= 0.3 else "dim "
            cells.append(f"[{strength}{shade}]{v:+.2f}[/]")
        table.add_row(name, *cells)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
