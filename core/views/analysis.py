"""What the console's analysis tab shows and does, shaped from one `Analysis`.

The tab lays out what `hptui.core.analysis.analyze.analyze` returns; the little that is computed on
top of it lives here, typed and tested without a screen: the options behind the tab's
toggles, the plot data (the fitted curve with its trials, the correlation matrix, parallel
coordinates with the best trials flagged), and the two actions (queue the fitted optimum,
narrow the space into a new study) with the analysis core's refusals kept as the reason a
front end must show, never bypassed: only a refusal the CLI lets `--force` override is
marked as forceable.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hptui.core.analysis.analyze import Analysis, AnalysisOptions, plan_queue
from hptui.core.errors import HptuiError
from hptui.core.studies.marks import Marks
from hptui.core.studies.space import SearchSpace

if TYPE_CHECKING:
    from hptui.core.studies.reader import TrialCursor
    from hptui.core.studies.settings import StudySettings
    from hptui.core.studies.store import Store

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


def curve_panels(analysis: Analysis, metric: str) -> list[dict[str, Any]]:
    """Per fitted parameter: its fitted trials as points and the fitted curve with its 95%
    band (see `hptui.core.analysis.plots.scatter_with_fit`); x as log10 for log-scaled parameters,
    so a plot with a linear axis shows the scale the fit used."""
    from hptui.core.analysis.plots import scatter_with_fit

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
    from hptui.core.analysis.plots import correlation_matrix

    columns = [*analysis.params, *analysis.results]
    return correlation_matrix(analysis.table, columns, exclude=analysis.excluded)


def parallel_view(analysis: Analysis, metric: str, best: int = 3) -> dict[str, Any]:
    """Every complete, non-excluded trial as a line over the parameters' axes and `metric`'s,
    each in [0, 1] (log10 for log-scaled parameters); `lines[i]["best"]` flags the `best`
    trials by `metric` (lowest for loss-like metrics)."""
    from hptui.core.analysis.plots import parallel_coordinates

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
    sign = 1.0 if analysis.lower_is_better(metric) else -1.0
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
    notes: tuple[str, ...] = ()  # e.g. a value snapped to the grid, an existing trial repeated

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def _refusal(analysis: Analysis, metric: str) -> str:
    optimum = analysis.advice.optima[metric]
    return f"the {metric} optimum is not reliable: {'; '.join(optimum.refusals)}"


def plan_enqueue(analysis: Analysis, metric: str) -> ActionPlan:
    """Queueing `metric`'s fitted optimum as a trial: its parameters and what was snapped
    on the way (to the space's grid or choices, or onto an existing trial), or the refusal."""
    try:
        queued = plan_queue(analysis, metric)
        return ActionPlan(metric, params=queued.params, notes=queued.notes)
    except HptuiError as refused:
        try:
            queued = plan_queue(analysis, metric, force=True)
        except HptuiError as broken:
            return ActionPlan(metric, refusal=str(broken))
        if not queued.params:
            return ActionPlan(metric, refusal=str(refused))
        return ActionPlan(
            metric, _refusal(analysis, metric), True, params=queued.params, notes=queued.notes
        )


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
    metric = (
        objective
        if objective is not None and objective in analysis.results
        else analysis.action_metric
    )
    fitted = analysis.results[metric].fitted
    return AnalysisView(
        analysis,
        metric,
        curve_panels(analysis, metric) if fitted else [],
        heatmap(analysis),
        parallel_view(analysis, metric),
        plan_enqueue(analysis, metric),
        plan_narrow(analysis, objective or metric)
        if objective is None or objective in analysis.results
        else ActionPlan(
            metric,
            refusal=f"a narrower space follows the study's objective ({objective}), which this "
            f"view did not fit: press m to show {objective} (or all three metrics)",
        ),
    )


def narrow_settings_note(settings: StudySettings) -> str:
    """What a narrowed study keeps from the analysed one's `settings` (and what it cannot)."""
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


@dataclass(frozen=True)
class AnalysisRequest:
    """The tab's toggles: which metric (or "all"), absolute or relative, scaled or raw, and
    whether the user chose the metric (if not, the study's objective is shown)."""

    metric: str = "f1"
    relative: bool = False
    raw: bool = False
    metric_chosen: bool = False


@dataclass(frozen=True)
class AnalysisSnapshot:
    """One analysis as the tab shows it: the view (None when relative fits were asked for
    and no baseline is marked), the marks it used, the study's objective and the metric
    actually fitted."""

    view: AnalysisView | None
    marks: Marks
    objective: str | None
    metric: str
    request: AnalysisRequest


class AnalysisFeed:
    """Fits a study's analysis when it is worth fitting again, headless and thread-safe.

    `poll(request)` refits the first time, when the request (the toggles) changed, when a
    trial finished since the last look, or when the marks changed; otherwise it returns
    None after two cheap reads (the trial changes since a cursor, and the marks)."""

    def __init__(self, store: Store, study: str) -> None:
        self.store = store
        self.study = study
        self._cursor: TrialCursor | None = None
        self._marks: Marks | None = None
        self._request: AnalysisRequest | None = None
        self._lock = threading.Lock()

    def poll(self, request: AnalysisRequest, *, force: bool = False) -> AnalysisSnapshot | None:
        """A new snapshot if anything changed (or `force`), else None."""
        from hptui.core.studies.reader import FINISHED, TrialCursor

        with self._lock:
            if self._cursor is None:
                _, self._cursor = self.store.trial_changes(self.study, TrialCursor())
                force = True
            else:
                changed, self._cursor = self.store.trial_changes(self.study, self._cursor)
                force = force or any(row.state in FINISHED or row.lost for row in changed)
            marks = self.store.marks(self.study)
            if not force and marks == self._marks and request == self._request:
                return None
            self._marks, self._request = marks, request
            return self._fit(request, marks)

    def _fit(self, request: AnalysisRequest, marks: Marks) -> AnalysisSnapshot:
        from hptui.core.analysis.analyze import analyze

        settings = self.store.settings(self.study)
        objective = settings.objective if settings else None
        metric = request.metric
        if not request.metric_chosen and objective is not None and objective in METRIC_CHOICES:
            metric = objective
        if request.relative and marks.baseline is None:
            return AnalysisSnapshot(None, marks, objective, metric, request)
        analysis = analyze(
            view_options(metric, request.relative, request.raw), study=self.study, store=self.store
        )
        return AnalysisSnapshot(build_view(analysis, objective), marks, objective, metric, request)


__all__ = [
    "ALL_METRICS",
    "METRIC_CHOICES",
    "ActionPlan",
    "AnalysisFeed",
    "AnalysisRequest",
    "AnalysisSnapshot",
    "AnalysisView",
    "build_view",
    "curve_panels",
    "heatmap",
    "narrow_settings_note",
    "parallel_view",
    "plan_enqueue",
    "plan_narrow",
    "view_options",
]
