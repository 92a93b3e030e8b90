"""`hptui analyze`: coefficient tables, the trade-off table and advice, as text, JSON or
markdown, with optional plotext plots. All numbers come from hptui.core.analysis."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from hptui.core.analysis import Analysis, AnalysisOptions, analyze, parse_numbers, parse_params
from hptui.core.errors import HptuiError


def run_analyze(args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.from_csv):
        raise HptuiError("give either a study name or --from-csv FILE (not both)")
    options = AnalysisOptions(
        metrics=tuple(args.metric or ("f1", "accuracy", "loss")),
        params=parse_params(args.params),
        raw=args.raw,
        relative_to=args.relative_to,
        robust=args.robust,
        alpha=args.alpha,
        exclude=parse_numbers(args.exclude, "--exclude"),
    )
    analysis = analyze(options, study=args.name, storage_url=args.storage, csv_path=args.from_csv)
    if args.format == "json":
        sys.stdout.write(json.dumps(analysis.to_json(), indent=2, default=_plain) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(markdown(analysis))
    else:
        print_tables(analysis)
    if args.plot:
        draw_plots(analysis, args.plot)
    if args.suggest_space:
        from hptui.core.export import write_file

        metric = options.metrics[0]
        space = analysis.suggested_space(metric)
        header = f"# Narrower space around the fitted {metric} optimum of {analysis.source}\n"
        path = write_file(args.suggest_space, header + space.to_toml(), overwrite=args.force)
        print(f"wrote the suggested space to {path}", file=sys.stderr)
    if args.enqueue_optimum:
        from hptui.core.analysis import optimum_trial
        from hptui.core.study import enqueue

        params = optimum_trial(analysis, options.metrics[0])
        enqueue(args.name, args.storage, params)
        print(f"queued the fitted {options.metrics[0]} optimum as a trial: {params}",
              file=sys.stderr)  # fmt: skip
    return 0


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def summary_line(analysis: Analysis, metric: str) -> str:
    r = analysis.results[metric]
    what = f"{metric} − baseline (trial {r.relative_to})" if r.relative_to is not None else metric
    left = ", ".join(f"{n} {k}" for k, n in r.left_out.items())
    return (
        f"{what} ~ {r.model} in {', '.join(r.params)} ({r.mode}"
        + (", HC3" if r.robust else "")
        + f"): n = {r.n} of {r.total}"
        + (f" ({left} left out)" if left else "")
        + (
            f", R² {fmt(r.r2, 3)}, adj. R² {fmt(r.adj_r2, 3)}, F-test p {fmt_p(r.f_pvalue)}, "
            f"AIC {fmt(r.aic, 1)}, cond. {fmt(r.condition_number, 2)}"
            if r.fitted
            else ""
        )
    )


def print_tables(analysis: Analysis) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    alpha = analysis.options.alpha
    console.print(f"[bold]{analysis.source}[/]: degree-2 polynomial OLS")
    for metric, result in analysis.results.items():
        console.print()
        console.print(summary_line(analysis, metric))
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        for note in result.notes:
            console.print(f"[dim]note: {note}[/]")
        if not result.fitted:
            continue
        table = Table("term", "coef", "std err", "t", "p", "95% CI low", "95% CI high", box=None)
        for t in result.terms:
            style = "bold" if t.p < alpha and t.term != "const" else ""
            table.add_row(
                t.term, fmt(t.coef), fmt(t.std_err), fmt(t.t, 2), fmt_p(t.p),
                fmt(t.ci_low), fmt(t.ci_high), style=style,
            )  # fmt: skip
        console.print(table)
    if analysis.advice.trade_offs:
        console.print()
        table = Table("term", *analysis.results, "verdict", title="where the metrics agree",
                      box=None)  # fmt: skip
        for row in analysis.advice.trade_offs:
            cells = [_trade_cell(row["cells"].get(m)) for m in analysis.results]
            table.add_row(row["term"], *cells, row["verdict"])
        console.print(table)
        console.print("(+/− sign of the effect; * significant at alpha; loss: lower is better)")
    console.print()
    console.print("[bold]advice[/]")
    for line in advice_lines(analysis):
        console.print(line, markup=False)


def _trade_cell(cell: dict[str, Any] | None) -> str:
    if not cell or not cell.get("sign"):
        return "·"
    mark = "*" if cell.get("significant") else ""
    better = cell.get("better")
    judged = "" if better is None else (" better" if better else " worse")
    return f"{cell['sign']}{mark}{judged}"


def advice_lines(analysis: Analysis) -> list[str]:
    lines = []
    for metric in analysis.results:
        findings = analysis.advice.findings.get(metric, [])
        lines.append(f"{metric}:")
        lines += [f"  caution: {c}" for c in analysis.advice.cautions.get(metric, [])]
        lines += [f"  {f.text}" for f in findings] or ["  no term is significant"]
        optimum = analysis.advice.optima.get(metric)
        if optimum is not None:
            where = ", ".join(f"{k} = {fmt(v, 3)}" for k, v in optimum.values.items())
            p = optimum.prediction
            lines.append(
                f"  fitted {'maximum' if optimum.maximize else 'minimum'} in the searched box: "
                f"{where} -> {metric} {fmt(p.mean)} (95% prediction interval "
                f"{fmt(p.pred_low)} to {fmt(p.pred_high)})"
            )
            lines += [f"  {note}" for note in optimum.notes]
    return lines


def markdown(analysis: Analysis) -> str:
    out = [f"# Regression analysis: {analysis.source}", ""]
    for metric, result in analysis.results.items():
        out += [f"## {metric}", "", summary_line(analysis, metric), ""]
        out += [f"- **warning:** {w}" for w in result.warnings]
        out += [f"- note: {n}" for n in result.notes]
        if result.warnings or result.notes:
            out.append("")
        if result.fitted:
            out += ["| term | coef | std err | t | p | 95% CI low | 95% CI high |",
                    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
            for t in result.terms:
                out.append(
                    f"| `{t.term}` | {fmt(t.coef)} | {fmt(t.std_err)} | {fmt(t.t, 2)} | "
                    f"{fmt_p(t.p)} | {fmt(t.ci_low)} | {fmt(t.ci_high)} |"
                )
            out.append("")
    if analysis.advice.trade_offs:
        out += ["## Where the metrics agree", ""]
        out.append("| term | " + " | ".join(analysis.results) + " | verdict |")
        out.append("| --- |" + " --- |" * (len(analysis.results) + 1))
        for row in analysis.advice.trade_offs:
            cells = [_trade_cell(row["cells"].get(m)) for m in analysis.results]
            out.append(f"| `{row['term']}` | " + " | ".join(cells) + f" | {row['verdict']} |")
        out.append("")
    out += ["## Advice", "", "```", *advice_lines(analysis), "```", ""]
    return "\n".join(out)


def draw_plots(analysis: Analysis, kind: str) -> None:
    """Terminal plots with plotext, from the plot data core computes."""
    import plotext as plt

    from hptui.core.plots import correlation_heatmap, parallel_coordinates, scatter_with_fit

    table = analysis.table
    metrics = list(analysis.results)
    if kind == "heatmap":
        data = correlation_heatmap(table, list(analysis.params), metrics)
        _print_heatmap(data)
        return
    if kind == "parallel":
        data = parallel_coordinates(table, list(analysis.params), metrics)
        plt.clear_figure()
        names = [axis["name"] for axis in data["axes"]]
        for line in data["lines"]:
            if line["state"] == "COMPLETE" and None not in line["values"]:
                plt.plot(list(range(len(names))), line["values"])
        plt.xticks(list(range(len(names))), names)
        plt.title(f"parallel coordinates: {analysis.source} (each axis scaled to 0..1)")
        plt.plotsize(min(160, 24 * len(names)), 25)
        plt.show()
        return
    for result in analysis.results.values():
        for panel in scatter_with_fit(table, result):
            plt.clear_figure()
            points = [
                (x, y) for x, y in zip(panel["x"], panel["y"], strict=True) if None not in (x, y)
            ]
            plt.scatter([p[0] for p in points], [p[1] for p in points], label="trials")
            if panel["curve"]:
                plt.plot(panel["curve"]["x"], panel["curve"]["y"], label="fit (others at mean)")
            if panel["log"]:
                plt.xscale("log")
            plt.title(f"{panel['y_label']} vs {panel['param']}")
            plt.plotsize(80, 20)
            plt.show()


def _print_heatmap(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", *data["columns"], title=f"{data['method']} correlation, n = {data['n']}",
                  box=None)  # fmt: skip
    for name, values in zip(data["rows"], data["values"], strict=True):
        cells = []
        for v in values:
            if v is None:
                cells.append("-")
                continue
            colour = "red" if v < -0.3 else "green" if v > 0.3 else "default"
            cells.append(f"[{colour}]{v:+.2f}[/]")
        table.add_row(name, *cells)
    Console().print(table)
