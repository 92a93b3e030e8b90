"""Trials per hour with N detached `hptui worker` processes sharing one GPU (N = 1, 2, 4).

For each N: a fresh study (SQLite file in a temp folder) with a fixed number of short
trials on a small model, N workers started with `hptui worker --detach` at once, timed
from the first start until the study has all its trials finished. Each trial's peak GPU
memory comes from the `hptui.peak_memory_bytes` attribute the worker records
(torch.cuda.max_memory_allocated of that worker's process; the peak RSS on a CPU).

    python bench/workers_per_gpu.py --out workers.json                       # on the GPU
    python bench/workers_per_gpu.py --model tiny-distilbert --trials 2 --workers 1 2 \\
        --train-limit 32 --eval-limit 32 --device cpu                          # CPU smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir", default=os.environ.get("HPTUI_DATA_DIR", "../shared/data/mrpc")
    )
    parser.add_argument("--model", default="offline-minilm")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=8, help="trials per study (each N)")
    parser.add_argument("--train-limit", type=int, default=1024)
    parser.add_argument("--eval-limit", type=int, default=408)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per N")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


SPACE = """[fixed]
model = "{model}"
num_epochs = {epochs}
train_limit = {train_limit}
eval_limit = {eval_limit}
max_seq_length = {max_seq_length}
train_batch_size = 32
warmup_ratio = 0.1
seed = 42

[params.learning_rate]
type = "float"
low = 5e-5
high = 2e-4
log = true
"""


def hptui(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hptui", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"hptui {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


def finished_trials(url: str, study: str) -> list[Any]:
    import optuna

    storage = optuna.storages.RDBStorage(url)
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
    return [t for t in trials if t.state.is_finished()]


def measure(workers: int, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hptui-workers-") as folder:
        url = f"sqlite:///{Path(folder) / 'runs.db'}"
        space = Path(folder) / "space.toml"
        space.write_text(SPACE.format(**vars(args)))
        study = f"n{workers}"
        hptui(
            ["study", "create", study, "--space", str(space), "--seed", "0", "--storage", url], env
        )
        options = ["--trials", str(args.trials), "--storage", url, "--data-dir", args.data_dir]
        options += ["--device", args.device] if args.device != "auto" else []
        started = time.perf_counter()
        pids = []
        for _ in range(workers):
            said = hptui(["worker", study, *options, "--detach"], env)  # "worker started: pid N"
            pids += [int(w.rstrip(",")) for w in said.split("pid ")[1:2] for w in w.split()[:1]]
        done: list[Any] = []
        while time.perf_counter() - started < args.timeout:
            done = finished_trials(url, study)
            if len(done) >= args.trials:
                break
            time.sleep(1.0)
        seconds = time.perf_counter() - started
        if len(done) < args.trials:  # out of time: stop the detached workers we started
            stop_workers(pids)
        memory = [t.user_attrs.get("hptui.peak_memory_bytes") for t in done]
        memory = [m for m in memory if m]
        complete = [t for t in done if t.state.name == "COMPLETE"]
        trial_seconds = [
            t.user_attrs["hptui.seconds"] for t in complete if "hptui.seconds" in t.user_attrs
        ]
        return {
            "workers": workers,
            "trials_finished": len(done),
            "trials_complete": len(complete),
            "seconds": round(seconds, 2),
            "trials_per_hour": round(len(done) / seconds * 3600, 1),
            "median_trial_seconds": statistics.median(trial_seconds) if trial_seconds else None,
            "peak_memory_bytes_per_worker": max(memory) if memory else None,
            "device": next((t.user_attrs.get("hptui.device") for t in complete), None),
            "finished": len(done) >= args.trials,
        }


def stop_workers(pids: list[int]) -> None:
    """SIGTERM the detached workers this measurement started (by their pids)."""
    import signal

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    time.sleep(5)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    args.data_dir = str(Path(args.data_dir).resolve())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    print(
        f"{args.model}, {args.trials} trials of {args.train_limit} MRPC train pairs x "
        f"{args.epochs} epoch(s), eval on {args.eval_limit}, device {args.device}",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    print(f"{'workers':>7} {'trials/h':>9} {'s/trial':>8} {'peak GiB/worker':>16} {'wall s':>7}")
    for workers in args.workers:
        row = measure(workers, args, env)
        results.append(row)
        memory = row["peak_memory_bytes_per_worker"]
        print(
            f"{workers:>7} {row['trials_per_hour']:>9.1f} "
            f"{row['median_trial_seconds'] or float('nan'):>8.2f} "
            f"{(memory or 0) / 2**30:>16.3f} {row['seconds']:>7.1f}"
            + ("" if row["finished"] else "  (timed out)"),
            flush=True,
        )
        if args.out:
            Path(args.out).write_text(
                json.dumps({"settings": vars(args), "rows": results}, indent=2) + "\n"
            )
    return results


if __name__ == "__main__":
    main()
