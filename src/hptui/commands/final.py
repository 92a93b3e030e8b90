"""`hptui final NAME --trial N --seeds K`: the held-out test, once.

Retrains the trial's configuration K times (its own seed first) and scores each retrain on
the task's labelled test split, printing each seed and then the test mean ± sd beside the
trial's validation figure. `--show` prints what is stored, training nothing; `--detach`
runs it in a session of its own with a log next to the database.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hptui.core.errors import ConfigError
from hptui.core.studies.store import Store


def run_final(args: argparse.Namespace) -> int:
    check_args(args)
    store = Store(args.storage)
    if args.show:
        return _show(store, args)
    options: dict[str, Any] = {
        "again": args.again, "data_dir": args.data_dir, "device": args.device,
        "test_limit": args.test_limit,
    }  # fmt: skip
    if args.detach:
        started = store.start_final_test(args.name, args.trial, args.seeds, **options)
        _say(f"final test started: pid {started.pid}, log {started.log_path}")
        return 0
    return _run(store, args, options)


def check_args(args: argparse.Namespace) -> None:
    """The flags `final` alone has, checked before the database is opened."""
    if args.show:
        for flag, given in (("--detach", args.detach), ("--again", args.again)):
            if given:
                raise ConfigError(flag, "--show only prints stored results; drop one of them")
        return
    if args.trial is None:
        raise ConfigError(
            "--trial", f"which trial to test, e.g. --trial 3 (`hptui trials {args.name}` lists "
            "them; --show prints stored results)",
        )  # fmt: skip
    if args.trial < 0:
        raise ConfigError("--trial", f"a trial number is 0 or more (got {args.trial})")
    if not 1 <= args.seeds <= 100:
        raise ConfigError("--seeds", f"must be from 1 to 100 retrains (got {args.seeds})")
    if args.test_limit is not None and args.test_limit < 1:
        raise ConfigError("--test-limit", f"must be at least 1 (got {args.test_limit})")


def _run(store: Store, args: argparse.Namespace, options: dict[str, Any]) -> int:
    from hptui.core.studies.final_tests import row_line, summary_lines
    from hptui.core.training.quiet import quiet_hf_libraries
    from hptui.core.workers.final import FinalProgress, plan_final, run_final

    plan = plan_final(store, args.name, args.trial, args.seeds, **options)
    if plan.done:
        done = ", ".join(str(s) for s in plan.done)
        _say(f"trial {args.trial}: seed(s) {done} tested already; kept")
    if plan.again:
        _say("--again: the test split was used for another trial of this study (noted)")
    if plan.seeds and "transformers" not in sys.modules:
        from hptui.core.training.hub import go_offline_if_unreachable

        go_offline_if_unreachable()  # checked after the plan: bad input is said at once
    quiet_hf_libraries()

    def progress(event: FinalProgress) -> None:
        head = f"[{event.index + 1}/{event.total}]"
        if event.row is None and event.stored:
            _say(f"{head} seed {event.seed}: retraining trial {args.trial}'s configuration")
        elif event.row is None:
            _say(f"{head} seed {event.seed}: stored meanwhile by another process; kept")
        else:
            _say(f"{head} {row_line(event.row)}")

    run = run_final(store, args.name, args.trial, args.seeds, on_progress=progress, **options)
    if run.summary is None:
        _say(f"trial {args.trial}: no test result stored")
        return 0
    _say("")
    for line in summary_lines(run.summary):
        _say(line)
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    from hptui.core.studies.final_tests import row_line, summarize_trial, summary_lines

    rows = store.final_tests(args.name)
    numbers = sorted({row.trial_number for row in rows})
    if args.trial is not None:
        numbers = [n for n in numbers if n == args.trial]
    if not numbers:
        which = f"trial {args.trial} of " if args.trial is not None else ""
        _say(
            f"{which}study {args.name} has no held-out test results; `hptui final "
            f"{args.name} --trial N --seeds K` runs one"
        )
        return 0
    for index, number in enumerate(numbers):
        trial = store.trial_by_number(args.name, number)
        summary = summarize_trial(args.name, number, rows, trial)
        if summary is None:
            continue
        if index:
            _say("")
        for row in summary.rows:
            _say(row_line(row))
        for line in summary_lines(summary):
            _say(line)
    return 0


def _say(text: str) -> None:
    """One line to stdout, flushed (a detached run's log shows it at once), with control
    characters a stored name could hold shown escaped."""
    safe = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    print(safe, flush=True)
