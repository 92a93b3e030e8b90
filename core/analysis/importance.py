"""Optuna's own hyperparameter importance, beside the regression: descriptive, not a test.

`param_importance` runs an `optuna.importance` evaluator over the same trials each metric's
regression used, so a user sees what optuna-dashboard shows (it uses PED-ANOVA) next to
what the regression adds: a direction, a size on the metric's scale, a standard error and
a test. Importances are shares of 1 per metric: how much each parameter accounts for the
metric's good trials (PED-ANOVA: how differently the top 10% of trials are spread over a
parameter than all of them) or its variance (fANOVA, a random forest; needs scikit-learn).
They carry no uncertainty and no p-value, say nothing about direction, and are computed on
pure noise too: they are shown as descriptive, never as findings.

The evaluator reads the trials as Optuna trials (the study's own distributions when it has a
space; else a column of few whole numbers as choices and any other column as its observed
range, log-scaled where the fit is), one target per metric with the sign that makes lower
better, as PED-ANOVA assumes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hptui.core.errors import HptuiError

if TYPE_CHECKING:
    import pandas as pd

EVALUATORS = {
    "ped-anova": "PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator, as optuna-dashboard)",
    "fanova": "fANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0)",
}
# PED-ANOVA looks at the top 10% of trials; with fewer than this many there it is unstable
# (Optuna's own documentation asks for at least 5).
MIN_TOP_TRIALS = 5


@dataclass(frozen=True)
class Importance:
    """Per metric, each parameter's share of the importance (summing to 1, or all 0 when no
    parameter stands out), the evaluator and its caveats."""

    evaluator: str
    values: dict[str, dict[str, float]]
    n: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"evaluator": self.evaluator, "values": self.values, "n": self.n,
                "notes": list(self.notes), "descriptive": True}  # fmt: skip


def param_importance(
    frame: pd.DataFrame,
    rows_by_metric: Mapping[str, Sequence[int]],
    params: Sequence[str],
    maximize: Mapping[str, bool],
    *,
    evaluator: str = "ped-anova",
    distributions: Mapping[str, Any] | None = None,
    log_params: Collection[str] = (),
) -> Importance:
    """The importance of `params` for each metric over the trials numbered in
    `rows_by_metric[metric]` (those its regression fitted). `distributions`: the study's
    own (Optuna's), where known."""
    if evaluator not in EVALUATORS:
        raise HptuiError(
            f"--importance: one of {', '.join(EVALUATORS)} or none (got {evaluator!r})"
        )
    chosen = _evaluator(evaluator)
    table = frame.set_index("number", drop=False)
    values: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    notes: list[str] = []
    for metric, numbers in rows_by_metric.items():
        rows = table.loc[[n for n in numbers if n in table.index]]
        if len(rows) < 2:
            continue
        varied = []
        dists: dict[str, Any] = {}
        for name in params:
            column = rows[name].astype(float)
            if column.nunique() < 2:
                continue
            given = (distributions or {}).get(name)
            if given is not None and _holds(given, column):
                dists[name] = given
            else:
                dists[name] = _inferred(column, name in log_params)
            varied.append(name)
        if not varied:
            continue
        sign = -1.0 if maximize.get(metric, True) else 1.0
        columns = {name: _native(rows[name], dists[name]) for name in varied}
        targets = sign * rows[metric].to_numpy(dtype=float)
        raw = _evaluate(chosen, columns, {name: dists[name] for name in varied}, targets)
        total = sum(raw.values())
        shares = {name: (float(raw[name]) / total if total > 0 else 0.0) for name in varied}
        values[metric] = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
        counts[metric] = len(rows)
        if total <= 0 or not all(math.isfinite(v) for v in shares.values()):
            notes.append(f"{metric}: no parameter stands out (every importance is 0)")
        top = math.ceil(0.1 * len(rows))
        if evaluator == "ped-anova" and top < MIN_TOP_TRIALS:
            notes.append(
                f"{metric}: PED-ANOVA compares the top 10% ({top} of {len(rows)} trials) with "
                f"all; below {MIN_TOP_TRIALS} there it is unstable"
            )
    return Importance(EVALUATORS[evaluator], values, counts, tuple(notes))


# A column of whole numbers with at most this many values is taken as a set of choices (a
# batch size of 16, 32 or 64), as a study's categorical parameter would be.
MAX_CHOICES = 16


def _inferred(column: pd.Series, log: bool) -> Any:
    """A distribution for a column without a study's space: its distinct whole numbers as
    choices when there are few, else its observed range (log-scaled where the fit is)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    values = column.to_numpy(dtype=float)
    distinct = sorted(set(values.tolist()))
    if len(distinct) <= MAX_CHOICES and all(v == int(v) for v in distinct):
        return CategoricalDistribution([int(v) for v in distinct])
    low, high = float(values.min()), float(values.max())
    return FloatDistribution(low, high, log=log and low > 0)


class _Trials:
    """The three things Optuna's evaluators read from a study (its complete trials, whether
    it is multi-objective, its directions), over ready-made frozen trials: copying 10,000
    trials into an in-memory study deep-copies each one (seconds), this does not."""

    def __init__(self, trials: list[Any]) -> None:
        from optuna.study import StudyDirection

        self._trials = trials
        self.directions = [StudyDirection.MINIMIZE]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        del deepcopy, states  # every trial here is COMPLETE; nothing is changed by a reader
        return list(self._trials)

    def _is_multi_objective(self) -> bool:
        return False


def _evaluate(
    evaluator: Any,
    columns: Mapping[str, list[Any]],
    distributions: Mapping[str, Any],
    targets: Any,
) -> dict[str, float]:
    """The evaluator's raw importances for trials with these parameter columns and (lower is
    better) targets; through a real in-memory Optuna study if the light view falls short (an
    Optuna version whose evaluators read more of the study)."""
    import datetime

    import optuna
    from optuna.trial import FrozenTrial, TrialState

    names = list(columns)
    now = datetime.datetime.now()
    trials = [
        FrozenTrial(
            number=k, state=TrialState.COMPLETE, value=float(targets[k]), datetime_start=now,
            datetime_complete=now, params={name: columns[name][k] for name in names},
            distributions=dict(distributions), user_attrs={}, system_attrs={},
            intermediate_values={}, trial_id=k,
        )
        for k in range(len(targets))
    ]  # fmt: skip
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return dict(evaluator.evaluate(_Trials(trials), params=names))
            except (AttributeError, TypeError):
                study = optuna.create_study(direction="minimize")
                study.add_trials(trials)
                return dict(evaluator.evaluate(study, params=names))
    finally:
        optuna.logging.set_verbosity(verbosity)


def _evaluator(name: str) -> Any:
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if name == "fanova":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise HptuiError(
                "--importance fanova needs scikit-learn (pip install scikit-learn); "
                "the default, ped-anova, does not"
            ) from None
        return FanovaImportanceEvaluator(seed=0)
    return PedAnovaImportanceEvaluator()


def _holds(distribution: Any, column: pd.Series) -> bool:
    """Whether every value lies in the distribution (a study's trials do; a changed space's
    may not, and then the observed range is used instead)."""
    try:
        return all(distribution._contains(distribution.to_internal_repr(v))
                   for v in _native(column, distribution))  # fmt: skip
    except (ValueError, TypeError):
        return False


def _native(column: pd.Series, distribution: Any) -> list[Any]:
    """The values as the distribution holds them: ints for an int range, the matching
    choice (16, not 16.0) for a categorical one, floats otherwise."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    values = column.to_numpy(dtype=float)
    if isinstance(distribution, IntDistribution):
        return [int(v) for v in values.round()]
    if isinstance(distribution, CategoricalDistribution):
        lookup = {float(c): c for c in distribution.choices
                  if isinstance(c, (int, float)) and not isinstance(c, bool)}  # fmt: skip
        return [lookup.get(v, v) for v in values.tolist()]
    return values.tolist()
