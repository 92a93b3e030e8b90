"""Rebuild `runs.db.example` with hptui itself: `study create`, real `hptui worker`
processes and `import-cards`, all through the CLI, into a temporary file renamed at the end.

Three studies:
* `grid`: the report's 3x2x3 grid (learning rate x batch size x weight decay) on
  `offline-minilm`. MiniLM-L6 learns MRPC at larger rates than distilbert-base, so the
  rates are 5e-5, 1e-4, 2e-4 (the report's 2e-5 leaves it predicting one class);
* `tpe`: the report's TPE protocol, 18 trials over learning rate (log 3e-5..3e-4), batch
  size (16, 32) and weight decay (0..0.1), 3 epochs, warmup 0.1, max_seq_length 128;
* `cards`: the model cards of --cards-dir, imported.

Profiles: `gpu` (default) trains on the full MRPC train split (3,668 pairs) for 3 epochs
and evaluates on the full validation split (408 pairs); `--cpu-subset` trains on the first
256 train pairs for 1 epoch, max_seq_length 64, and evaluates on the first 128 validation
pairs, so it finishes in a few minutes on 2 CPU cores (its figures are not the report's).

    python examples/build_example_db.py --out runs.db.example --device cuda --workers 2
    python examples/build_example_db.py --cpu-subset --out /tmp/example.db --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# MRPC validation: 279 of 408 pairs are paraphrases. Always answering "paraphrase" scores:
BASELINE_ACCURACY, BASELINE_F1 = 0.684, 0.812

GRID_PARAMS = """
[params.learning_rate]
type = "categorical"
choices = [5e-5, 1e-4, 2e-4]

[params.train_batch_size]
type = "categorical"
choices = [16, 32]

[params.weight_decay]
type = "categorical"
choices = [0.0, 0.01, 0.1]
"""

TPE_PARAMS = """
[params.learning_rate]
type = "float"
low = 3e-5
high = 3e-4
log = true

[params.train_batch_size]
type = "categorical"
choices = [16, 32]

[params.weight_decay]
type = "float"
low = 0.0
high = 0.1
"""

PROFILES: dict[str, dict[str, Any]] = {
    "gpu": {"num_epochs": 3, "max_seq_length": 128, "warmup_ratio": 0.1},
    "cpu-subset": {
        "num_epochs": 1,
        "max_seq_length": 64,
        "warmup_ratio": 0.1,
        "train_limit": 256,
        "eval_limit": 128,
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", default=str(REPO / "runs.db.example"))
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N (default auto)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per study")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mrpc"))
    parser.add_argument("--cards-dir", default=str(REPO.parent / "shared" / "data" / "model-cards"))
    parser.add_argument("--cpu-subset", action="store_true", help="the small CPU profile")
    parser.add_argument("--model", default="offline-minilm", help="tests: tiny-distilbert")
    parser.add_argument("--trials", type=int, default=18, help="trials per study")
    parser.add_argument("--train-limit", type=int, default=None, help="override the profile")
    parser.add_argument("--eval-limit", type=int, default=None, help="override the profile")
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the workers")
    parser.add_argument("--json", default=None, help="write a summary of the studies here")
    return parser.parse_args(argv)


def space_toml(model: str, settings: dict[str, Any], params: str) -> str:
    lines = ["[fixed]", f'model = "{model}"', "seed = 42"]
    lines += [f"{key} = {value!r}" for key, value in settings.items()]
    return "\n".join(lines) + "\n" + params


def hptui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One `python -m hptui` command; its output is echoed, a failure stops the build."""
    done = subprocess.run(
        [sys.executable, "-m", "hptui", *args], env=env, text=True, capture_output=True
    )
    print(done.stdout.rstrip() or f"hptui {args[0]}: done", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"hptui {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def run_workers(
    studies: list[str], args: argparse.Namespace, url: str, env: dict[str, str]
) -> tuple[float, bool]:
    """`args.workers` worker processes per study, all at once; waits (up to --timeout) and
    returns (seconds, finished). On timeout the workers get SIGTERM: their running trials
    end as FAIL with the step named, as a user's Ctrl-C would leave them."""
    command = [sys.executable, "-m", "hptui", "worker"]
    options = ["--trials", str(args.trials), "--storage", url, "--data-dir", args.data_dir]
    options += ["--device", args.device] if args.device != "auto" else []
    started = time.perf_counter()
    workers = [
        subprocess.Popen([*command, study, *options], env=env)
        for study in studies
        for _ in range(args.workers)
    ]
    finished = True
    for worker in workers:
        left = None if args.timeout is None else args.timeout - (time.perf_counter() - started)
        try:
            worker.wait(timeout=None if left is None else max(left, 0.1))
        except subprocess.TimeoutExpired:
            finished = False
            break
    if not finished:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return time.perf_counter() - started, finished


def summarise(url: str, studies: list[str]) -> dict[str, Any]:
    """Per study: trials by state, best F1/accuracy, and whether trials learned (beat
    the majority baseline on both) and differ from each other."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    try:
        return {name: _study_summary(optuna.load_study(study_name=name, storage=storage))
                for name in studies}  # fmt: skip
    finally:
        storage.engine.dispose()  # no connection left open on the file about to be moved


def _study_summary(study: Any) -> dict[str, Any]:
    """Trials by state, best F1/accuracy, how many learned, how many distinct values."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    rows = [
        {
            "number": t.number,
            **t.params,
            "f1": t.user_attrs.get("f1"),
            "accuracy": t.user_attrs.get("accuracy"),
            "seconds": t.user_attrs.get("hptui.seconds"),
            "peak_memory_bytes": t.user_attrs.get("hptui.peak_memory_bytes"),
            "device": t.user_attrs.get("hptui.device"),
        }
        for t in done
    ]
    learned = [
        r for r in rows if (r["accuracy"] or 0) > BASELINE_ACCURACY and (r["f1"] or 0) > BASELINE_F1
    ]
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return {
        "states": states,
        "best_f1": max((r["f1"] for r in rows if r["f1"] is not None), default=None),
        "best_accuracy": max(
            (r["accuracy"] for r in rows if r["accuracy"] is not None), default=None
        ),
        "learned": len(learned),
        "distinct_f1": len({r["f1"] for r in rows}),
        "distinct_accuracy": len({r["accuracy"] for r in rows}),
        "trials": rows,
    }


def finish_sqlite(path: Path) -> None:
    """Fold the WAL into the file and leave it in rollback mode: one self-contained file."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("VACUUM")
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    if out.exists() and not args.force:
        print(f"--out: {out} exists; pass --force to replace it", file=sys.stderr)
        return 2
    if args.workers < 1 or args.trials < 1:
        print("--workers and --trials: must be at least 1", file=sys.stderr)
        return 2
    for flag, folder in (("--data-dir", args.data_dir), ("--cards-dir", args.cards_dir)):
        if not Path(folder).is_dir():
            print(f"{flag}: no folder {folder}; point it at the data", file=sys.stderr)
            return 2
    args.data_dir = str(Path(args.data_dir).resolve())
    profile = dict(PROFILES["cpu-subset" if args.cpu_subset else "gpu"])
    for key in ("train_limit", "eval_limit"):
        if getattr(args, key) is not None:
            profile[key] = getattr(args, key)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as building:
        db = Path(building) / "runs.db"
        url = f"sqlite:///{db}"
        for name, params, sampler in (("grid", GRID_PARAMS, "grid"), ("tpe", TPE_PARAMS, "tpe")):
            space = Path(building) / f"{name}.toml"
            space.write_text(space_toml(args.model, profile, params))
            # No seed: several workers of one seeded study would propose the same points.
            hptui("study", "create", name, "--space", str(space), "--sampler", sampler,
                  "--storage", url, env=env)  # fmt: skip
        seconds, finished = run_workers(["grid", "tpe"], args, url, env)
        hptui("import-cards", args.cards_dir, "--study", "cards", "--storage", url, env=env)
        summary = {
            "profile": "cpu-subset" if args.cpu_subset else "gpu",
            "settings": profile,
            "model": args.model,
            "workers_per_study": args.workers,
            "worker_seconds": round(seconds, 1),
            "finished": finished,
            "studies": summarise(url, ["grid", "tpe"]),
            "baseline": {"accuracy": BASELINE_ACCURACY, "f1": BASELINE_F1},
        }
        finish_sqlite(db)
        if out.exists() and not args.force:
            print(f"--out: {out} appeared while building; nothing replaced", file=sys.stderr)
            return 2
        shutil.move(str(db), out.with_name(out.name + ".new"))
        os.replace(out.with_name(out.name + ".new"), out)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    for name, figures in summary["studies"].items():
        print(
            f"{name}: {figures['states']}, best F1 {figures['best_f1']}, best accuracy "
            f"{figures['best_accuracy']}, {figures['learned']} trials beat the majority "
            f"baseline, {figures['distinct_f1']} distinct F1 values"
        )
    print(f"wrote {out} in {summary['seconds']} s" + ("" if finished else " (TIMED OUT)"))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
