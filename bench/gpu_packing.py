"""Every trial the GPU can hold (issue 17): packing, a faster trial, the 18-trial study.

One prepared run, sized for a lent GPU's 15 minutes (machine start included: the script
itself keeps to --budget seconds, 540 by default), in four phases, most important first;
each under its own time limit, and a phase that fails or runs out of time does not stop
the next:

1. **packing**: trials per hour with `hptui worker STUDY --per-gpu N` for N = 1, 2, 4, 8,
   12 on one study of full 3-epoch trials on distilbert-base sizes (random weights saved as
   a local checkpoint, so workers load base weights from disk and keep them resident). For
   each N the study's total is raised by N x --trials-per-worker and N fresh workers start;
   trials/hour = those trials / seconds from the start of the workers (start-up included) to
   the last of them finished. GPU memory per worker: the largest `nvidia-smi` figure of each
   worker process (CUDA context included) and the trials' `hptui.peak_memory_bytes`
   (`torch.cuda.max_memory_allocated`). N = 1 measures the per-trial peak the larger N are
   checked against. Whether CUDA MPS is in use is recorded.
2. **study**: the report's 18-trial TPE protocol end to end in wall seconds, from `hptui
   study create` to all 18 COMPLETE: one worker measures a trial (`--per-gpu 1`), then
   `--per-gpu K-1` more join (the memory check needs one measured trial).
3. **ratio**: seconds per trial against `transformers.Trainer` in alternating rounds
   (bench/gpu.py, same model and data).
4. **options**: one trial each with the fused AdamW on (the default) and off, evaluation
   batch 64 and 256, and `compile = "reduce-overhead"` (CUDA graphs; refused on a CPU).

    python bench/gpu_packing.py --out packing.json          # on the GPU machine
    python bench/gpu_packing.py --smoke --out /tmp/p.json   # CPU rehearsal, tiny sizes

`--smoke` uses the tiny model, a few pairs, 1 epoch, N = 2 plain detached CPU workers
(`--per-gpu` is refused on a host without a GPU, which the run records) and a 3-trial study,
so it ends in a minute or two on a CPU; its figures say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

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

PACKING_PARAMS = """
[params.learning_rate]
type = "float"
low = 5e-5
high = 2e-4
log = true
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("HPTUI_DATA_DIR", str(REPO.parent / "shared/data/mrpc")),
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--smoke", action="store_true", help="CPU rehearsal, tiny sizes")
    parser.add_argument("--budget", type=float, default=540, help="seconds for all phases")
    parser.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    parser.add_argument("--trials-per-worker", type=int, default=2)
    parser.add_argument("--study-trials", type=int, default=18)
    parser.add_argument("--study-per-gpu", type=int, default=8, help="workers for the study")
    parser.add_argument("--rounds", type=int, default=2, help="hptui vs HF alternating rounds")
    parser.add_argument(
        "--phases", nargs="+", default=["packing", "study", "ratio", "options"],
        choices=["packing", "study", "ratio", "options"],
    )  # fmt: skip
    parser.add_argument("--options-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data_dir = str(Path(args.data_dir).resolve())
    if args.smoke:
        args.per_gpu = [2]  # start-up dominates on a CPU: one N, two workers at once
        args.trials_per_worker = 1
        args.study_trials = min(args.study_trials, 3)
        args.study_per_gpu = 2
        args.rounds = 1
    return args


# -- sizes ---------------------------------------------------------------------------------


def fixed_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The trial: the report's on a GPU, a few seconds' worth on a CPU."""
    if args.smoke:
        return {"num_epochs": 1, "max_seq_length": 64, "warmup_ratio": 0.1,
                "train_limit": 32, "eval_limit": 16, "train_batch_size": 16}  # fmt: skip
    return {"num_epochs": 3, "max_seq_length": 128, "warmup_ratio": 0.1, "train_batch_size": 32}


def make_model(args: argparse.Namespace, folder: Path) -> str:
    """The model workers load: a distilbert-base-size checkpoint with random weights saved
    to `folder` (its base only: each trial's head comes from its seed), or the tiny model."""
    if args.smoke:
        return "tiny-distilbert"
    from hptui.core.training.models import random_distilbert

    bundle = random_distilbert("distilbert-base-random", {})
    bundle.new_model(0).distilbert.save_pretrained(folder)
    bundle.tokenizer.save_pretrained(folder)
    return str(folder)


def space_text(model: str, settings: dict[str, Any], params: str) -> str:
    lines = ["[fixed]", f"model = {json.dumps(model)}", "seed = 42"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n" + params


# -- processes -----------------------------------------------------------------------------


def hptui(
    args: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hptui", *args], env=env, capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"hptui {' '.join(args[:3])}: {done.stderr.strip()[-1500:]}")
    return done


def start_workers(
    study: str, total: int, count: int, args: argparse.Namespace, url: str, env: dict[str, str]
) -> tuple[list[int], str, str]:
    """Start `count` workers: `--per-gpu count` on a GPU host (the real packing path), else
    `count` detached CPU workers. Returns (pids, how, MPS line)."""
    base = ["worker", study, "--trials", str(total), "--storage", url, "--data-dir", args.data_dir]
    if not args.smoke:
        said = hptui([*base, "--per-gpu", str(count)], env).stdout
        pids = [int(p) for p in re.findall(r"pid (\d+)", said)]
        mps = next((line for line in said.splitlines() if line.startswith("CUDA MPS")), "")
        return pids, f"--per-gpu {count}", mps
    refused = hptui([*base, "--per-gpu", str(count)], env, check=False)
    pids = []
    for _ in range(count):
        said = hptui([*base, "--detach", "--device", "cpu", "--threads", "1"], env).stdout
        pids += [int(p) for p in re.findall(r"pid (\d+)", said)]
    how = f"--detach x {count} on the CPU (--per-gpu: exit {refused.returncode})"
    return pids, how, refused.stderr.strip()


def stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


class GpuMemory:
    """The largest `nvidia-smi` used memory seen per process, sampled every half second
    (nothing on a host without nvidia-smi)."""

    def __init__(self) -> None:
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuMemory:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        query = [
            "nvidia-smi",
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
        ]
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout
                for line in out.splitlines():
                    pid, used = (int(part) for part in line.split(","))
                    self.peak[pid] = max(self.peak.get(pid, 0), used * 2**20)

    def of(self, pids: list[int]) -> list[int]:
        return [self.peak[p] for p in pids if p in self.peak]


def finished(url: str, study: str) -> list[Any]:
    import optuna

    storage = optuna.storages.RDBStorage(url)
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()
    return [t for t in trials if t.state.is_finished()]


def wait_for(url: str, study: str, total: int, deadline: float) -> list[Any]:
    done: list[Any] = []
    while time.monotonic() < deadline:
        done = finished(url, study)
        if len(done) >= total:
            break
        time.sleep(0.5)
    return done


def end_seconds(trials: list[Any], started_wall: float) -> float:
    ends = [t.datetime_complete.timestamp() for t in trials if t.datetime_complete]
    return max(ends) - started_wall if ends else float("nan")


# -- phases --------------------------------------------------------------------------------


def phase_packing(args: argparse.Namespace, work: Path, model: str, env: dict[str, str],
                  deadline: float) -> dict[str, Any]:  # fmt: skip
    url = f"sqlite:///{work / 'packing.db'}"
    space = work / "packing.toml"
    space.write_text(space_text(model, fixed_settings(args), PACKING_PARAMS))
    hptui(["study", "create", "packing", "--space", str(space), "--sampler", "random",
           "--seed", "0", "--storage", url], env)  # fmt: skip
    rows: list[dict[str, Any]] = []
    total = 0
    for count in args.per_gpu:
        if time.monotonic() > deadline - 20:
            rows.append({"per_gpu": count, "skipped": "out of time"})
            continue
        before = {t.number for t in finished(url, "packing")}
        total += count * args.trials_per_worker
        started_wall = time.time()
        with GpuMemory() as memory:
            try:
                pids, how, mps = start_workers("packing", total, count, args, url, env)
            except RuntimeError as exc:  # e.g. --per-gpu refused: N does not fit
                rows.append({"per_gpu": count, "refused": str(exc)})
                total -= count * args.trials_per_worker
                print(f"  per-gpu {count}: refused: {exc}", flush=True)
                continue
            done = wait_for(url, "packing", total, deadline)
            while any(alive(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.2)  # the workers exit once the study has its total
            stop([p for p in pids if alive(p)])
        mine = [t for t in done if t.number not in before]
        complete = [t for t in mine if t.state.name == "COMPLETE"]
        seconds = end_seconds(mine, started_wall)
        peaks = [t.user_attrs.get("hptui.peak_memory_bytes") for t in complete]
        trial_seconds = [t.user_attrs.get("hptui.seconds") for t in complete]
        gpu_memory = memory.of(pids)
        row = {
            "per_gpu": count,
            "workers": len(pids),
            "started_with": how,
            "mps": mps,
            "trials": len(mine),
            "complete": len(complete),
            "finished": len(done) >= total,
            "seconds": round(seconds, 2),
            "trials_per_hour": round(len(complete) / seconds * 3600, 1) if complete else 0.0,
            "median_trial_seconds": statistics.median(s for s in trial_seconds if s)
            if any(trial_seconds) else None,
            "peak_memory_bytes_per_trial": max((p for p in peaks if p), default=None),
            "gpu_memory_bytes_per_worker": max(gpu_memory) if gpu_memory else None,
            "device": next((t.user_attrs.get("hptui.device") for t in complete), None),
        }  # fmt: skip
        rows.append(row)
        memory_text = row["gpu_memory_bytes_per_worker"] or row["peak_memory_bytes_per_trial"] or 0
        print(
            f"  per-gpu {count:>2}: {row['trials_per_hour']:>8.1f} trials/h, "
            f"{row['complete']}/{count * args.trials_per_worker} complete in "
            f"{row['seconds']:.1f} s, "
            f"median {row['median_trial_seconds'] or float('nan'):.2f} s/trial, "
            f"{memory_text / 2**30:.2f} GiB/worker" + ("" if row["finished"] else " (timed out)"),
            flush=True,
        )
    return {"rows": rows}


def phase_study(args: argparse.Namespace, work: Path, model: str, env: dict[str, str],
                deadline: float) -> dict[str, Any]:  # fmt: skip
    url = f"sqlite:///{work / 'study.db'}"
    space = work / "tpe.toml"
    settings = {k: v for k, v in fixed_settings(args).items() if k != "train_batch_size"}
    space.write_text(space_text(model, settings, TPE_PARAMS))  # the batch size is searched
    started_wall, started = time.time(), time.monotonic()
    hptui(["study", "create", "tpe", "--space", str(space), "--seed", "0", "--storage", url], env)
    total = args.study_trials
    first, how, mps = start_workers("tpe", total, 1, args, url, env)
    pids = list(first)
    rest = max(0, args.study_per_gpu - 1)
    joined_at = None
    if rest:
        wait_for(url, "tpe", 1, deadline)  # one measured trial: the memory check's input
        joined_at = time.monotonic() - started
        try:
            more, how_more, _ = start_workers("tpe", total, rest, args, url, env)
            pids += more
            how += f", then {how_more}"
        except RuntimeError as exc:
            how += f", then refused: {exc}"
    done = wait_for(url, "tpe", total, deadline)
    seconds = time.monotonic() - started
    stop([p for p in pids if alive(p)])
    complete = [t for t in done if t.state.name == "COMPLETE"]
    result = {
        "trials": total,
        "complete": len(complete),
        "all_complete": len(complete) >= total,
        "wall_seconds": round(seconds, 2),
        "last_trial_end_seconds": round(end_seconds(done, started_wall), 2),
        "more_workers_joined_at_seconds": round(joined_at, 2) if joined_at else None,
        "workers": len(pids),
        "started_with": how,
        "mps": mps,
        "best_value": max((t.value for t in complete if t.value is not None), default=None),
    }
    print(f"  {total}-trial TPE study: {len(complete)} COMPLETE in {seconds:.1f} s "
          f"({len(pids)} workers: {how})", flush=True)  # fmt: skip
    return result


def run_limited(command: list[str], env: dict[str, str], limit: float) -> tuple[int, str]:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return 124, out
    return done.returncode, done.stdout + done.stderr[-2000:]


def phase_ratio(args: argparse.Namespace, work: Path, env: dict[str, str],
                deadline: float) -> dict[str, Any]:  # fmt: skip
    out = work / "ratio.json"
    command = [sys.executable, str(REPO / "bench/gpu.py"), "--data-dir", args.data_dir,
               "--rounds", str(args.rounds), "--out", str(out)]  # fmt: skip
    if args.smoke:
        command += ["--model-size", "tiny", "--train-limit", "32", "--eval-limit", "16",
                    "--epochs", "1", "--device", "cpu"]  # fmt: skip
    status, said = run_limited(command, env, max(10.0, deadline - time.monotonic()))
    print("\n".join("  " + line for line in said.strip().splitlines()[-6:]), flush=True)
    report = json.loads(out.read_text()) if out.is_file() else {}
    return {
        "exit": status,
        "summary": report.get("summary", {}),
        "ratio": report.get("ratio hptui / transformers.Trainer"),
        "trials": report.get("trials", []),
    }


def phase_options(args: argparse.Namespace, env: dict[str, str], deadline: float) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="hptui-options-")) / "options.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--options-only",
               "--data-dir", args.data_dir, "--out", str(out)]  # fmt: skip
    command += ["--smoke"] if args.smoke else []
    status, said = run_limited(command, env, max(10.0, deadline - time.monotonic()))
    print("\n".join("  " + line for line in said.strip().splitlines()[-8:]), flush=True)
    report = json.loads(out.read_text()) if out.is_file() else {}
    return {"exit": status, **report}


def options_main(args: argparse.Namespace) -> dict[str, Any]:
    """One trial per option setting, in this process (the model and data loaded once)."""
    sys.path.insert(0, str(REPO / "bench"))
    import gpu  # bench/gpu.py

    from hptui.core.training.config import TrainConfig
    from hptui.core.training.quiet import quiet_hf_libraries
    from hptui.core.training.trainer import prepare_data

    quiet_hf_libraries()
    size = "tiny" if args.smoke else "base"
    bundle = gpu.load_model_bundle(size)
    settings = fixed_settings(args)
    config = TrainConfig(
        model=bundle.name, data_dir=args.data_dir, learning_rate=5e-5, weight_decay=0.01,
        device="cpu" if args.smoke else "auto", **settings,
    )  # fmt: skip
    data = prepare_data(config, bundle)
    variants: list[tuple[str, Any, dict[str, Any]]] = [
        ("default (fused AdamW, eval batch 64)", config, {}),
        ("fused AdamW off (foreach)", config, {"fused_optimizer": False}),
        ("eval batch 256", config.replace(eval_batch_size=256), {}),
        ('compile = "reduce-overhead"', config.replace(compile="reduce-overhead"), {}),
    ]
    warm = config.replace(train_limit=min(64, len(data.train)), eval_limit=32, num_epochs=1)
    gpu.run_hptui(warm, bundle, data)  # untimed: CUDA context, kernels, lazy imports
    rows = []
    for name, variant, knobs in variants:
        try:
            if variant.compile != "off":  # its compilation is paid in an untimed warm-up
                gpu.run_hptui(warm.replace(compile=variant.compile), bundle, data)
            outcome = gpu.run_hptui(variant, bundle, data, **knobs)
            row = {
                "option": name,
                "seconds": round(outcome["seconds"], 3),
                "f1": outcome.get("f1"),
                "peak_memory_bytes": outcome["peak_memory_bytes"],
            }
            print(f"{name:>40}: {outcome['seconds']:7.2f} s/trial", flush=True)
        except Exception as exc:  # e.g. reduce-overhead refused on a CPU: recorded, not fatal
            row = {"option": name, "refused": str(exc).splitlines()[0][:300]}
            print(f"{name:>40}: {row['refused']}", flush=True)
        rows.append(row)
    return {"device": gpu.device_facts(), "rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.options_only:
        report = options_main(args)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        return report
    started = time.monotonic()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if args.smoke:
        env["OMP_NUM_THREADS"] = "1"
    # Shares of the budget, most important phase first; time a phase leaves goes to the next.
    shares = {"packing": 0.45, "study": 0.2, "ratio": 0.2, "options": 0.15}
    report: dict[str, Any] = {
        "benchmark": "bench/gpu_packing.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "smoke": args.smoke,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "trial": fixed_settings(args),
        "phases": {},
        "goals": {
            "seconds_per_trial": 3.0,
            "ratio_vs_hf": 3.0,
            "trials_per_hour": 3000,
            "study_18_seconds": 60.0,
        },
    }

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")

    with tempfile.TemporaryDirectory(prefix="hptui-packing-") as folder:
        work = Path(folder)
        model = make_model(args, work / "model") if {"packing", "study"} & set(args.phases) else ""
        report["model"] = "distilbert-base sizes, random weights (local checkpoint)" if (
            not args.smoke) else model  # fmt: skip
        planned = [p for p in ("packing", "study", "ratio", "options") if p in args.phases]
        for index, name in enumerate(planned):
            left = args.budget - (time.monotonic() - started)
            share = shares[name] / sum(shares[p] for p in planned[index:])
            deadline = time.monotonic() + max(0.0, left * share)
            print(f"=== {name}: {left * share:.0f} s of {left:.0f} s left ===", flush=True)
            phase_started = time.monotonic()
            try:
                if name == "packing":
                    result = phase_packing(args, work, model, env, deadline)
                elif name == "study":
                    result = phase_study(args, work, model, env, deadline)
                elif name == "ratio":
                    result = phase_ratio(args, work, env, deadline)
                else:
                    result = phase_options(args, env, deadline)
            except Exception as exc:  # one phase failing must not lose the others' figures
                result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                print(f"  {name} FAILED: {result['error']}", flush=True)
            result["phase_seconds"] = round(time.monotonic() - phase_started, 1)
            report["phases"][name] = result
            save()
    report["total_seconds"] = round(time.monotonic() - started, 1)
    save()
    print(f"=== done in {report['total_seconds']:.0f} s ===", flush=True)
    return report


if __name__ == "__main__":
    main()
