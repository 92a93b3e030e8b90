"""`hptui worker NAME`: train a study's trials here, in the foreground or detached."""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def run_worker(args: argparse.Namespace) -> int:
    if getattr(args, "per_gpu", None) is not None:
        return _packed(args)
    if args.detach:
        return _detach(args)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s",
        stream=sys.stdout,
        force=True,
    )
    from hptui.core.training.quiet import quiet_hf_libraries
    from hptui.core.workers.faults import unwritable
    from hptui.core.workers.runner import StopSignal, StorageUnwritable, Worker, WorkerOptions

    quiet_hf_libraries()
    stop = StopSignal()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(
            signum,
            lambda number, _frame: stop.set(signal.Signals(number).name, signum=number),
        )
    options = WorkerOptions(
        study=args.name,
        storage_url=args.storage,
        trials=args.trials,
        data_dir=args.data_dir,
        device=args.device,
        heartbeat_interval=args.heartbeat,
        grace_period=args.grace,
        threads=args.threads,
    )
    log = logging.getLogger("hptui.worker")
    try:
        worker = Worker(options, stop)
        trained = worker.run()
    except StorageUnwritable as exc:
        log.error("stopping: %s", exc)
        print(f"hptui worker: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        fault = unwritable(exc, args.storage)
        if fault is None:
            raise
        log.error("stopping: %s", fault)
        print(f"hptui worker: error: {fault}", file=sys.stderr)
        return 1
    from hptui.core.studies.storage import checkpoint

    checkpoint(args.storage)  # the results into runs.db itself: a copy of it alone has them
    log.info("exiting after %d trial(s)%s", trained, f" ({stop.reason})" if stop.is_set() else "")
    # Killed by a signal: 128 + its number, as a shell reports it (SIGTERM 143, Ctrl-C 130),
    # so a script or a scheduler can tell a finished worker from a stopped one.
    return 128 + stop.signum if stop.signum is not None else 0


def _detach(args: argparse.Namespace) -> int:
    """Start the same worker in a new session, logging to a file, so a closed terminal or a
    dropped SSH connection does not stop it; return at once (the console shares this code)."""
    from hptui.core.studies.settings import load_settings
    from hptui.core.workers.registry import spawn_worker

    load_settings(args.name, args.storage)  # a missing study or a bad password: said here
    started = spawn_worker(
        args.storage, args.name, args.trials, device=args.device, data_dir=args.data_dir,
        threads=args.threads, heartbeat_interval=args.heartbeat, grace_period=args.grace,
    )  # fmt: skip
    print(f"worker started: pid {started.pid}, log {started.log_path}")
    return 0


def _packed(args: argparse.Namespace) -> int:
    """`--per-gpu N`: N detached workers on every visible GPU, each with its own
    CUDA_VISIBLE_DEVICES; refused (one line, exit 2, nothing started) where N cannot fit."""
    from hptui.core.workers.registry import start_packed

    packed = start_packed(
        args.storage, args.name, args.per_gpu, args.trials, device=args.device,
        data_dir=args.data_dir, threads=args.threads, heartbeat_interval=args.heartbeat,
        grace_period=args.grace,
    )  # fmt: skip
    print(packed.mps_line)
    for worker in packed.started:
        print(f"worker started on {worker.gpu}: pid {worker.pid}, log {worker.log_path}")
    return 0
