"""What the analysis states on data where the truth is known: false findings on pure noise,
recall on a planted quadratic, and no crash on random data sets.

    python bench/analysis_noise.py [--sets 200] [--planted 100] [--random 10000] [--seed 0]

1. **Noise** (`noise_set`): fresh data sets at n = 12, 20 and 40 trials (`--sets` each) whose
   metrics are independent of every parameter: 1 to 4 parameters (log-uniform learning rate,
   warmup ratio, categorical batch size, int epochs, weight decay), f1/accuracy/loss noise
   drawn normal, heavy-tailed (t, 3 df) or in steps of 1/408 (accuracy of 408 examples),
   correlated across the metrics as real ones are; a third of the sets run every setting
   twice (replicates), half pass the study's space (choices, grids, log scale) as a study
   would. Counted: sets where the analysis states any finding, and sets that offer an
   actionable optimum (one `--suggest-space` / `--enqueue-optimum` would act on unforced).
2. **Planted** (`planted_set`): f1 and accuracy peak at learning rate 1e-4 (a quadratic in
   log10 lr), loss dips there, all three improve with the warmup ratio; noise sd 0.005 (loss
   0.01); once with these two parameters (6 terms) and once with a categorical batch size
   that does nothing added (10 terms). Counted: sets where the f1 curvature is stated,
   stated findings whose direction word is wrong, stated findings about the batch size
   (false), and the error of the actionable f1 optimum's learning rate, in decades.
3. **Random** (`random_set`): `--random` data sets built to break things (0 to 60 rows,
   constant, two-level, identical, proportional and affine parameters, values spanning 24
   decades or near 1e300, metrics exactly linear in log lr so turning points run far away,
   impossible metric values, NaN cells, failed trials, replicates, relative fits, raw and
   HC3 modes) through `analyze`, its JSON (strict), text, markdown, the narrower space and
   the queued point (both forced), the plot data and the console's renderers. A refusal
   (`HptuiError`, one line for the user) is counted as such; anything else is a crash.

Prints one table; `--json FILE` writes the figures. BLAS runs on one thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import date
from pathlib import Path
from typing import Any

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

SIZES = (12, 20, 40)
METRICS = ("f1", "accuracy", "loss")


def _space(names: list[str]) -> Any:
    from hptui.core.studies.space import parse_space

    every = {
        "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
        "train_batch_size": {"type": "categorical", "choices": [16, 32, 64]},
        "num_epochs": {"type": "int", "low": 2, "high": 4},
        "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    }
    return parse_space({"fixed": {"model": "tiny-distilbert"},
                        "params": {n: every[n] for n in names}})  # fmt: skip


def _params(rng: Any, names: list[str], n: int) -> dict[str, Any]:
    draw = {
        "learning_rate": lambda k: 10 ** rng.uniform(-5, -3, k),
        "warmup_ratio": lambda k: rng.uniform(0, 0.2, k),
        "train_batch_size": lambda k: rng.choice([16.0, 32.0, 64.0], k),
        "num_epochs": lambda k: rng.choice([2.0, 3.0, 4.0], k),
        "weight_decay": lambda k: rng.uniform(0, 0.1, k),
    }
    return {name: draw[name](n) for name in names}


def noise_set(rng: Any, n: int) -> tuple[Any, Any]:
    """Trials whose metrics do not depend on any parameter, and (half the time) the space."""
    import numpy as np
    import pandas as pd

    names = ["learning_rate", *rng.choice(
        ["warmup_ratio", "train_batch_size", "num_epochs", "weight_decay"],
        int(rng.integers(0, 4)), replace=False).tolist()]  # fmt: skip
    replicated = rng.random() < 1 / 3
    settings = n // 2 if replicated else n
    columns = _params(rng, names, settings)
    if replicated:
        columns = {k: np.repeat(v, 2)[:n] for k, v in columns.items()}
    kind = rng.choice(["normal", "heavy", "steps"])
    shared, own = _noise(rng, kind, n), _noise(rng, kind, n)
    accuracy = 0.75 + 0.01 * shared
    if kind == "steps":  # accuracy of 408 validation examples moves in steps of 1/408
        accuracy = np.round(accuracy * 408) / 408
    frame = pd.DataFrame(columns)
    frame["accuracy"] = accuracy
    frame["f1"] = 0.82 + 0.008 * shared + 0.006 * own
    frame["loss"] = 0.5 - 0.015 * shared + 0.01 * _noise(rng, kind, n)
    return frame, (_space(names) if rng.random() < 0.5 else None)


def _noise(rng: Any, kind: str, n: int) -> Any:
    if kind == "heavy":
        return rng.standard_t(3, n) / 1.7
    return rng.normal(0, 1, n)


PEAK = -4.0  # log10 of the learning rate where f1 and accuracy peak and loss dips


def planted_set(rng: Any, n: int, noise: float = 0.005, null_batch: bool = True) -> tuple[Any, Any]:
    """A known quadratic in log10(lr) with its peak at 1e-4, a linear warmup effect, and
    (`null_batch`) a batch size that does nothing."""
    import numpy as np
    import pandas as pd

    names = ["learning_rate", "warmup_ratio", *(["train_batch_size"] if null_batch else [])]
    frame = pd.DataFrame(_params(rng, names, n))
    u = np.log10(frame["learning_rate"].to_numpy()) - PEAK
    w = frame["warmup_ratio"].to_numpy()
    frame["f1"] = 0.85 - 0.05 * u**2 + 0.1 * w + rng.normal(0, noise, n)
    frame["accuracy"] = 0.80 - 0.04 * u**2 + 0.08 * w + rng.normal(0, noise, n)
    frame["loss"] = 0.40 + 0.06 * u**2 - 0.1 * w + rng.normal(0, 2 * noise, n)
    return frame, _space(names)


# The planted truth, as the direction words a stated finding must use.
PLANTED = {
    ("f1", "learning_rate^2"): "best there", ("accuracy", "learning_rate^2"): "best there",
    ("loss", "learning_rate^2"): "best there", ("f1", "warmup_ratio"): "better",
    ("accuracy", "warmup_ratio"): "better", ("loss", "warmup_ratio"): "better",
}  # fmt: skip


def random_set(rng: Any) -> tuple[Any, dict[str, Any]]:
    """A data set built to break the analysis, and the options to analyse it with."""
    import numpy as np
    import pandas as pd

    n = int(
        rng.choice(
            [0, 1, 2, 3, 4, 5, 7, 9, 12, 16, 25, 40, 60],
            p=[0.02, 0.02, 0.02, 0.04, 0.05, 0.05, 0.08, 0.08, 0.14, 0.14, 0.14, 0.12, 0.10],
        )
    )
    columns: dict[str, Any] = {}
    for k in range(int(rng.choice(6, p=[0.04, 0.26, 0.26, 0.2, 0.14, 0.1]))):
        name = f"p{k}"
        kind = rng.choice(["uniform", "log", "wide", "int", "two", "const", "choice",
                           "negative", "copy", "scaled", "affine", "huge", "tiny"])  # fmt: skip
        previous = list(columns.values())
        if kind == "uniform":
            columns[name] = rng.uniform(0, 1, n)
        elif kind == "log":
            columns[name] = 10 ** rng.uniform(-6, -2, n)
        elif kind == "wide":
            columns[name] = 10 ** rng.uniform(-12, 12, n)
        elif kind == "int":
            columns[name] = rng.integers(1, 100, n).astype(float)
        elif kind == "two":
            columns[name] = rng.choice([16.0, 32.0], n)
        elif kind == "const":
            columns[name] = np.full(n, 3.0)
        elif kind == "choice":
            columns[name] = rng.choice([8.0, 16.0, 32.0, 64.0], n)
        elif kind == "negative":
            columns[name] = rng.normal(0, 5, n)
        elif kind in ("copy", "scaled", "affine") and previous:
            base = previous[int(rng.integers(0, len(previous)))]
            columns[name] = {"copy": base, "scaled": 3.0 * base, "affine": 2.0 * base + 1}[kind]
        elif kind == "huge":
            columns[name] = rng.uniform(1e295, 1e300, n) * rng.choice([-1.0, 1.0], n)
        else:
            columns[name] = rng.uniform(0, 1e-300, n)
    frame = pd.DataFrame(columns, index=range(n))
    if n and rng.random() < 0.2:  # replicates: some settings run twice
        frame = pd.concat([frame, frame.sample(frac=0.5, random_state=int(rng.integers(1e9)))],
                          ignore_index=True)  # fmt: skip
    m = len(frame)
    first = frame.iloc[:, 0].to_numpy(dtype=float) if frame.shape[1] else np.zeros(m)
    with np.errstate(all="ignore"):
        logged = np.log10(np.abs(first) + 1e-300)
    shapes = {
        "noise": lambda: rng.normal(0.8, 0.01, m),
        "const": lambda: np.full(m, 0.5),
        "linear-log": lambda: 0.5 + 0.01 * logged,  # exactly linear: a far-away turning point
        "almost-linear": lambda: 0.5 + 0.01 * logged + 1e-9 * logged**2,
        "outside": lambda: rng.uniform(-2, 3, m),
        "steps": lambda: np.round(rng.uniform(0, 1, m) * 4) / 4,
    }
    for metric in METRICS:
        shape = rng.choice(list(shapes))
        values = shapes[shape]()
        if m and rng.random() < 0.2:
            values[rng.integers(0, m)] = np.nan
        frame[metric] = values
    if m and rng.random() < 0.3:
        frame["state"] = rng.choice(["COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "PRUNED"], m)
    frame.insert(0, "number", range(m))
    options: dict[str, Any] = {"metrics": tuple(rng.choice(METRICS, int(rng.integers(1, 4)),
                                                           replace=False).tolist())}  # fmt: skip
    if rng.random() < 0.2:
        options["raw"] = True
    if rng.random() < 0.15:
        options["robust"] = True
    if m and rng.random() < 0.15:
        options["relative_to"] = int(rng.integers(0, m))
    if rng.random() < 0.1:
        options["importance"] = None
    return frame, options


def _exercise(analysis: Any) -> None:
    """Everything a front end does with an analysis, so a crash anywhere is seen."""
    import io

    from rich.console import Console

    from hptui.commands.analyze import markdown, print_tables
    from hptui.core.analysis import plots
    from hptui.core.analysis.analyze import plan_queue
    from hptui.core.errors import HptuiError
    from hptui.tui.widgets.analysis import render

    json.dumps(analysis.to_json(), allow_nan=False)
    analysis.advice.lines()
    markdown(analysis)
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        print_tables(analysis)
    finally:
        sys.stdout = stdout
    console = Console(file=io.StringIO(), width=100)
    for section in (render.fit_section, render.advice_section, render.importance_section,
                    render.trade_off_table):  # fmt: skip
        console.print(section(analysis, lambda _name: ""))
    for metric, result in analysis.results.items():
        plots.residuals(result)
        for param in analysis.params:
            plots.curve_data(result, param)
        with contextlib.suppress(HptuiError):  # a fit that breaks down is refused, in words
            analysis.suggested_space(metric, force=True).to_toml()
        if analysis.base_space is not None:
            with contextlib.suppress(HptuiError):
                plan_queue(analysis, metric, force=True)


def _api(module: str) -> tuple[Any, Any]:
    """`analyze` and `AnalysisOptions` of the implementation measured (`--analyze-module`)."""
    import importlib

    loaded = importlib.import_module(module)
    return loaded.analyze, loaded.AnalysisOptions


def _options(options_type: Any, **given: Any) -> Any:
    """Options, leaving out those an older implementation does not have."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(options_type)}
    return options_type(**{k: v for k, v in given.items() if k in known})


def _actionable(optimum: Any) -> bool:
    return bool(getattr(optimum, "actionable", not optimum.refusals))


def run_noise(rng: Any, sets: int, module: str = "hptui.core.analysis.analyze") -> dict[int, Any]:
    analyze, options_type = _api(module)
    out = {}
    for n in SIZES:
        stated = actionable = either = crashed = 0
        for _ in range(sets):
            frame, space = noise_set(rng, n)
            try:
                analysis = analyze(_options(options_type), frame=frame, space=space)
            except Exception:  # counted: an older implementation overflowed on some sets
                crashed += 1
                continue
            any_stated = any(analysis.advice.stated(m) for m in analysis.results)
            any_optimum = any(_actionable(o) for o in analysis.advice.optima.values())
            stated += any_stated
            actionable += any_optimum
            either += any_stated or any_optimum
        out[n] = {"sets": sets, "stated": stated, "actionable": actionable, "either": either,
                  "crashed": crashed}  # fmt: skip
    return out


def run_planted(
    rng: Any, sets: int, null_batch: bool, module: str = "hptui.core.analysis.analyze"
) -> dict[int, Any]:
    import math

    analyze, options_type = _api(module)
    out = {}
    for n in SIZES:
        found = wrong = false = actionable = 0
        errors: list[float] = []
        for _ in range(sets):
            frame, space = planted_set(rng, n, null_batch=null_batch)
            analysis = analyze(_options(options_type, importance=None), frame=frame, space=space)
            for metric in METRICS:
                for f in analysis.advice.stated(metric):
                    truth = PLANTED.get((metric, f.term))
                    if truth is not None and f.direction != truth:
                        wrong += 1
                    if "train_batch_size" in (f.parameter, f.other):
                        false += 1
            if any(f.term == "learning_rate^2" for f in analysis.advice.stated("f1")):
                found += 1
            optimum = analysis.advice.optima.get("f1")
            if optimum is not None and _actionable(optimum):
                actionable += 1
                errors.append(abs(math.log10(optimum.values["learning_rate"]) - PEAK))
        errors.sort()
        out[n] = {
            "sets": sets, "f1_curvature_stated": found, "wrong_direction": wrong,
            "batch_size_stated": false, "f1_optimum_actionable": actionable,
            "median_peak_error_decades": errors[len(errors) // 2] if errors else None,
        }  # fmt: skip
    return out


def run_random(rng: Any, sets: int) -> dict[str, Any]:
    from hptui.core.analysis.analyze import AnalysisOptions, analyze
    from hptui.core.errors import HptuiError

    refused = fitted = importance_failed = 0
    crashes: list[str] = []
    reasons: dict[str, int] = {}
    for k in range(sets):
        frame, options = random_set(rng)
        try:
            analysis = analyze(AnalysisOptions(**options), frame=frame)
        except HptuiError as refusal:
            refused += 1
            reason = _reason(str(refusal))
            reasons[reason] = reasons.get(reason, 0) + 1
            continue
        except Exception:
            crashes.append(f"set {k} (analyze): {traceback.format_exc(limit=3)}")
            continue
        fitted += 1
        importance_failed += any("not computed" in n for n in analysis.importance_notes)
        try:
            _exercise(analysis)
        except Exception:
            crashes.append(f"set {k} (front ends): {traceback.format_exc(limit=3)}")
    return {"sets": sets, "analysed": fitted, "refused": refused, "crashes": len(crashes),
            "importance_not_computed": importance_failed, "first_crashes": crashes[:3],
            "refusals": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}  # fmt: skip


def _reason(message: str) -> str:
    """A refusal's kind: its message with names and numbers left out."""
    import re

    for key, kind in (("too large to square", "values too large to square"),
                      ("spread cannot be computed", "spread not computable in floating point"),
                      ("in every fitted trial", "two parameters move together"),
                      ("no numeric hyperparameter varies", "no parameter varies"),
                      ("baseline trial", "unusable baseline"),
                      ("needs values > 0", "log scale of values <= 0")):  # fmt: skip
        if key in message:
            return kind
    return re.sub(r"'[^']*'|[-+]?\d[\d.e+-]*", "…", message)[:80]


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=200, help="noise sets per size")
    parser.add_argument("--planted", type=int, default=100, help="planted sets per size")
    parser.add_argument("--random", type=int, default=10_000, help="random data sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument(
        "--analyze-module", default="hptui.core.analysis.analyze", metavar="MODULE",
        help="measure another implementation's analyze (e.g. a copy of an older "
        "core/analysis on PYTHONPATH); noise and planted sets only",
    )  # fmt: skip
    args = parser.parse_args()
    module = args.analyze_module

    print(f"# {date.today()} {platform.machine()} {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, seed {args.seed}")  # fmt: skip
    report: dict[str, Any] = {"seed": args.seed, "date": str(date.today())}
    start = time.perf_counter()
    noise = run_noise(np.random.default_rng([args.seed, 1]), args.sets, module)
    report["noise"] = noise
    print("pure noise: sets stating any finding / offering an actionable optimum / either")
    for n, row in noise.items():
        print(f"  n = {n:>2}: {row['stated']:>4} / {row['actionable']:>4} / {row['either']:>4} "
              f"of {row['sets']} ({row['either'] / row['sets']:.1%} either; "
              f"{row['crashed']} crashed)")  # fmt: skip
    for key, null_batch, title in (
        ("planted", False, "planted quadratic, 2 parameters (peak at lr 1e-4, warmup helps):"),
        ("planted_null_batch", True, "the same plus a batch size that does nothing (10 terms):"),
    ):
        planted = run_planted(
            np.random.default_rng([args.seed, 2]), args.planted, null_batch, module
        )
        report[key] = planted
        print(title)
        for n, row in planted.items():
            err = row["median_peak_error_decades"]
            print(f"  n = {n:>2}: f1 curvature stated {row['f1_curvature_stated']}/{row['sets']}, "
                  f"wrong direction words {row['wrong_direction']}, batch-size findings "
                  f"{row['batch_size_stated']}, f1 optimum actionable "
                  f"{row['f1_optimum_actionable']}/{row['sets']}, median |peak error| "
                  + (f"{err:.3f} decades" if err is not None else "-"))  # fmt: skip
    random = run_random(np.random.default_rng([args.seed, 3]), args.random if
                        module == "hptui.core.analysis.analyze" else 0)  # fmt: skip
    report["random"] = random
    print(f"random data sets: {random['sets']}: analysed {random['analysed']}, refused with a "
          f"message {random['refused']}, crashes {random['crashes']} (importance not computed: "
          f"{random['importance_not_computed']})")  # fmt: skip
    for reason, count in random["refusals"].items():
        print(f"  refused: {count:>5} {reason}")
    for crash in random["first_crashes"]:
        print(crash)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(f"# {report['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if random["crashes"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
