"""`hptui trials NAME` and `hptui export NAME`: a study's trials as a table, CSV or JSON.

Both only read: a database the user may only read works, and nothing is created.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

from hptui.core.studies.export import (
    check_target,
    sort_rows,
    to_csv,
    to_json,
    write_file,
)
from hptui.core.studies.store import Store

if TYPE_CHECKING:
    from hptui.core.studies.replicates import GroupedTrials


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The study's trials, read with read access only: a read never writes (the flat
    `hptui_trials` table is kept by the writers, and lost workers are failed by workers)."""
    return Store(args.storage).flat_rows(args.name)


def run_trials(args: argparse.Namespace) -> int:
    column = f"-{args.sort}" if args.sort and args.desc else args.sort
    if getattr(args, "group", False):
        return _run_grouped(args, column)
    rows = sort_rows(_rows(args), column)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        sys.stdout.write(to_json(rows))
    else:
        _print_table(args.name, rows)
    return 0


def run_export(args: argparse.Namespace) -> int:
    target = args.csv if args.csv is not None else args.json
    check_target(target, overwrite=args.force)  # before the database is even opened
    rows = _rows(args)
    text = to_csv(rows) if args.csv is not None else to_json(rows)
    path = write_file(target, text, overwrite=args.force)
    print(f"wrote {len(rows)} trial(s) of {args.name!r} to {path}")
    return 0


def _run_grouped(args: argparse.Namespace, column: str | None) -> int:
    """`hptui trials NAME --group`: one row per configuration, best mean first, then the
    best by mean with its interval (CSV and JSON: every number at full precision)."""
    grouped = Store(args.storage).config_groups(args.name)
    rows = sort_rows(grouped.table(), column)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        sys.stdout.write(to_json(rows))
    else:
        _print_groups(grouped, column)
    return 0


def _print_groups(grouped: GroupedTrials, column: str | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hptui.core.studies.replicates import GROUP_METRICS

    console = Console()
    if not grouped.groups:
        console.print(Text(f"study {grouped.study!r} has no trials yet"))
        return
    order = [g.label for g in grouped.groups]
    if column:  # --sort COL: the table's order, by the grouped rows' columns
        order = [str(r["config"]) for r in sort_rows(grouped.table(), column)]
    by_label = {g.label: g for g in grouped.groups}
    title = (
        f"{grouped.study}: {len(grouped.groups)} configuration(s) of {grouped.trials} "
        f"trial(s), by mean {grouped.objective} ({grouped.direction})"
    )
    table = Table(title=Text(title), box=None, padding=(0, 1))
    table.add_column(Text("config"))
    table.add_column(Text("n"), justify="right")
    for name in grouped.params:
        table.add_column(Text(name), justify="right", no_wrap=True)
    for metric in GROUP_METRICS:
        table.add_column(Text(f"{metric} mean ± sd"), justify="right", no_wrap=True)
    table.add_column(Text("trials"), overflow="fold")
    for label in order:
        group = by_label[label]
        table.add_row(
            Text(label), Text(str(group.n)),
            *(Text(cell(group.params.get(name))) for name in grouped.params),
            *(Text(group.summary(metric).mean_sd()) for metric in GROUP_METRICS),
            Text(" ".join(str(n) for n in group.numbers)),
        )  # fmt: skip
    console.print(table)
    console.print(Text(grouped.best_sentence()))
    excluded = sum(g.excluded for g in grouped.groups)
    if excluded:
        console.print(Text(f"{excluded} COMPLETE trial(s) excluded from analysis left out of n"))


def _print_table(name: str, rows: list[dict[str, Any]]) -> None:
    """Every value as plain text (never rich markup); numbers to 4 significant digits,
    headers never cut (columns that do not fit are left out, and named)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not rows:
        console.print(Text(f"study {name!r} has no trials yet"))
        return
    columns = _columns_that_fit(rows, console.width)
    table = Table(title=Text(f"{cell(name)}: {len(rows)} trial(s)"), box=None, padding=(0, 1))
    for column in columns:
        numeric = any(isinstance(r.get(column), int | float) for r in rows)
        table.add_column(Text(column), justify="right" if numeric else "left",
                         no_wrap=column != "reason", min_width=len(column))  # fmt: skip
    for row in rows:
        table.add_row(*(Text(cell(row.get(c))) for c in columns))
    console.print(table)
    left_out = [c for c in rows[0] if c not in columns]
    if left_out:
        console.print(
            Text(f"not shown at this width: {', '.join(left_out)} (see --format csv or json)")
        )


def _columns_that_fit(rows: list[dict[str, Any]], width: int) -> list[str]:
    """Columns in order, dropping from the right (reason last of all) until they fit."""
    names = list(rows[0])
    sample = rows[:200]

    def needed(column: str) -> int:
        widest = max((len(cell(r.get(column))) for r in sample), default=1)
        return max(len(column), min(widest, 24 if column == "reason" else widest)) + 1

    chosen = names[:]
    while len(chosen) > 2 and sum(needed(c) for c in chosen) > width:
        droppable = [c for c in chosen if c not in ("number", "state")]
        victim = "reason" if "reason" in droppable else droppable[-1]
        chosen.remove(victim)
    return chosen


def cell(value: Any) -> str:
    """A value as the table shows it: 4 significant digits for numbers (1e-04, 0.8123,
    1234), '-' for missing, text as it is (control and bidi characters escaped)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e6:
            return f"{value:.3e}".replace("e-0", "e-").replace("e+0", "e+")
        return f"{value:.4g}"
    from hptui.core.errors import printable

    return printable(str(value))  # text another tool stored: control and bidi escaped
