"""The `hptui` command line: argument parsing and dispatch only.

Every subcommand is a thin call into `hptui.core`; rendering lives in `hptui.commands`.
Nothing heavy is imported here, so `hptui --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from hptui import __version__

# Kept in sync with hptui.core.studies.settings (a test checks): importing it would slow --help.
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
    "final": ("hptui.commands.final", "run_final"),
    "note": ("hptui.commands.note", "run_note"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: what was wrong and where the help is, exit status 2."""

    def error(self, message: str) -> NoReturn:
        from hptui.core.studies.storage import redact

        self.exit(2, f"{self.prog}: error: {redact(message)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hptui",
        description="A terminal tuning console for fine-tuning transformer classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"hptui {__version__}")
    _add_console_options(parser)
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks (or set HPTUI_DEBUG=1)"
    )
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
    _add_final_command(commands)
    _add_debug_flag(commands)
    return parser


def _add_console_options(parser: argparse.ArgumentParser) -> None:
    """`hptui` with no sub-command opens the console on the same storage as every command."""
    console = parser.add_argument_group("console (hptui with no sub-command)")
    console.add_argument(
        "--storage", dest="console_storage", metavar="URL",
        help="study storage (default $HPTUI_STORAGE, else sqlite:///runs.db)",
    )  # fmt: skip
    console.add_argument(
        "--db", metavar="FILE", help="a SQLite file: short for --storage sqlite:///FILE"
    )
    console.add_argument("--study", metavar="NAME", help="open this study's tabs at once")
    console.add_argument(
        "--data-dir", dest="console_data_dir", metavar="DIR",
        help="GLUE-format task folder for workers started from the console",
    )  # fmt: skip


def _run_console(args: argparse.Namespace) -> int:
    from hptui.core.errors import HptuiError
    from hptui.core.studies.storage import redact
    from hptui.tui.app import make_app, store_for

    try:
        store = store_for(args.db, args.console_storage or os.environ.get("HPTUI_STORAGE"))
    except HptuiError as exc:
        print(f"hptui: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    app = make_app(store, study=args.study, data_dir=args.console_data_dir)
    app.run()
    return app.return_code or 0  # a crash inside the console is not a success


def _add_debug_flag(commands: Any) -> None:
    """`--debug` after the sub-command works too (SUPPRESS keeps the top-level value)."""
    for sub in commands.choices.values():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _add_debug_flag(nested[0])
        else:
            sub.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )


def _storage_option(parser: argparse.ArgumentParser) -> None:
    from hptui.core.studies.storage import redact

    default = os.environ.get("HPTUI_STORAGE", "sqlite:///runs.db")
    parser.add_argument(
        "--storage",
        default=default,
        metavar="URL",
        help=f"study storage: sqlite:///FILE or postgresql://... (default {redact(default)}; "
        "$HPTUI_STORAGE sets it; keep passwords in ~/.pgpass)",
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
    create.add_argument(
        "--seeds-per-config", type=int, default=1, metavar="K",
        help="train each configuration with K seeds (K - 1 replicates queued as it starts; "
        "each counts in the trial total)",
    )  # fmt: skip
    _storage_option(create)
    listing = study_commands.add_parser("list", help="the studies in a storage")
    _storage_option(listing)
    queue = study_commands.add_parser("enqueue", help="queue a manual trial: key=value ...")
    queue.add_argument("name")
    queue.add_argument("params", nargs="*", metavar="KEY=VALUE")
    _storage_option(queue)
    delete = study_commands.add_parser(
        "delete", help="delete a study and its trials, curves and events (asks first)"
    )
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _storage_option(delete)
    rename = study_commands.add_parser("rename", help="give a study a new name")
    rename.add_argument("name")
    rename.add_argument("new_name", metavar="NEW_NAME")
    _storage_option(rename)
    _add_replicate_command(study_commands)

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
    worker.add_argument(
        "--per-gpu", type=int, metavar="N",
        help="start N detached workers on every visible GPU (each its own "
        "CUDA_VISIBLE_DEVICES), if N x the study's measured trial memory fits",
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
    trials.add_argument(
        "--group", action="store_true",
        help="one row per configuration (seed replicates together): n, mean ± sd, sorted "
        "by the objective's mean, and the best by mean with its 95%% interval",
    )  # fmt: skip
    _storage_option(trials)

    export = commands.add_parser("export", help="write a study's trials to a CSV or JSON file")
    export.add_argument("name")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--csv", metavar="FILE")
    target.add_argument("--json", metavar="FILE")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    _storage_option(export)
    note = commands.add_parser(
        "note", help="a one-line note on a trial, kept in the study (empty text clears it)"
    )
    note.add_argument("name")
    note.add_argument("--trial", type=int, required=True, metavar="N", help="the trial number")
    note.add_argument("text", help="the note (at most 120 characters, one line)")
    _storage_option(note)


def _add_replicate_command(study_commands: Any) -> None:
    """`hptui study replicate NAME (--trials 3,7 | --top N) --seeds K`."""
    replicate = study_commands.add_parser(
        "replicate", help="queue seed replicates of chosen trials: same parameters, new seeds",
        description="Queue K trials per chosen trial with its parameters and training seeds "
        "not yet used by its configuration; workers run them like any queued trial.",
    )  # fmt: skip
    replicate.add_argument("name")
    chosen = replicate.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--trials", dest="trial_numbers", metavar="N,M", help="trial numbers, e.g. 3,7"
    )
    chosen.add_argument(
        "--top", type=int, metavar="N", help="the N best COMPLETE trials, one per configuration"
    )
    replicate.add_argument(
        "--seeds", type=int, default=3, metavar="K", help="seeds per trial, 1-100 (default 3)"
    )
    _storage_option(replicate)


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
    analyze.add_argument(
        "--relative-to", metavar="TRIAL|baseline",
        help="fit differences from a trial (a number, or the study's marked baseline)",
    )  # fmt: skip
    analyze.add_argument("--raw", action="store_true", help="untransformed features (the paper's)")
    analyze.add_argument("--robust", action="store_true", help="HC3 robust standard errors")
    analyze.add_argument("--alpha", type=float, default=0.05, help="significance level")
    analyze.add_argument("--exclude", metavar="N,M", help="trial numbers to leave out")
    analyze.add_argument(
        "--include-excluded", action="store_true", help="fit the trials the study marks excluded"
    )
    analyze.add_argument(
        "--log", action="append", default=[], metavar="NAME",
        help="fit this parameter on a log scale (repeatable; a study's space decides otherwise)",
    )  # fmt: skip
    analyze.add_argument(
        "--n-eval", type=int, metavar="N",
        help="validation examples per trial: accuracy changes below 1/N are not findings",
    )  # fmt: skip
    analyze.add_argument(
        "--minimize", action="append", default=[], metavar="NAME",
        help="this metric is lower-better (repeatable; default: the study's direction for its "
        "objective, else loss, error, mse, cross_entropy, perplexity are lower-better)",
    )  # fmt: skip
    analyze.add_argument(
        "--maximize", action="append", default=[], metavar="NAME",
        help="this metric is higher-better, whatever its name (repeatable)",
    )  # fmt: skip
    analyze.add_argument(
        "--importance", default="ped-anova", choices=("ped-anova", "fanova", "none"),
        help="Optuna's parameter importance beside the fit, descriptive (default ped-anova, "
        "what optuna-dashboard shows; fanova needs scikit-learn)",
    )  # fmt: skip
    analyze.add_argument("--format", default="table", choices=("table", "json", "markdown"))
    analyze.add_argument("--plot", choices=("scatter", "heatmap", "parallel", "residuals"))
    analyze.add_argument(
        "--suggest-space", metavar="FILE.toml",
        help="write the narrower space around the fitted optimum of the study's objective "
        "(else the first metric); refused unless that fit is established (or --force)",
    )  # fmt: skip
    analyze.add_argument(
        "--enqueue-optimum", action="store_true",
        help="queue the fitted optimum of the study's objective (else the first metric) as "
        "a trial; refused unless that fit is established (or --force)",
    )  # fmt: skip
    analyze.add_argument(
        "--force", action="store_true",
        help="replace an existing file; act on an optimum whose fit is not established",
    )  # fmt: skip
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
    for option, what in (("--task", "text-classification"), ("--dataset", "glue"),
                         ("--base-model", "distilbert-base-uncased"),
                         ("--architecture", "DistilBertForSequenceClassification")):  # fmt: skip
        cards.add_argument(
            option, metavar="TEXT",
            help=f"import only cards whose {option[2:].replace('-', ' ')} contains TEXT "
            f"(case-insensitive), e.g. {what}",
        )  # fmt: skip
    _storage_option(cards)


def _add_final_command(commands: Any) -> None:
    final = commands.add_parser(
        "final", help="the held-out test, once: retrain a trial K times, score on test.tsv",
        description="Retrain a COMPLETE trial's configuration with K seeds (its own first) "
        "and score each retrain on the task's labelled test split, beside the trial's "
        "validation figure. Results are stored apart from the trials: no sampler, best value "
        "or analysis sees them. The test split is for one final look: a study whose test was "
        "used for another trial is refused unless --again.",
    )  # fmt: skip
    final.add_argument("name")
    final.add_argument("--trial", type=int, metavar="N", help="the trial to test")
    final.add_argument(
        "--seeds", type=int, default=3, metavar="K",
        help="seeds the trial is tested with in total (default 3); more adds seeds",
    )  # fmt: skip
    final.add_argument(
        "--again", action="store_true",
        help="test although another trial of the study was tested (a selection again)",
    )  # fmt: skip
    final.add_argument("--show", action="store_true", help="print stored results; train nothing")
    final.add_argument(
        "--detach", action="store_true",
        help="run in a new session (survives a closed terminal), log next to the database",
    )  # fmt: skip
    final.add_argument("--data-dir", metavar="DIR", help="GLUE-format task folder on this host")
    final.add_argument("--device", help="cpu, cuda, cuda:N (default: the trial's)")
    final.add_argument(
        "--test-limit", type=int, metavar="N", help="score the first N test pairs only (demos)"
    )
    _storage_option(final)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _run_console(args)
    return run_command(args)


# Sub-commands that need an existing database: a mistyped --storage must not create one.
NEEDS_DATABASE = {"worker", "enqueue", "delete", "rename", "final", "replicate", "note"}


def run_command(args: argparse.Namespace) -> int:
    """Run one sub-command under hptui's error policy: bad input (an HptuiError, a
    database that is not one, a file that cannot be read) is one line and exit status 2;
    anything else is one line saying it is a bug and exit status 1. `--debug` or
    HPTUI_DEBUG=1 adds the traceback. Passwords in URLs are never printed."""
    from hptui.core.studies.storage import redact

    label = " ".join(["hptui", args.command, getattr(args, "study_command", None) or ""]).strip()
    try:
        validate_args(args)
        if args.command in ("train", "worker") and "transformers" not in sys.modules:
            from hptui.core.training.hub import go_offline_if_unreachable

            go_offline_if_unreachable()  # a missing model fails at once, not after retries
        module_name, function_name = COMMANDS[args.command]
        run = getattr(importlib.import_module(module_name), function_name)
        return int(run(args))
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hptui trials s | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except Exception as exc:
        if getattr(args, "debug", False) or os.environ.get("HPTUI_DEBUG") == "1":
            traceback.print_exc()
        status, message = describe_failure(exc, getattr(args, "storage", None))
        if args.command == "worker":  # a full disk or read-only storage: the machine's fault
            from hptui.core.workers.faults import unwritable

            fault = unwritable(exc, getattr(args, "storage", None))
            if fault is not None:
                status, message = 1, str(fault)
        print(f"{label}: error: {_printable(redact(message))}", file=sys.stderr)
        return status


def _printable(message: str, limit: int = 2000) -> str:
    """A message as a terminal should get it: control characters escaped (a NUL or an
    escape sequence in a user's input cannot reach the terminal), lines kept short."""
    lines = []
    for line in message.splitlines() or [""]:
        safe = "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in line)
        lines.append(safe if len(safe) <= limit else safe[: limit - 1] + "…")
    return "\n".join(lines)


def validate_args(args: argparse.Namespace) -> None:
    """Checks every sub-command shares, before anything is opened or written."""
    from hptui.core.errors import ConfigError
    from hptui.core.studies.storage import check_existing_file, check_url, require_database
    from hptui.core.training.config import check_device, check_sampler_seed, check_study_name

    # Names that will be created (or name a log file) must not be paths; names looked up
    # are taken as they are (plain Optuna may have made any), an unknown one is "no study".
    creating = args.command == "import-cards" or getattr(args, "study_command", None) == "create"
    new_names = [getattr(args, "new_name", None), getattr(args, "study", None)]
    if (creating or getattr(args, "detach", False)) and hasattr(args, "name"):
        new_names.append(args.name)
    for value in new_names:
        if value is not None:
            check_study_name(value)
    if getattr(args, "storage", None) is not None:
        check_url(args.storage)
        check_existing_file(args.storage)
        action = getattr(args, "study_command", None) or args.command
        if action in NEEDS_DATABASE or getattr(args, "enqueue_optimum", False):
            require_database(args.storage)
    if getattr(args, "seed", None) is not None:
        check_sampler_seed(args.seed)
    if getattr(args, "device", None) is not None:
        check_device(args.device)
    for option, attr, low, high in WHOLE_NUMBER_BOUNDS:
        value = getattr(args, attr, None)
        if value is not None and not low <= value <= high:
            raise ConfigError(
                option, f"must be a whole number from {low} to {high:,} (got {value})"
            )


# Every whole-number option a worker reads, bounded: an absurd total would spin a worker
# that claims slots for ever; threads or workers beyond these are a typo, not a plan.
WHOLE_NUMBER_BOUNDS = (
    ("--trials", "trials", 1, 1_000_000),
    ("--threads", "threads", 1, 1024),
    ("--per-gpu", "per_gpu", 1, 64),
    ("--heartbeat", "heartbeat", 1, 3600),
    ("--grace", "grace", 1, 86_400),
)


def describe_failure(exc: BaseException, storage_url: str | None) -> tuple[int, str]:
    """(exit status, one line) for an exception that reached the command line."""
    from hptui.core.errors import HptuiError, first_line

    if isinstance(exc, HptuiError):
        return 2, str(exc)
    # Optuna wraps a failed database call in StorageInternalError: a database condition
    # (a restart, a lock, a lost connection) is said in one line, never called a bug.
    database = next((e for e in (exc, exc.__cause__) if _is_database_error(e)), None)
    if storage_url and database is not None:
        from hptui.core.studies.storage import _storage_error

        return 2, str(_storage_error(storage_url, database))
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return 2, f"{where}{exc.strerror}"
    first = first_line(exc, 300) if str(exc).strip() else ""
    return 1, (
        f"internal error ({type(exc).__name__}: {first}); this is a bug in hptui: "
        "run with --debug for the traceback and report it"
    )


def _is_database_error(exc: BaseException | None) -> bool:
    import sqlite3

    if exc is None:
        return False
    if isinstance(exc, sqlite3.Error):
        return True
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DBAPIError)
