"""What the console's analysis tab shows and does, shaped from one `Analysis`.

The tab lays out what `hptui.core.analysis.analyze` returns; the little that is computed on
top of it lives here, typed and tested without a screen: the options behind the tab's
toggles, the plot data (the fitted curve with its trials, the correlation matrix, parallel
coordinates with the best trials flagged), and the two actions (queue the fitted optimum,
narrow the space into a new study) with the analysis core's refusals kept as the reason a
front end must show, never bypassed: only a refusal the CLI lets `--force` override is
marked as forceable.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .analysis import Analysis, AnalysisOptions, optimum_trial
from .errors import HptuiError
from .regression_findings import lower_is_better
from .space import SearchSpace

if TYPE_CHECKING:
    from .study import StudySettings

ALL_METRICS = ("f1", "accuracy", "loss")
METRIC_CHOICES = (*ALL_METRICS, "all")
NARROW_SUFFIX = "-narrow"


def view_options(metric: str, relative: bool, raw: bool) -> AnalysisOptions:
    """The analysis behind the tab's toggles: one metric or all three, absolute or relative
    to the study's marked baseline, scaled or raw features (the CLI's `--metric`,
    `--relative-to baseline` and `--raw`)."""
    if metric not in METRIC_CHOICES:
        raise HptuiError(f"metric: one of {', '.join(METRIC_CHOICES)} (got {metric!r})")
    metrics = ALL_METRICS if metric == "all" else (metric,)
    return AnalysisOptions(metrics=metrics, raw=raw, relative_to="baseline" if relative else None)


def action_metric(analysis: Analysis, objective: str | None) -> str:
    """The metric the plots and actions use: the one fitted, or with all three the study's
    objective (the first fitted metric when the objective was not fitted)."""
    metrics = list(analysis.results)
    return objective if objective in metrics else metrics[0]


def curve_panels(analysis: Analysis, metric: str) -> list[dict[str, Any]]:
    """Per fitted parameter: its fitted trials as points and the fitted curve with its 95%
    band (see `hptui.core.plots.scatter_with_fit`); x as log10 for log-scaled parameters,
    so a plot with a linear axis shows the scale the fit used."""
    from .plots import scatter_with_fit

    panels = scatter_with_fit(analysis.table, analysis.results[metric])
    for panel in panels:
        if panel["log"]:
            panel["x"] = [_log10(v) for v in panel["x"]]
            if panel["curve"] is not None:
                panel["curve"] = {**panel["curve"], "x": [_log10(v) for v in panel["curve"]["x"]]}
    return panels


def _log10(value: float | None) -> float | None:
    return math.log10(value) if value is not None and value > 0 else None


def heatmap(analysis: Analysis) -> dict[str, Any]:
    """Spearman correlations of the fitted parameters and metrics, over the trials the
    fits used (excluded trials left out)."""
    from .plots import correlation_matrix

    columns = [*analysis.params, *analysis.results]
    return correlation_matrix(analysis.table, columns, exclude=analysis.excluded)


def parallel_view(analysis: Analysis, metric: str, best: int = 3) -> dict[str, Any]:
    """Every complete, non-excluded trial as a line over the parameters' axes and `metric`'s,
    each in [0, 1] (log10 for log-scaled parameters); `lines[i]["best"]` flags the `best`
    trials by `metric` (lowest for loss-like metrics)."""
    from .plots import parallel_coordinates

    data = parallel_coordinates(
        analysis.table, list(analysis.params), [metric], log_params=analysis.log_params
    )
    excluded = set(analysis.excluded)
    lines = [
        line
        for line in data["lines"]
        if line["state"] == "COMPLETE"
        and line["number"] not in excluded
        and None not in line["values"]
    ]
    sign = 1.0 if lower_is_better(metric) else -1.0
    ranked = sorted(lines, key=lambda line: sign * line["raw"][-1])
    top = {line["number"] for line in ranked[:best]}
    for line in lines:
        line["best"] = line["number"] in top
    return {"axes": data["axes"], "lines": lines, "best": sorted(top)}


@dataclass(frozen=True)
class ActionPlan:
    """What an action would do, or why not. `refusal` is the analysis core's reason not to
    act; `forceable` says a confirmation may override it (as `--force` does in the CLI);
    `params` (a trial) or `space` (a narrower space) is what acting would write."""

    metric: str
    refusal: str | None = None
    forceable: bool = False
    params: dict[str, Any] | None = None
    space: SearchSpace | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def _refusal(analysis: Analysis, metric: str) -> str:
    optimum = analysis.advice.optima[metric]
    return f"the {metric} optimum is not reliable: {'; '.join(optimum.refusals)}"


def plan_enqueue(analysis: Analysis, metric: str) -> ActionPlan:
    """Queueing `metric`'s fitted optimum as a trial: its parameters, or the refusal."""
    try:
        return ActionPlan(metric, params=optimum_trial(analysis, metric))
    except HptuiError as refused:
        try:
            params = optimum_trial(analysis, metric, force=True)
        except HptuiError as broken:
            return ActionPlan(metric, refusal=str(broken))
        if not params:
            return ActionPlan(metric, refusal=str(refused))
        return ActionPlan(metric, _refusal(analysis, metric), True, params=params)


def plan_narrow(analysis: Analysis, metric: str) -> ActionPlan:
    """The narrower space around `metric`'s fitted optimum, or the refusal."""
    try:
        return ActionPlan(metric, space=analysis.suggested_space(metric))
    except HptuiError:
        try:
            space = analysis.suggested_space(metric, force=True)
        except HptuiError as broken:
            return ActionPlan(metric, refusal=str(broken))
        return ActionPlan(metric, _refusal(analysis, metric), True, space=space)


@dataclass(frozen=True)
class AnalysisView:
    """Everything the tab draws for one analysis, computed off the screen's thread:
    `metric` is the one the plots and actions use."""

    analysis: Analysis
    metric: str
    panels: list[dict[str, Any]]
    heatmap: dict[str, Any]
    parallel: dict[str, Any]
    enqueue: ActionPlan
    narrow: ActionPlan


def build_view(analysis: Analysis, objective: str | None) -> AnalysisView:
    """The plots' data and both actions' plans for `analysis` (see the functions above)."""
    metric = action_metric(analysis, objective)
    fitted = analysis.results[metric].fitted
    return AnalysisView(
        analysis,
        metric,
        curve_panels(analysis, metric) if fitted else [],
        heatmap(analysis),
        parallel_view(analysis, metric),
        plan_enqueue(analysis, metric),
        plan_narrow(analysis, metric),
    )


def suggest_study_name(storage_url: str, study: str) -> str:
    """`STUDY-narrow`, or `STUDY-narrow-2`, -3... when that name is taken."""
    from .read import StudyReader

    taken = {info.name for info in StudyReader(storage_url).studies()}
    name = study + NARROW_SUFFIX
    count = 2
    while name in taken:
        name = f"{study}{NARROW_SUFFIX}-{count}"
        count += 1
    return name


def narrow_settings_note(storage_url: str, study: str) -> str:
    """What the new study keeps from the analysed one (and what it cannot keep)."""
    from .study import load_settings

    settings = load_settings(study, storage_url)
    sampler = settings.sampler
    if sampler == "grid":
        return (
            f"objective {settings.objective} ({settings.direction}), sampler tpe (a grid needs "
            f"steps; the narrowed ranges have none), pruner {settings.pruner}, "
            f"seed {settings.seed}"
        )
    return (
        f"objective {settings.objective} ({settings.direction}), sampler {sampler}, "
        f"pruner {settings.pruner}, seed {settings.seed}"
    )


def create_narrow_study(storage_url: str, study: str, name: str, space: SearchSpace) -> str:
    """A new study `name` over `space` with the analysed study's other settings (a grid
    study's narrowed ranges are sampled with TPE). Refuses an existing name: nothing
    existing is rewritten. Returns the name."""
    from .read import StudyReader
    from .study import StudyError, create_study

    if name in {info.name for info in StudyReader(storage_url).studies()}:
        raise StudyError(f"a study {name!r} already exists; nothing was changed")
    create_study(name, narrow_settings(storage_url, study, space), storage_url)
    return name


def narrow_settings(storage_url: str, study: str, space: SearchSpace) -> StudySettings:
    """The analysed study's settings over the narrower `space` (a grid study's narrowed
    ranges have no steps, so they are sampled with TPE): what the new study is created
    with, shown first in the console's space form for review."""
    from .study import load_settings

    settings = load_settings(study, storage_url)
    sampler = "tpe" if settings.sampler == "grid" else settings.sampler
    return dataclasses.replace(settings, space=space, sampler=sampler)


def enqueue_optimum(storage_url: str, study: str, params: dict[str, Any]) -> None:
    """Queue the planned optimum in `study` (validated against its space by the core)."""
    from .study import enqueue

    enqueue(study, storage_url, params)


__all__ = [
    "ALL_METRICS",
    "METRIC_CHOICES",
    "ActionPlan",
    "AnalysisView",
    "action_metric",
    "build_view",
    "create_narrow_study",
    "curve_panels",
    "enqueue_optimum",
    "heatmap",
    "narrow_settings",
    "parallel_view",
    "plan_enqueue",
    "plan_narrow",
    "suggest_study_name",
    "view_options",
]
