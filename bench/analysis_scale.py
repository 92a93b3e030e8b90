"""Analysis at scale: hptui's fit beside statsmodels' own OLS on the same design, side by side.

    python bench/analysis_scale.py [--trials 2500 10000 20000] [--repeat 3]

Synthetic trials (learning rate, batch size, epochs, weight decay; f1 with a known quadratic
shape, replicated settings so the seed noise is computed) are fitted three ways in one run:
statsmodels OLS alone on a prebuilt design (the floor), `fit_regression` (one metric, with
every check), and the whole `analyze` on a DataFrame (three metrics, findings, optima).
Printed as seconds (best of --repeat) and as ratios to the OLS floor: compare ratios, not
seconds, across machines. BLAS runs on one thread (set before numpy loads).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from typing import Any

# One BLAS thread: on a shared machine, oversubscribed threads make OLS timings swing 100x.
# Set before numpy loads (numpy and pandas are imported inside the functions below).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")


def trials(n: int, seed: int = 0) -> Any:
    """A DataFrame of n synthetic trials, ~4 per distinct setting."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    settings = max(n // 4, 1)  # each setting run ~4 times (seeds): replicate groups
    lr = 10 ** rng.uniform(-5, -4, settings)
    bs = rng.choice([8.0, 16.0, 32.0, 64.0], settings)
    ep = rng.choice([2.0, 3.0, 4.0, 5.0], settings)
    wd = rng.uniform(0, 0.1, settings)
    pick = rng.integers(0, settings, n)
    lr, bs, ep, wd = lr[pick], bs[pick], ep[pick], wd[pick]
    f1 = 0.85 - 0.02 * (np.log10(lr) + 4.4) ** 2 + 3e-4 * bs + 0.003 * ep
    f1 = f1 + rng.normal(0, 0.01, n)
    return pd.DataFrame(
        {"number": range(n), "state": "COMPLETE", "learning_rate": lr, "train_batch_size": bs,
         "num_epochs": ep, "weight_decay": wd, "f1": f1,
         "accuracy": f1 - 0.05 + rng.normal(0, 0.01, n), "loss": 0.9 - f1 + rng.normal(0, 0.01, n)}
    )  # fmt: skip


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[2500, 10000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import statsmodels.api as sm

    from hptui.core.analysis.analyze import AnalysisOptions, analyze
    from hptui.core.analysis.design import build_spec
    from hptui.core.analysis.regression import fit_regression

    params = ["learning_rate", "train_batch_size", "num_epochs", "weight_decay"]
    print(f"# {date.today()} {platform.machine()} {platform.processor() or ''} "
          f"python {platform.python_version()}, best of {args.repeat}")  # fmt: skip
    print(f"{'trials':>7} {'statsmodels OLS':>16} {'fit_regression':>15} {'ratio':>6} "
          f"{'analyze (3 metrics)':>20} {'ratio':>6}")  # fmt: skip
    for n in args.trials:
        frame = trials(n)
        spec, _ = build_spec(frame, params, "scaled", {"learning_rate"})
        x = spec.matrix(frame)
        y = frame["f1"].to_numpy()
        ols = best_of(args.repeat, lambda: sm.OLS(y, x).fit())  # noqa: B023
        fit = best_of(args.repeat, lambda: fit_regression(frame, "f1", params))  # noqa: B023
        options = AnalysisOptions(params=tuple(params), importance=None)  # the fits alone
        whole = best_of(args.repeat, lambda: analyze(options, frame=frame))  # noqa: B023
        print(f"{n:>7} {ols:>15.4f}s {fit:>14.4f}s {fit / ols:>6.1f} {whole:>19.4f}s "
              f"{whole / ols:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
