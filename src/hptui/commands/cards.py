"""`hptui import-cards DIR --study NAME`: published fine-tunes as trials of a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from hptui.core.errors import HptuiError


def run_import_cards(args: argparse.Namespace) -> int:
    from hptui.core.cards.parse import parse_cards
    from hptui.core.studies.store import Store

    root = Path(args.directory)
    if not root.is_dir():
        raise HptuiError(f"{root}: no such folder; give a folder with one folder per model card")
    records = parse_cards(root)
    filters = {key: getattr(args, key, None) for key in ("task", "dataset", "base_model",
                                                         "architecture")}  # fmt: skip
    report = Store(args.storage).import_cards(
        records, args.study, objective=args.objective, filters=filters
    )
    for line in report.lines():
        print(line)
    print(f"next: hptui analyze {args.study} --metric {args.objective}")
    return 0
