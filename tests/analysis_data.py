"""A study whose metrics are known quadratics of its parameters, for the analysis tab.

Written through Optuna's and hptui's own APIs (study settings, finished trials with their
metrics in the user attributes, as a worker stores them), so the console reads it as it
reads a real study. With u = log10(learning_rate) + 4.5 (in [-0.5, 0.5]) and w the warmup
ratio, each metric is exactly the quadratic below plus seeded noise of sd `NOISE`:

    f1       = 0.85 + 0.02 u - 0.30 u^2 + 0.10 w
    accuracy = 0.80 + 0.03 u - 0.25 u^2 + 0.05 w
    loss     = 0.40 - 0.02 u + 0.20 u^2 - 0.05 w
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 20, 10, 0, 0)
CLOCK = (START + timedelta(hours=12)).timestamp()
NOISE = 0.002
SPACE = {
    "fixed": {"model": "tiny-distilbert", "num_epochs": 2, "train_limit": 64, "eval_limit": 400},
    "params": {
        "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-4, "log": True},
        "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    },
}
COEFFICIENTS = {  # metric: (intercept, u, u^2, w)
    "f1": (0.85, 0.02, -0.30, 0.10),
    "accuracy": (0.80, 0.03, -0.25, 0.05),
    "loss": (0.40, -0.02, 0.20, -0.05),
}


def metric_values(learning_rate: float, warmup: float) -> dict[str, float]:
    """The noiseless metrics at one point."""
    u = math.log10(learning_rate) + 4.5
    return {
        m: c0 + c1 * u + c2 * u * u + c3 * warmup for m, (c0, c1, c2, c3) in COEFFICIENTS.items()
    }


def build(path: Path, study: str = "quad", points: int = 5, sampler: str = "tpe") -> str:
    """A study of `points` x `points` finished trials over the space (learning rate spaced
    evenly on the log scale); returns its storage URL."""
    import numpy as np
    import optuna
    from optuna.trial import TrialState

    from hptui.core.studies.settings import SETTINGS_ATTR, StudySettings
    from hptui.core.studies.space import parse_space
    from hptui.core.studies.storage import optuna_storage

    url = f"sqlite:///{path}"
    space = parse_space(SPACE)
    settings = StudySettings(space=space, sampler=sampler, seed=7)
    storage = optuna_storage(url)
    created = optuna.create_study(storage=storage, study_name=study, direction="maximize")
    created.set_user_attr(SETTINGS_ATTR, settings.to_json())
    distributions = space.distributions()
    rng = np.random.default_rng(0)
    grid = [
        (10 ** (-5 + i / (points - 1)), 0.2 * j / (points - 1))
        for i in range(points)
        for j in range(points)
    ]
    for number, (lr, warmup) in enumerate(grid):
        metrics = {m: v + float(rng.normal(0, NOISE)) for m, v in metric_values(lr, warmup).items()}
        started = START + timedelta(minutes=5 * number)
        trial = optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            value=metrics["f1"],
            params={"learning_rate": lr, "warmup_ratio": warmup},
            distributions=distributions,
            user_attrs={"hptui.metrics": metrics, "hptui.reason": "completed", "hptui.seed": 42},
        )
        trial.datetime_start = started
        trial.datetime_complete = started + timedelta(minutes=4)
        created.add_trial(trial)
    return url


def add_trial(url: str, study: str, learning_rate: float, warmup: float) -> None:
    """One more finished trial on the noiseless surface (a trial that just finished)."""
    import optuna
    from optuna.trial import TrialState

    from hptui.core.studies.space import parse_space
    from hptui.core.studies.storage import optuna_storage

    metrics = metric_values(learning_rate, warmup)
    loaded = optuna.load_study(study_name=study, storage=optuna_storage(url))
    trial = optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        value=metrics["f1"],
        params={"learning_rate": learning_rate, "warmup_ratio": warmup},
        distributions=parse_space(SPACE).distributions(),
        user_attrs={"hptui.metrics": metrics, "hptui.reason": "completed"},
    )
    loaded.add_trial(trial)


def build_study(
    path: Path,
    space: dict,
    trials: list[tuple[dict, dict[str, float]]],
    *,
    study: str = "s",
    objective: str = "f1",
    direction: str = "maximize",
    sampler: str = "tpe",
) -> str:
    """A study over `space` (the dict form of a TOML space) holding `trials`, each (params,
    metrics), finished and written as a worker stores them; returns its storage URL."""
    import optuna
    from optuna.trial import TrialState

    from hptui.core.studies.settings import SETTINGS_ATTR, StudySettings
    from hptui.core.studies.space import parse_space
    from hptui.core.studies.storage import optuna_storage

    url = f"sqlite:///{path}"
    parsed = parse_space(space)
    settings = StudySettings(
        space=parsed, objective=objective, direction=direction, sampler=sampler, seed=7
    )
    created = optuna.create_study(
        storage=optuna_storage(url), study_name=study, direction=direction
    )
    created.set_user_attr(SETTINGS_ATTR, settings.to_json())
    distributions = parsed.distributions()
    for number, (params, metrics) in enumerate(trials):
        started = START + timedelta(minutes=5 * number)
        trial = optuna.trial.create_trial(
            state=TrialState.COMPLETE,
            value=metrics[objective],
            params=params,
            distributions={k: distributions[k] for k in params},
            user_attrs={"hptui.metrics": metrics, "hptui.reason": "completed"},
        )
        trial.datetime_start = started
        trial.datetime_complete = started + timedelta(minutes=4)
        created.add_trial(trial)
    return url
