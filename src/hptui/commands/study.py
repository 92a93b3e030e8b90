"""`hptui study create|list|enqueue`: thin calls into hptui.core.study."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hptui.core.errors import ConfigError
from hptui.core.space import load_space
from hptui.core.study import OBJECTIVES, StudySettings, create_study, enqueue


def run_study(args: argparse.Namespace) -> int:
    if args.study_command == "create":
        return _create(args)
    if args.study_command == "list":
        return _list(args)
    if args.study_command == "enqueue":
        return _enqueue(args)
    raise ConfigError("study", "expected create, list or enqueue")


def _create(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    settings = StudySettings(
        space=space,
        objective=args.objective,
        direction=args.direction or OBJECTIVES[args.objective],
        sampler=args.sampler,
        pruner=args.pruner,
        seed=args.seed,
    )
    queued: list[int] = []
    _study, created = create_study(args.name, settings, args.storage, on_queued=queued.append)
    verb = "created" if created else "exists (same settings)"
    grid = ""
    if queued:
        missing = "" if created else " missing"
        grid = f"; {queued[0]}{missing} grid point(s) queued"
    print(
        f"study {args.name!r} {verb} in {args.storage}: {len(space.params)} parameter(s), "
        f"{settings.sampler} sampler, {settings.pruner} pruner, "
        f"{settings.direction} {settings.objective}" + grid
    )
    print(f"next: hptui worker {args.name} --trials N --detach" + _storage_flag(args))
    return 0


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from hptui.core.read import StudyReader

    table = Table("study", "objective", "sampler", "complete", "pruned", "failed", "running",
                  "waiting", "best", "best trial", box=None)  # fmt: skip
    for info in StudyReader(args.storage).studies():
        s = info.settings
        counts = info.counts
        table.add_row(
            info.name,
            f"{s.direction} {s.objective}" if s else "-",
            s.sampler if s else "-",
            *(str(counts.get(k, 0)) for k in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")),
            f"{info.best_value:.4f}" if info.best_value is not None else "-",
            str(info.best_number) if info.best_number is not None else "-",
        )
    Console().print(table)
    return 0


def _enqueue(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for pair in args.params:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ConfigError(pair, "expected key=value, e.g. learning_rate=3e-5")
        params[key.strip()] = _parse_value(raw.strip())
    enqueue(args.name, args.storage, params)
    print(f"queued a trial in {args.name!r}: {params}")
    return 0


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _storage_flag(args: argparse.Namespace) -> str:
    from hptui.core.storage import DEFAULT_STORAGE

    return "" if args.storage == DEFAULT_STORAGE else f" --storage {args.storage}"
