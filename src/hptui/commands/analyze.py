"""`hptui analyze`: coefficient tables, the trade-off table and advice, as text, JSON or
markdown, with optional plotext plots. All numbers come from hptui.core.analysis.analyze; the text,
the trade-off table and the JSON all render the same findings."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from hptui.core.analysis.analyze import Analysis, AnalysisOptions, analyze
from hptui.core.errors import HptuiError
from hptui.core.studies.store import Store


def _relative_to(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text.strip().lower() == "baseline":
        return "baseline"
    try:
        return int(text)
    except ValueError:
        raise HptuiError(f"--relative-to: a trial number or 'baseline' (got {text!r})") from None


def run_analyze(args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.from_csv):
        raise HptuiError("give either a study name or --from-csv FILE (not both)")
    if args.enqueue_optimum and not args.name:
        raise HptuiError("--enqueue-optimum needs a study name (a CSV has no study to queue in)")
    options = AnalysisOptions(
        metrics=tuple(args.metric or ("f1", "accuracy", "loss")),
        params=parse_params(args.params),
        raw=args.raw,
        relative_to=_relative_to(args.relative_to),
        robust=args.robust,
        alpha=args.alpha,
        exclude=parse_numbers(args.exclude, "--exclude"),
        include_excluded=args.include_excluded,
        log=tuple(n for item in args.log for n in parse_params(item)),
        n_eval=args.n_eval,
        minimize=_names(getattr(args, "minimize", None)),
        maximize=_names(getattr(args, "maximize", None)),
        importance=_importance(getattr(args, "importance", "ped-anova")),
    )
    store = Store(args.storage) if args.name and not args.from_csv else None
    analysis = analyze(options, study=args.name, store=store, csv_path=args.from_csv)
    # Refuse before printing anything: a refused action writes nothing. The action's metric
    # is the study's objective when it was fitted, so the narrow space keeps the objective.
    metric = analysis.action_metric
    space = analysis.suggested_space(metric, force=args.force) if args.suggest_space else None
    queued = None
    if args.enqueue_optimum:
        from hptui.core.analysis.analyze import plan_queue

        queued = plan_queue(analysis, metric, force=args.force)
    if args.format == "json":
        sys.stdout.write(json.dumps(analysis.to_json(), indent=2, default=_plain) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(markdown(analysis))
    else:
        print_tables(analysis)
    if args.plot:
        from hptui.commands.analyze_plots import draw_plots

        draw_plots(analysis, args.plot)
    if space is not None:
        from hptui.core.studies.export import write_file

        header = f"# Narrower space around the fitted {metric} optimum of {analysis.source}\n"
        direction = analysis.directions.get(metric)
        if direction is not None:
            header += f"# objective: {metric}, {direction.describe()}\n"
        path = write_file(args.suggest_space, header + space.to_toml(), overwrite=args.force)
        print(f"wrote the suggested space around the {metric} optimum to {path}", file=sys.stderr)
    if queued is not None and store is not None:
        store.enqueue(args.name, queued.params)
        print(f"queued the fitted {metric} optimum as a trial: {queued.params}", file=sys.stderr)
        for note in queued.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def _names(items: list[str] | None) -> tuple[str, ...]:
    return tuple(n for item in items or [] for n in parse_params(item))


def _importance(value: str | None) -> str | None:
    return None if value in (None, "none") else value


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "−inf"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    if isinstance(p, float) and math.isnan(p):
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def summary_line(analysis: Analysis, metric: str) -> str:
    r = analysis.results[metric]
    what = f"{metric} − baseline (trial {r.relative_to})" if r.relative_to is not None else metric
    left = ", ".join(f"{n} {k}" for k, n in r.left_out.items())
    lof = f", lack-of-fit p {fmt_p(r.lack_of_fit.p)}" if r.lack_of_fit is not None else ""
    return (
        f"{what} ~ {r.model} in {', '.join(r.params)} ({r.mode}"
        + (f", log10: {', '.join(r.log_params)}" if r.log_params else "")
        + (", HC3" if r.robust else "")
        + f"): n = {r.n} of {r.total}"
        + (f" ({left} left out)" if left else "")
        + (
            f", R² {fmt(r.r2, 3)}, adj. R² {fmt(r.adj_r2, 3)}, pred. R² (LOO) {fmt(r.q2, 3)}, "
            f"F-test p {fmt_p(r.f_pvalue)}{lof}, AIC {fmt(r.aic, 1)}, "
            f"cond. {fmt(r.condition_number, 2)}"
            if r.fitted
            else ""
        )
    )


COEF_HEADER = ("term", "coef", "std err", "t", "p", "p (Holm)", "95% CI low", "95% CI high")


def _coef_cells(t: Any) -> list[str]:
    return [t.term, fmt(t.coef), fmt(t.std_err), fmt(t.t, 2), fmt_p(t.p), fmt_p(t.p_holm),
            fmt(t.ci_low), fmt(t.ci_high)]  # fmt: skip


def print_tables(analysis: Analysis) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)  # files get whole numbers
    alpha = analysis.options.alpha
    console.print(f"[bold]{analysis.source}[/]: degree-2 polynomial OLS")
    for metric, result in analysis.results.items():
        console.print()
        console.print(summary_line(analysis, metric), markup=False)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {_escape(warning)}")
        for note in result.notes:
            console.print(f"[dim]note: {_escape(note)}[/]")
        if not result.fitted:
            continue
        table = Table(*COEF_HEADER, box=None)
        for t in result.terms:
            style = "bold" if t.p < alpha and t.term != "const" else ""
            table.add_row(*_coef_cells(t), style=style)
        console.print(table)
        console.print(
            f"[dim](bold: p < {alpha:g} on its own; what is established is said under advice)[/]"
        )
    if analysis.advice.trade_offs:
        console.print()
        table = Table("term", *analysis.results, "verdict", title="where the metrics agree",
                      box=None)  # fmt: skip
        for row in analysis.advice.trade_offs:
            cells = [trade_cell(row["cells"].get(m)) for m in analysis.results]
            table.add_row(row["term"], *cells, row["verdict"])
        console.print(table)
        console.print(TRADE_LEGEND, markup=False)
    if analysis.importance:
        console.print()
        for line in importance_lines(analysis):
            console.print(line, markup=False)
    console.print()
    console.print("[bold]advice[/]")
    for line in analysis.advice.lines():
        console.print(line, markup=False)


def importance_lines(analysis: Analysis) -> list[str]:
    """Optuna's importance per metric, marked descriptive (what optuna-dashboard shows)."""
    if not analysis.importance:
        return []
    out = [f"importance, descriptive (no test, no direction): {analysis.importance_evaluator}"]
    for metric, shares in analysis.importance.items():
        cells = ", ".join(f"{name} {share:.2f}" for name, share in shares.items())
        out.append(f"  {metric}: {cells}")
    out += [f"  note: {note}" for note in analysis.importance_notes]
    return out


TRADE_LEGEND = (
    "(each cell: the finding's change over the observed range, others at their centre; "
    "* established (its fit established, Holm p < alpha over every contrast, possible, "
    "above resolution and seed noise); no *: not established; better/worse follow each "
    "metric's direction)"
)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def trade_cell(cell: dict[str, Any] | None) -> str:
    """One metric's cell of the trade-off table: change, * when stated, its direction word."""
    if not cell or cell.get("change") is None:
        return "·"
    mark = "*" if cell.get("significant") else ""
    return f"{fmt(cell['change'], 3)}{mark} {cell['direction']}"


def markdown(analysis: Analysis) -> str:
    out = [f"# Regression analysis: {analysis.source}", ""]
    for metric, result in analysis.results.items():
        out += [f"## {metric}", "", summary_line(analysis, metric), ""]
        out += [f"- **warning:** {w}" for w in result.warnings]
        out += [f"- note: {n}" for n in result.notes]
        if result.warnings or result.notes:
            out.append("")
        if result.fitted:
            out += ["| " + " | ".join(COEF_HEADER) + " |",
                    "| --- |" + " ---: |" * (len(COEF_HEADER) - 1)]  # fmt: skip
            for t in result.terms:
                cells = _coef_cells(t)
                out.append(f"| `{cells[0]}` | " + " | ".join(cells[1:]) + " |")
            out.append("")
    if analysis.advice.trade_offs:
        out += ["## Where the metrics agree", ""]
        out.append("| term | " + " | ".join(analysis.results) + " | verdict |")
        out.append("| --- |" + " --- |" * (len(analysis.results) + 1))
        for row in analysis.advice.trade_offs:
            cells = [trade_cell(row["cells"].get(m)) for m in analysis.results]
            out.append(f"| `{row['term']}` | " + " | ".join(cells) + f" | {row['verdict']} |")
        out += ["", TRADE_LEGEND, ""]
    if analysis.importance:
        out += ["## Importance (descriptive)", "", "```", *importance_lines(analysis), "```", ""]
    out += ["## Advice", "", "```", *analysis.advice.lines(), "```", ""]
    return "\n".join(out)


# What the command line types, as the analysis takes it.
def parse_params(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else ()


def parse_numbers(text: str | None, option: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise HptuiError(f"{option}: expected trial numbers like 3,7,12 (got {text!r})") from None
