"""`hptui worker NAME`: train a study's trials here, in the foreground or detached."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hptui.core.storage import log_dir_for


def run_worker(args: argparse.Namespace) -> int:
    if args.detach:
        return _detach(args)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s",
        stream=sys.stdout,
        force=True,
    )
    from hptui.core.quiet import quiet_hf_libraries
    from hptui.core.worker import StopSignal, Worker, WorkerOptions

    quiet_hf_libraries()
    stop = StopSignal()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop.set(signal.Signals(number).name))
    options = WorkerOptions(
        study=args.name,
        storage_url=args.storage,
        trials=args.trials,
        data_dir=args.data_dir,
        device=args.device,
        heartbeat_interval=args.heartbeat,
        grace_period=args.grace,
    )
    worker = Worker(options, stop)
    trained = worker.run()
    logging.getLogger("hptui.worker").info(
        "exiting after %d trial(s)%s", trained, f" ({stop.reason})" if stop.is_set() else ""
    )
    return 0


def _detach(args: argparse.Namespace) -> int:
    """Start the same command without --detach in a new session, logging to a file, so a
    closed terminal or a dropped SSH connection does not stop it; return at once."""
    log_dir = log_dir_for(args.storage)
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = log_dir / f"{args.name}-{stamp}-{os.getpid()}.log"
    # The storage URL goes through the environment, not argv: `ps` shows argv to every user.
    command = [sys.executable, "-m", "hptui", "worker", args.name, "--trials", str(args.trials),
               "--heartbeat", str(args.heartbeat), "--grace", str(args.grace)]  # fmt: skip
    for flag, value in (("--data-dir", args.data_dir), ("--device", args.device)):
        if value:
            command += [flag, str(value)]
    with open(log_path, "ab") as log_file, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            command,
            stdin=devnull,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=Path.cwd(),
            env={**os.environ, "HPTUI_STORAGE": args.storage},
        )
    print(f"worker started: pid {process.pid}, log {log_path}")
    return 0
