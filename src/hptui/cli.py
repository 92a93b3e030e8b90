"""The `hptui` command line: argument parsing and dispatch only.

Every subcommand is a thin call into `hptui.core`; rendering lives in `hptui.commands`.
Nothing heavy is imported here, so `hptui --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from hptui import __version__

# Kept in sync with hptui.core.study (a test checks); importing it here would slow --help.
SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "gp")
PRUNERS = ("none", "median", "successive-halving", "hyperband")
OBJECTIVES = {"f1": "maximize", "accuracy": "maximize", "loss": "minimize"}
# Subcommand -> (module, function); imported only when that command runs.
COMMANDS = {
    "train": ("hptui.commands.train", "run_train"),
    "study": ("hptui.commands.study", "run_study"),
    "worker": ("hptui.commands.worker", "run_worker"),
    "trials": ("hptui.commands.trials", "run_trials"),
    "export": ("hptui.commands.trials", "run_export"),
    "analyze": ("hptui.commands.analyze", "run_analyze"),
    "import-cards": ("hptui.commands.cards", "run_import_cards"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hptui",
        description="A terminal tuning console for fine-tuning transformer classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"hptui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune one model once and report its validation metrics",
        description=(
            "Fine-tune one model with one configuration. Settings come from defaults, then "
            "--config, then --set (later wins); `hptui train --list-settings` lists them."
        ),
    )
    train.add_argument("--config", metavar="FILE.toml", help="TOML file of settings")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set learning_rate=3e-5 (repeatable)",
    )
    train.add_argument(
        "--data-dir", metavar="DIR", help="GLUE-format task folder (default $HPTUI_DATA_DIR)"
    )
    train.add_argument(
        "--json", action="store_true", help="JSON lines of step/eval events and a final result"
    )
    train.add_argument(
        "--list-settings", action="store_true", help="list every setting and its default"
    )
    _add_study_commands(commands)
    _add_analysis_commands(commands)
    return parser


def _storage_option(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("HPTUI_STORAGE", "sqlite:///runs.db")
    parser.add_argument(
        "--storage",
        default=default,
        metavar="URL",
        help=f"study storage: sqlite:///FILE or postgresql://... (default {default}; "
        "$HPTUI_STORAGE sets it)",
    )


def _add_study_commands(commands: Any) -> None:
    study = commands.add_parser("study", help="create, list and feed studies")
    study_commands = study.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    create = study_commands.add_parser("create", help="create a study from a TOML search space")
    create.add_argument("name")
    create.add_argument("--space", required=True, metavar="FILE.toml", help="search space")
    create.add_argument("--sampler", default="tpe", choices=SAMPLERS)
    create.add_argument("--pruner", default="none", choices=PRUNERS)
    create.add_argument("--objective", default="f1", choices=tuple(OBJECTIVES))
    create.add_argument(
        "--direction", choices=("maximize", "minimize"), help="default: from the objective"
    )
    create.add_argument("--seed", type=int, help="sampler seed, for reproducible studies")
    _storage_option(create)
    listing = study_commands.add_parser("list", help="the studies in a storage")
    _storage_option(listing)
    queue = study_commands.add_parser("enqueue", help="queue a manual trial: key=value ...")
    queue.add_argument("name")
    queue.add_argument("params", nargs="*", metavar="KEY=VALUE")
    _storage_option(queue)

    worker = commands.add_parser(
        "worker", help="train a study's trials until it has N in total",
        description="Train trials one after another until the study has N trials in total "
        "(across all workers and restarts). Every step and evaluation goes to the storage.",
    )  # fmt: skip
    worker.add_argument("name")
    worker.add_argument("--trials", type=int, required=True, metavar="N")
    worker.add_argument(
        "--detach", action="store_true",
        help="run in a new session (survives a closed terminal), log next to the database",
    )  # fmt: skip
    worker.add_argument("--data-dir", metavar="DIR", help="GLUE-format task folder on this host")
    worker.add_argument("--device", help="cpu, cuda, cuda:N (default: auto)")
    worker.add_argument(
        "--threads", type=int, metavar="N",
        help="torch threads (default: this host's cores / its live workers)",
    )  # fmt: skip
    worker.add_argument("--heartbeat", type=int, default=10, metavar="S", help=argparse.SUPPRESS)
    worker.add_argument("--grace", type=int, default=60, metavar="S", help=argparse.SUPPRESS)
    _storage_option(worker)

    trials = commands.add_parser("trials", help="a study's trials as a table, CSV or JSON")
    trials.add_argument("name")
    trials.add_argument("--sort", metavar="COL", help="sort by a column (missing values last)")
    trials.add_argument("--desc", action="store_true", help="sort descending")
    trials.add_argument("--format", default="table", choices=("table", "csv", "json"))
    _storage_option(trials)

    export = commands.add_parser("export", help="write a study's trials to a CSV or JSON file")
    export.add_argument("name")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--csv", metavar="FILE")
    target.add_argument("--json", metavar="FILE")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    _storage_option(export)


def _add_analysis_commands(commands: Any) -> None:
    analyze = commands.add_parser(
        "analyze", help="degree-2 polynomial regressions of metrics on hyperparameters",
        description="Fit degree-2 polynomial OLS of each metric on the hyperparameters "
        "(scaled by default; --raw for untransformed values), print coefficient tables, "
        "where the metrics agree or trade off, and advice.",
    )  # fmt: skip
    analyze.add_argument("name", nargs="?", help="a study (or use --from-csv)")
    analyze.add_argument("--from-csv", metavar="FILE", help="any CSV with one row per trial")
    analyze.add_argument(
        "--metric", action="append", metavar="NAME", help="repeatable (default f1, accuracy, loss)"
    )
    analyze.add_argument("--params", metavar="A,B,C", help="default: every varied parameter")
    analyze.add_argument("--relative-to", type=int, metavar="TRIAL", help="baseline trial number")
    analyze.add_argument("--raw", action="store_true", help="untransformed features (the paper's)")
    analyze.add_argument("--robust", action="store_true", help="HC3 robust standard errors")
    analyze.add_argument("--alpha", type=float, default=0.05, help="significance level")
    analyze.add_argument("--exclude", metavar="N,M", help="trial numbers to leave out")
    analyze.add_argument("--format", default="table", choices=("table", "json", "markdown"))
    analyze.add_argument("--plot", choices=("scatter", "heatmap", "parallel"))
    analyze.add_argument(
        "--suggest-space", metavar="FILE.toml",
        help="write the narrower space around the first metric's fitted optimum",
    )  # fmt: skip
    analyze.add_argument(
        "--enqueue-optimum", action="store_true",
        help="queue the first metric's fitted optimum as a trial of the study",
    )  # fmt: skip
    analyze.add_argument("--force", action="store_true", help="replace an existing file")
    _storage_option(analyze)

    cards = commands.add_parser(
        "import-cards", help="record Hugging Face model cards as trials of a new study",
        description="Read README.md (and config.json) of each model folder under DIRECTORY: "
        "the Trainer's hyperparameter and results lists, the YAML model-index and common "
        "hand-written forms. Prints what was read and skipped per card.",
    )  # fmt: skip
    cards.add_argument("directory")
    cards.add_argument("--study", required=True, metavar="NAME", help="a new study's name")
    cards.add_argument("--objective", default="accuracy", choices=tuple(OBJECTIVES))
    _storage_option(cards)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from hptui.core.errors import HptuiError

    module_name, function_name = COMMANDS[args.command]
    try:
        run = getattr(importlib.import_module(module_name), function_name)
        return int(run(args))
    except HptuiError as exc:
        print(f"hptui {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hptui {args.command}: interrupted", file=sys.stderr)
        return 130
