"""`hptui study create|list|enqueue|delete|rename`: thin calls into hptui.core.

Every value a user or a database supplied is shown as plain text (rich `Text`), never as
markup, so a study named `[/]` or a reason holding `[link=...]` prints as written.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError, HptuiError, printable
from hptui.core.studies.settings import OBJECTIVES, StudySettings
from hptui.core.studies.space import load_space
from hptui.core.studies.storage import redact
from hptui.core.studies.store import Store

if TYPE_CHECKING:
    from hptui.core.studies.reader import StudyInfo


def run_study(args: argparse.Namespace) -> int:
    actions = {
        "create": _create, "list": _list, "enqueue": _enqueue,
        "delete": _delete, "rename": _rename, "replicate": _replicate,
    }  # fmt: skip
    if args.study_command not in actions:
        raise ConfigError("study", f"expected one of {', '.join(actions)}")
    return actions[args.study_command](args)


def _create(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    settings = StudySettings(
        space=space,
        objective=args.objective,
        direction=args.direction or OBJECTIVES[args.objective],
        sampler=args.sampler,
        pruner=args.pruner,
        seed=args.seed,
        seeds_per_config=getattr(args, "seeds_per_config", 1),
    )
    queued: list[int] = []
    created = Store(args.storage).create_study(args.name, settings, on_queued=queued.append)
    verb = "created" if created else "exists (same settings)"
    grid = ""
    if queued:
        missing = "" if created else " missing"
        grid = f"; {queued[0]}{missing} grid point(s) queued"
    print(
        f"study {args.name!r} {verb} in {redact(args.storage)}: {len(space.params)} "
        f"parameter(s), {settings.sampler} sampler, {settings.pruner} pruner, "
        f"{settings.direction} {settings.objective}" + grid
        + (f"; {settings.seeds_per_config} seeds per configuration"
           if settings.seeds_per_config > 1 else "")
    )  # fmt: skip
    print(f"next: hptui worker {_quoted(args.name)} --trials N --detach" + _storage_flag(args))
    return 0


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False)
    table.add_column("study", overflow="fold", min_width=12)  # names wrap, never cut
    for header in ("objective", "sampler"):
        table.add_column(header, no_wrap=True, min_width=len(header))
    for header in ("done", "pruned", "failed", "running", "queued", "best", "trial"):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    multi = []
    for info in Store(args.storage).studies():
        s = info.settings
        counts = info.counts
        if info.direction == "multi":
            multi.append(info.name)
        table.add_row(
            Text(printable(info.name)),
            Text(_objective(info)),
            Text(s.sampler if s else "-"),
            *(str(counts.get(k, 0)) for k in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")),
            f"{info.best_value:.4f}" if info.best_value is not None else "-",
            str(info.best_number) if info.best_number is not None else "-",
        )
    console = Console()
    console.print(table)
    for name in multi:  # no single best: say so, and where the values are
        console.print(
            Text(
                f"{printable(name)}: several objectives, so no single best trial; see the value_0, "
                f"value_1... columns of `hptui trials {_quoted(name)}`"
            )
        )
    return 0


def _objective(info: StudyInfo) -> str:
    """hptui's objective metric, else the study's own direction(s) from Optuna."""
    if info.settings is not None:
        return f"{info.settings.direction} {info.settings.objective}"
    if len(info.directions) > 1:
        return "multi: " + ", ".join(info.directions)
    return f"{info.direction} value" if info.directions else "-"


def _enqueue(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    for pair in args.params:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ConfigError(pair, "expected key=value, e.g. learning_rate=3e-5")
        params[key.strip()] = _parse_value(raw.strip())
    Store(args.storage).enqueue(args.name, params)
    print(f"queued a trial in {args.name!r}: {params}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    store = Store(args.storage)
    size = store.study_size(args.name)
    what = f"study {args.name!r} and its {size.trials} trial(s)"
    if size.running:
        what += f" ({size.running} running: their workers will fail)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise HptuiError(f"would delete {what}; pass --yes to confirm (nothing deleted)")
        answer = input(f"delete {what}, with their curves? type the study name to confirm: ")
        if answer != args.name:
            print("not deleted")
            return 1
    deleted = store.delete_study(args.name)
    print(f"deleted study {args.name!r} and its {deleted} trial(s)")
    return 0


def _rename(args: argparse.Namespace) -> int:
    Store(args.storage).rename_study(args.name, args.new_name)
    print(f"renamed study {args.name!r} to {args.new_name!r}")
    return 0


def _replicate(args: argparse.Namespace) -> int:
    """Queue seed replicates and print each trial with the seeds queued for it."""
    from hptui.core.studies.replicates import check_seed_count, parse_trial_numbers

    seeds = check_seed_count(args.seeds)
    store = Store(args.storage)
    if args.top is not None:
        numbers = store.best_trials(args.name, args.top)
    else:
        numbers = parse_trial_numbers(args.trial_numbers)
    plans = store.replicate(args.name, numbers, seeds)
    total = sum(len(plan.seeds) for plan in plans)
    print(f"queued {total} seed replicate(s) in {args.name!r}:")
    for plan in plans:
        print(f"  trial {plan.number}: seeds {', '.join(str(s) for s in plan.seeds)}")
    count = store.study(args.name).total
    print(
        f"next: hptui worker {_quoted(args.name)} --trials N --detach" + _storage_flag(args)
        + f" (N counts every trial of the study: {count} with these)"
    )  # fmt: skip
    return 0


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _quoted(name: str) -> str:
    import shlex

    return shlex.quote(name)


def _storage_flag(args: argparse.Namespace) -> str:
    from hptui.core.studies.storage import DEFAULT_STORAGE

    if args.storage == DEFAULT_STORAGE:
        return ""
    return f" --storage {_quoted(redact(args.storage))}"
