"""The `hptui` command line: argument parsing and dispatch only.

Every subcommand is a thin call into `hptui.core`; rendering lives in `hptui.commands`.
Nothing heavy is imported here, so `hptui --help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hptui import __version__


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from hptui.core.errors import HptuiError

    try:
        if args.command == "train":
            from hptui.commands.train import run_train

            return run_train(args)
    except HptuiError as exc:
        print(f"hptui {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hptui {args.command}: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2
