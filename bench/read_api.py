"""The read API at scale: what a screen refreshing twice a second pays with many trials.

Fills a SQLite study with N finished trials (7 parameters and 5 metrics each, written
through Optuna's own API), then times, side by side in one run: Optuna's
`study.get_trials()`, hptui's full `StudyReader.trials()`, and the incremental
`trial_changes()` with nothing new and with one changed trial.

    python bench/read_api.py --trials 10000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fill(url: str, count: int) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from hptui.core.studies.settings import StudySettings, create_study
    from hptui.core.studies.space import parse_space

    space = parse_space(
        {
            "params": {
                "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-4, "log": True},
                "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
                "train_batch_size": {"type": "categorical", "choices": [8, 16, 32]},
                "max_seq_length": {"type": "categorical", "choices": [64, 128, 256]},
                "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
                "beta1": {"type": "float", "low": 0.8, "high": 0.95},
                "gradient_clip_val": {"type": "float", "low": 0.5, "high": 2.0},
            }
        }
    )
    study, _ = create_study("scale", StudySettings(space), url)
    distributions: dict[str, Any] = {p.name: p.distribution() for p in space.params}
    rng = random.Random(0)
    trials = []
    for _ in range(count):
        params = {}
        for name, dist in distributions.items():
            if isinstance(dist, CategoricalDistribution):
                params[name] = rng.choice(dist.choices)
            else:
                assert isinstance(dist, FloatDistribution)
                params[name] = rng.uniform(dist.low, dist.high)
        metrics = {m: rng.random() for m in ("accuracy", "f1", "loss", "precision", "recall")}
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                value=metrics["f1"],
                user_attrs={"hptui.metrics": metrics, "hptui.reason": "completed"},
            )
        )
    study.add_trials(trials)


def timed(function: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import optuna

    from hptui.core.studies.reader import StudyReader, TrialCursor
    from hptui.core.studies.worker_rows import log_event

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'runs.db'}"
        started = time.perf_counter()
        fill(url, args.trials)
        print(f"filled {args.trials} trials in {time.perf_counter() - started:.1f} s ({url})")
        reader = StudyReader(url)
        study = optuna.load_study(study_name="scale", storage=url)
        _, cursor = reader.trial_changes("scale", TrialCursor())
        some_trial = reader.trials("scale")[-1].trial_id
        study_id = reader.study("scale").study_id

        def one_change() -> None:
            log_event(reader.engine, study_id, some_trial, "COMPLETE", "completed")
            rows, _ = reader.trial_changes("scale", cursor)
            assert len(rows) == 1

        def optuna_cold() -> None:
            optuna.load_study(study_name="scale", storage=url).get_trials(deepcopy=False)

        results = {
            "optuna get_trials(), new process": timed(optuna_cold, args.repeat),
            "optuna get_trials(), warm cache": timed(
                lambda: study.get_trials(deepcopy=False), args.repeat
            ),
            "hptui trials(), new reader": timed(
                lambda: StudyReader(url).trials("scale"), args.repeat
            ),
            "hptui trials(), warm reader": timed(lambda: reader.trials("scale"), args.repeat),
            "hptui trial_changes(), none new": timed(
                lambda: reader.trial_changes("scale", cursor), args.repeat
            ),
            "hptui trial_changes(), one changed": timed(one_change, args.repeat),
        }
    baseline = results["optuna get_trials(), new process"]
    for name, seconds in results.items():
        ratio = baseline / seconds
        print(
            f"{name:>36}: {seconds * 1000:9.1f} ms   ({ratio:6.1f}x faster than a cold optuna read)"
        )


if __name__ == "__main__":
    main()
