"""`hptui trials NAME` and `hptui export NAME`: a study's trials as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from hptui.core.export import flat_rows, sort_rows, to_csv, to_json, write_file
from hptui.core.read import StudyReader


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The study's trials, read with read access only: a read never writes (the flat
    `hptui_trials` table is kept by the writers, and lost workers are failed by workers)."""
    return flat_rows(StudyReader(args.storage), args.name)


def run_trials(args: argparse.Namespace) -> int:
    column = f"-{args.sort}" if args.sort and args.desc else args.sort
    rows = sort_rows(_rows(args), column)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        sys.stdout.write(to_json(rows))
    else:
        _print_table(args.name, rows)
    return 0


def run_export(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.csv:
        path = write_file(args.csv, to_csv(rows), overwrite=args.force)
    else:
        path = write_file(args.json, to_json(rows), overwrite=args.force)
    print(f"wrote {len(rows)} trial(s) of {args.name!r} to {path}")
    return 0


def _print_table(name: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print(f"study {name!r} has no trials yet")
        return
    table = Table(*rows[0], title=f"{name}: {len(rows)} trial(s)", box=None)
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)
