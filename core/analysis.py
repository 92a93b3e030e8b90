"""One call from trials to the paper's analysis: regressions, advice, a narrower space.

The trials come from a stored study (through the read API) or any CSV with one row per
trial; `analyze` fits every requested metric with the same options and derives the advice.
Front ends (`hptui analyze`, the TUI's regression pane) render what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .advice import Advice, advise
from .errors import HptuiError
from .read import METRICS, StudyReader
from .regression import RegressionResult, fit_metrics
from .space import ParamSpec, SearchSpace
from .trials_table import read_trials_csv

if TYPE_CHECKING:
    import pandas as pd

# Columns of a trials table that are bookkeeping, never hyperparameters to regress on.
NOT_PARAMS = {
    "number", "state", "reason", "duration_s", "value", "study", "seed", "eval_batch_size",
    *METRICS,
}  # fmt: skip
# A default parameter must be known for this share of the trials: one that few trials state
# (common in imported model cards) would shrink every fit to those few.
MIN_COVERAGE = 0.8


@dataclass(frozen=True)
class AnalysisOptions:
    metrics: tuple[str, ...] = ("f1", "accuracy", "loss")
    params: tuple[str, ...] = ()  # empty: every numeric parameter that varies
    raw: bool = False
    relative_to: int | None = None
    robust: bool = False
    alpha: float = 0.05
    exclude: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise HptuiError(f"--alpha must be between 0 and 1 (got {self.alpha})")
        if not self.metrics:
            raise HptuiError("--metric: name at least one metric, e.g. --metric f1")


@dataclass(frozen=True)
class Analysis:
    source: str
    options: AnalysisOptions
    params: tuple[str, ...]
    results: dict[str, RegressionResult]
    advice: Advice
    log_params: tuple[str, ...] = ()
    base_space: SearchSpace | None = field(default=None, repr=False)
    table: Any = field(default=None, repr=False, compare=False)  # the trials, for plots

    def to_json(self) -> list[dict[str, Any]]:
        """One object per metric: metric, n, r2, adj_r2, warnings, terms (and more)."""
        advice = self.advice.to_dict()
        out = []
        for metric, result in self.results.items():
            entry = result.to_dict()
            entry["advice"] = [f["text"] for f in advice["findings"].get(metric, [])]
            entry["optimum"] = advice["optima"].get(metric)
            out.append(entry)
        return out

    def suggested_space(self, metric: str) -> SearchSpace:
        """The narrower space around `metric`'s fitted optimum, as a search space whose
        fixed settings (and unsearched parameters) come from the analysed study."""
        optimum = self.advice.optima.get(metric)
        if optimum is None:
            raise HptuiError(f"no fitted optimum for {metric}: its regression could not be fitted")
        narrowed = []
        for name, bounds in optimum.space.items():
            integer = bool(bounds.get("integer"))
            low, high = bounds["low"], bounds["high"]
            narrowed.append(
                ParamSpec(
                    name,
                    "int" if integer else "float",
                    low=int(low) if integer else float(low),
                    high=int(high) if integer else float(high),
                    log=bool(bounds.get("log")),
                )
            )
        fixed: dict[str, Any] = {}
        others: list[ParamSpec] = []
        if self.base_space is not None:
            fixed = dict(self.base_space.fixed)
            others = [p for p in self.base_space.params if p.name not in optimum.space]
        return SearchSpace(params=(*narrowed, *others), fixed=fixed)


def optimum_trial(analysis: Analysis, metric: str) -> dict[str, Any]:
    """The fitted optimum of `metric` as trial parameters of the analysed study's space:
    categorical values snap to the nearest choice, integers round, floats clip to the box."""
    optimum = analysis.advice.optima.get(metric)
    if optimum is None:
        raise HptuiError(f"no fitted optimum for {metric}: its regression could not be fitted")
    if analysis.base_space is None:
        raise HptuiError("only a stored study's optimum can be queued as a trial")
    params: dict[str, Any] = {}
    for spec in analysis.base_space.params:
        if spec.name not in optimum.values:
            continue
        value = optimum.values[spec.name]
        if spec.type == "categorical":
            numeric = [c for c in spec.choices if isinstance(c, (int, float))]
            if numeric:
                params[spec.name] = min(numeric, key=lambda c: abs(c - value))
        elif spec.type in ("int", "float"):
            assert spec.low is not None and spec.high is not None
            clipped = min(max(value, spec.low), spec.high)
            params[spec.name] = round(clipped) if spec.type == "int" else clipped
    return params


def study_table(storage_url: str, study: str) -> tuple[pd.DataFrame, SearchSpace | None]:
    """A stored study's trials as a table, with the space it was searched over."""
    import pandas as pd

    reader = StudyReader(storage_url)
    info = reader.study(study)
    rows = []
    for trial in reader.trials(study):
        state = trial.state
        if trial.user_attrs.get("hptui.source") == "model card" and trial.metrics:
            state = "COMPLETE"  # a published fine-tune is finished, whatever metric it lacks
        row = {"number": trial.number, "state": state, **trial.params, **trial.metrics}
        rows.append(row)
    if not rows:
        raise HptuiError(f"study {study!r} has no trials to analyse yet")
    frame = pd.DataFrame(rows)
    frame.attrs["source"] = f"study {study!r}"
    return frame, info.settings.space if info.settings else None


def default_params(frame: pd.DataFrame, space: SearchSpace | None) -> tuple[str, ...]:
    """The searched numeric parameters (for a study), else every numeric column that
    varies and is not bookkeeping or a metric."""
    import pandas as pd

    if space is not None:
        candidates = [p.name for p in space.params if p.type != "fixed"]
    else:
        candidates = list(frame.columns)
    chosen = []
    for name in candidates:
        if name not in frame.columns or name in NOT_PARAMS:
            continue
        values = pd.to_numeric(frame[name], errors="coerce")
        if values.notna().mean() >= MIN_COVERAGE and values.nunique() > 1:
            chosen.append(name)
    if not chosen:
        raise HptuiError(
            "no numeric hyperparameter varies across these trials; name some with --params"
        )
    return tuple(chosen)


def analyze(
    options: AnalysisOptions,
    *,
    study: str | None = None,
    storage_url: str | None = None,
    csv_path: str | Path | None = None,
) -> Analysis:
    """Fit each metric on the chosen parameters and derive the advice."""
    space: SearchSpace | None = None
    if csv_path is not None:
        frame = read_trials_csv(csv_path)
        source = str(csv_path)
    elif study is not None and storage_url is not None:
        frame, space = study_table(storage_url, study)
        source = f"study {study!r}"
    else:
        raise HptuiError("give a study name or --from-csv FILE")
    params = options.params or default_params(frame, space)
    # A study's space says which parameters were searched on a log scale; otherwise (or if
    # none were) the regression guesses from the spread of the values.
    log_params = {p.name for p in space.params if p.log} if space is not None else None
    results = fit_metrics(
        frame,
        list(options.metrics),
        list(params),
        mode="raw" if options.raw else "scaled",
        log_params=log_params or None,
        exclude=options.exclude,
        robust=options.robust,
        relative_to=options.relative_to,
        alpha=options.alpha,
    )
    advice = advise(results, alpha=options.alpha)
    logs: set[str] = set()
    for result in results.values():
        logs.update(result.log_params)
    return Analysis(
        source, options, tuple(params), results, advice, tuple(sorted(logs)), space, frame
    )


def parse_params(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else ()


def parse_numbers(text: str | None, option: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise HptuiError(f"{option}: expected trial numbers like 3,7,12 (got {text!r})") from None


__all__ = ["Analysis", "AnalysisOptions", "analyze", "default_params", "study_table"]
