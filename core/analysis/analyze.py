"""One call from trials to the paper's analysis: regressions, advice, a narrower space.

The trials come from a stored study (through the read API), a CSV with one row per trial,
or a DataFrame; `analyze` fits every requested metric with the same options and derives
the advice. Front ends (`hptui analyze`, the console's analysis pane) render what this
returns: `Analysis.results` (coefficients, with Holm-adjusted p), `Analysis.advice`
(findings as tested contrasts, the trade-off table, optima) and, for plots, the functions
of `hptui.core.analysis.plots` on `Analysis.table` and the results.

For a study, its marks (`hptui.core.studies.marks`) apply: excluded trials are left out (counted as
"excluded") unless `include_excluded`, and `relative_to="baseline"` uses the marked baseline.

Each metric's direction is decided once, explicitly (`Direction`): `minimize`/`maximize`
name it (`--minimize NAME`), else a study's direction for its objective metric, else the
name (loss, error, mse, cross_entropy, perplexity: lower-better), else higher-better. The
values each parameter can take come from a study's space (choices, grids), so curvatures,
optima, replicate groups and the narrower space use them. Optuna's own importance is
computed beside the fit (`importance`), marked descriptive.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.cards.info import CARD_COLUMNS, CARD_INFO_ATTR
from hptui.core.errors import HptuiError
from hptui.core.studies.reader import METRICS
from hptui.core.studies.space import ParamSpec, SearchSpace

from .advice import Advice, Optimum, advise
from .design import ANY_VALUE, Levels
from .findings import lower_is_better as name_says_lower
from .importance import EVALUATORS
from .regression import RegressionResult, fit_metrics
from .table import read_trials_csv

if TYPE_CHECKING:
    import pandas as pd

    from hptui.core.studies.store import Store

# Columns of a trials table that are bookkeeping, never hyperparameters to regress on.
NOT_PARAMS = {
    "number", "state", "reason", "duration_s", "value", "study", "seed", "eval_batch_size",
    "task", "dataset", "base_model", "architecture", "task_source", *METRICS,
}  # fmt: skip
BASELINE_MARK = "baseline"
# A default parameter must be known for this share of the trials: one that few trials state
# (common in imported model cards) would shrink every fit to those few.
MIN_COVERAGE = 0.8


@dataclass(frozen=True)
class AnalysisOptions:
    """What to fit and how. `relative_to`: a trial number, "baseline" (the study's marked
    baseline) or None (absolute). `exclude`: trials to leave out besides the study's excluded
    marks (which `include_excluded` ignores). `log`: parameters forced to a log scale (a
    study's space decides the others; a CSV's are guessed). `n_eval`: validation examples
    per trial, when known: accuracy cannot move by less than 1/n_eval."""

    metrics: tuple[str, ...] = ("f1", "accuracy", "loss")
    params: tuple[str, ...] = ()  # empty: every numeric parameter that varies
    raw: bool = False
    relative_to: int | str | None = None
    robust: bool = False
    alpha: float = 0.05
    exclude: tuple[int, ...] = ()
    include_excluded: bool = False
    log: tuple[str, ...] = ()
    n_eval: int | None = None
    minimize: tuple[str, ...] = ()  # metrics that are lower-better whatever their name
    maximize: tuple[str, ...] = ()  # metrics that are higher-better whatever their name
    importance: str | None = "ped-anova"  # an `importance.EVALUATORS` key, or None

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise HptuiError(f"--alpha must be between 0 and 1 (got {self.alpha})")
        if not self.metrics:
            raise HptuiError("--metric: name at least one metric, e.g. --metric f1")
        if isinstance(self.relative_to, str) and self.relative_to != BASELINE_MARK:
            raise HptuiError(
                f"--relative-to: a trial number or 'baseline' (got {self.relative_to!r})"
            )
        if self.n_eval is not None and self.n_eval < 1:
            raise HptuiError(f"--n-eval must be a positive number of examples (got {self.n_eval})")
        if self.log and self.raw:
            raise HptuiError("--log applies to the scaled mode; drop it or drop --raw")
        both = sorted(set(self.minimize) & set(self.maximize))
        if both:
            raise HptuiError(f"--minimize and --maximize both name {both[0]}; keep one")
        for option, names in (("--minimize", self.minimize), ("--maximize", self.maximize)):
            unknown = [n for n in names if n not in self.metrics]
            if unknown:
                raise HptuiError(
                    f"{option} {unknown[0]}: not a metric of this analysis (metrics: "
                    f"{', '.join(self.metrics)}); add --metric {unknown[0]}"
                )
        if self.importance is not None and self.importance not in EVALUATORS:
            raise HptuiError(
                f"--importance: one of {', '.join(EVALUATORS)} or none (got {self.importance!r})"
            )
        if "seed" in self.params:
            raise HptuiError(
                "--params seed: the seed is bookkeeping, never a hyperparameter; trials that "
                "differ only in their seed are replicates, whose spread is the seed noise"
            )


@dataclass(frozen=True)
class Direction:
    """Whether higher values of a metric are better, and what said so."""

    metric: str
    maximize: bool
    source: str

    def describe(self) -> str:
        return f"{'higher' if self.maximize else 'lower'} is better: {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {"maximize": self.maximize, "source": self.source}


def metric_directions(
    options: AnalysisOptions, objective: str | None = None, direction: str | None = None
) -> dict[str, Direction]:
    """Each metric's direction: --minimize/--maximize, else the study's direction for its
    objective, else its name (loss-like names are lower-better), else higher-better."""
    out = {}
    for metric in options.metrics:
        if metric in options.minimize:
            out[metric] = Direction(metric, False, "--minimize")
        elif metric in options.maximize:
            out[metric] = Direction(metric, True, "--maximize")
        elif objective == metric and direction in ("maximize", "minimize"):
            out[metric] = Direction(
                metric, direction == "maximize", f"the study's direction ({direction} {metric})"
            )
        elif name_says_lower(metric):
            out[metric] = Direction(
                metric, False, f"its name is loss-like (--maximize {metric} if not)"
            )
        else:
            out[metric] = Direction(
                metric, True, f"by default (--minimize {metric} if lower is better)"
            )
    return out


def space_levels(space: SearchSpace | None) -> dict[str, Levels]:
    """The values each searched parameter of a study can take: numeric choices, the grid
    of an int range (step 1 unless given) or a stepped float range, else any value."""
    if space is None:
        return {}
    out = {}
    for spec in space.params:
        if spec.type == "categorical":
            numeric = [c for c in spec.choices
                       if isinstance(c, (int, float)) and not isinstance(c, bool)]  # fmt: skip
            if numeric and len(numeric) == len(spec.choices):
                out[spec.name] = Levels(choices=tuple(sorted(float(c) for c in numeric)))
        elif spec.type == "int" and spec.low is not None:
            out[spec.name] = Levels(step=float(spec.step or 1), origin=float(spec.low))
        elif spec.type == "float" and spec.step is not None and spec.low is not None:
            out[spec.name] = Levels(step=float(spec.step), origin=float(spec.low))
        elif spec.type == "float":
            out[spec.name] = ANY_VALUE
    return out


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
    excluded: tuple[int, ...] = ()  # every trial left out as excluded (marks and options)
    relative_to: int | None = None  # the baseline trial actually used
    directions: dict[str, Direction] = field(default_factory=dict)
    objective: str | None = None  # the study's objective metric, when known
    # Optuna's importance per metric and parameter (shares of 1; descriptive, no test),
    # the evaluator that computed it, and its caveats. Empty when not computed.
    importance: dict[str, dict[str, float]] = field(default_factory=dict)
    importance_evaluator: str | None = None
    importance_notes: tuple[str, ...] = ()

    def lower_is_better(self, metric: str) -> bool:
        """The metric's direction as this analysis decided it (see `Direction`)."""
        direction = self.directions.get(metric)
        return not direction.maximize if direction is not None else name_says_lower(metric)

    @property
    def action_metric(self) -> str:
        """The metric an action (queue the optimum, narrow the space) uses: the study's
        objective when it was fitted, else the first metric."""
        metrics = list(self.results)
        return self.objective if self.objective in metrics else metrics[0]

    def to_json(self) -> list[dict[str, Any]]:
        """One object per metric: metric, n, r2, adj_r2, q2, warnings, terms (with p_holm),
        the fit's verdict (`fit`: established and why not), the findings as objects
        (parameter, from, to, change, std_err, p, p_holm, direction, stated, notes...), the
        stated sentences (`advice`), the optimum (with `actionable`), the direction, Optuna's
        importance (descriptive) and the multiple-testing note. Strict JSON: no NaN."""
        advice = self.advice.to_dict()
        out = []
        for metric, result in self.results.items():
            entry = result.to_dict()
            findings = self.advice.findings.get(metric, [])
            verdict = self.advice.fits.get(metric)
            entry["fit"] = verdict.to_dict() if verdict is not None else None
            entry["established"] = bool(verdict and verdict.established)
            entry["findings"] = [_finding_json(f) for f in findings]
            entry["advice"] = [f.text for f in findings if f.stated]
            entry["cautions"] = self.advice.cautions.get(metric, [])
            entry["optimum"] = advice["optima"].get(metric)
            entry["multiple_testing"] = self.advice.multiple_testing
            entry["excluded"] = list(self.excluded)
            direction = self.directions.get(metric)
            entry["direction"] = direction.to_dict() if direction is not None else None
            entry["importance"] = (
                {"evaluator": self.importance_evaluator, "descriptive": True,
                 "values": self.importance[metric]}
                if metric in self.importance else None
            )  # fmt: skip
            out.append(_strict(entry))
        return out

    def actionable_optimum(self, metric: str, force: bool = False) -> Optimum:
        """`metric`'s optimum if it may be acted on (queued, narrowed around), else an error
        saying why; `force` overrides a fit that is not established or thin, never one that
        breaks down."""
        optimum = self.advice.optima.get(metric)
        if optimum is None:
            raise HptuiError(f"no fitted optimum for {metric}: its regression could not be fitted")
        if optimum.breaks_down:
            raise HptuiError(
                f"no usable {metric} optimum: the fit breaks down ({optimum.breaks_down})"
            )
        if optimum.refusals and not force:
            raise HptuiError(
                f"the {metric} optimum is not reliable (not established): "
                f"{'; '.join(optimum.refusals)}; add --force to use it anyway"
            )
        return optimum

    def suggested_space(self, metric: str, force: bool = False) -> SearchSpace:
        """The narrower space around `metric`'s fitted optimum, inside the observed range, as a
        search space whose fixed settings (and unsearched parameters) come from the study.
        A parameter keeps its kind: a categorical one stays categorical (the choices inside
        the narrowed range, at least two where it had two), a stepped range keeps its step."""
        optimum = self.actionable_optimum(metric, force)
        base = {p.name: p for p in self.base_space.params} if self.base_space else {}
        narrowed = [_narrowed_param(name, bounds, base.get(name))
                    for name, bounds in optimum.space.items()]  # fmt: skip
        fixed: dict[str, Any] = {}
        others: list[ParamSpec] = []
        if self.base_space is not None:
            fixed = dict(self.base_space.fixed)
            others = [p for p in self.base_space.params if p.name not in optimum.space]
        return SearchSpace(params=(*narrowed, *others), fixed=fixed)


def _narrowed_param(name: str, bounds: Mapping[str, Any], base: ParamSpec | None) -> ParamSpec:
    """One parameter of the narrower space, of the kind the study gave it."""
    low, high = bounds["low"], bounds["high"]
    if base is not None and base.type == "categorical":
        wanted = bounds.get("choices") or [low, high]
        chosen = tuple(
            c for c in base.choices
            if isinstance(c, (int, float)) and not isinstance(c, bool)
            and any(math.isclose(float(c), w, rel_tol=1e-9) for w in wanted)
        )  # fmt: skip
        return ParamSpec(name, "categorical", choices=chosen or base.choices)
    integer = bool(bounds.get("integer")) if base is None else base.type == "int"
    step = base.step if base is not None else None
    log = bool(bounds.get("log")) if base is None else base.log
    if integer:
        low, high = round(low), round(high)
    elif step is None:
        low, high = _rounded_outward(float(low), float(high), base)
    if not low < high:
        return ParamSpec(name, "fixed", value=low if integer else float(low))
    return ParamSpec(
        name, "int" if integer else "float",
        low=low if integer else float(low), high=high if integer else float(high),
        log=log, step=(int(step) if integer else float(step)) if step is not None else None,
    )  # fmt: skip


def _rounded_outward(low: float, high: float, base: ParamSpec | None) -> tuple[float, float]:
    """Float bounds to 4 significant digits, rounded outward (the narrowed range is kept
    whole) and clipped to the study's own bounds: `7.449e-05`, not `7.448259879193542e-05`,
    in the form and the TOML a user reads."""

    def rounded(value: float, up: bool) -> float:
        if value == 0 or not math.isfinite(value):
            return value
        scale = 10 ** (math.floor(math.log10(abs(value))) - 3)
        steps = math.ceil(value / scale) if up else math.floor(value / scale)
        return float(f"{steps * scale:.4g}")

    new_low, new_high = rounded(low, up=False), rounded(high, up=True)
    if base is not None and base.low is not None and base.high is not None:
        new_low, new_high = max(new_low, float(base.low)), min(new_high, float(base.high))
    if base is not None and base.log and new_low <= 0:
        new_low = low
    return new_low, new_high


@dataclass(frozen=True)
class QueuedOptimum:
    """What queueing an optimum would enqueue (`params`, values of the study's space) and
    what to say about it: each value snapped to a value the space allows, and an existing
    trial with the same parameters (`existing`: its number)."""

    metric: str
    params: dict[str, Any]
    notes: tuple[str, ...] = ()
    existing: int | None = None


def plan_queue(analysis: Analysis, metric: str, force: bool = False) -> QueuedOptimum:
    """The fitted optimum of `metric` as trial parameters of the analysed study's space, and
    what was snapped on the way: the search already keeps to the values each parameter can
    take (`Optimum.snapped`); left over are values clipped to the space's bounds, rounded to
    its grid or matched to a choice. Refused (see `Analysis.actionable_optimum`) unless the
    fit is established or `force`."""
    import numpy as np

    optimum = analysis.actionable_optimum(metric, force)
    if analysis.base_space is None:
        raise HptuiError("only a stored study's optimum can be queued as a trial")
    params: dict[str, Any] = {}
    notes = [
        f"{name}: the fitted curve's best, {_g(fitted)}, is not a value the study can take; "
        f"snapped to {_g(taken)}, the best of those it can"
        for name, (fitted, taken) in optimum.snapped.items()
    ]
    for spec in analysis.base_space.params:
        if spec.name not in optimum.values:
            continue
        value = optimum.values[spec.name]
        queued: Any
        if spec.type == "categorical":
            numeric = [c for c in spec.choices
                       if isinstance(c, (int, float)) and not isinstance(c, bool)]  # fmt: skip
            if not numeric:
                continue
            queued = min(numeric, key=lambda c: abs(c - value))
        elif spec.type in ("int", "float"):
            assert spec.low is not None and spec.high is not None
            clipped = min(max(value, spec.low), spec.high)
            if spec.step is not None:
                k = round((clipped - spec.low) / spec.step)
                clipped = min(spec.low + k * spec.step, spec.high)
            queued = round(clipped) if spec.type == "int" else float(clipped)
        else:
            continue
        params[spec.name] = queued
        if not math.isclose(float(queued), value, rel_tol=1e-9, abs_tol=1e-12):
            notes.append(f"{spec.name}: {_g(value)} snapped to the space's grid: {_g(queued)}")
    existing = None
    table = analysis.table
    if params and table is not None and all(name in table.columns for name in params):
        import pandas as pd

        values = table[list(params)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        target = np.array([float(v) for v in params.values()])
        same = np.isclose(values, target, rtol=1e-9, atol=1e-12).all(axis=1)
        if same.any():
            row = table[same].iloc[0]
            existing = int(row["number"])
            shown = row.get(metric)
            result = f", {metric} {_g(float(shown))}" if _is_number(shown) else ""
            notes.append(
                f"these are the parameters of trial #{existing} ({row['state']}{result}): the "
                "queued trial repeats it (a replicate, which measures the seed noise)"
            )
    return QueuedOptimum(metric, params, tuple(notes), existing)


def optimum_trial(analysis: Analysis, metric: str, force: bool = False) -> dict[str, Any]:
    """The fitted optimum of `metric` as trial parameters of the analysed study's space
    (see `plan_queue`, which also says what was snapped)."""
    return plan_queue(analysis, metric, force).params


def _g(value: Any) -> str:
    from .checks import fmt

    return fmt(float(value))


def _is_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def study_table(store: Store, study: str) -> tuple[pd.DataFrame, SearchSpace | None]:
    """A stored study's trials as a table, with the space it was searched over."""
    import pandas as pd

    info = store.study(study)
    rows = []
    for trial in store.trials(study):
        # The stored state, as `hptui trials` shows it: a model card without the study's
        # objective is a FAIL trial in both (import with that metric as --objective instead).
        card = trial.user_attrs.get(CARD_INFO_ATTR)
        card = card if isinstance(card, dict) else {}
        card_info = {k: v for k, v in card.items() if k in CARD_COLUMNS}
        row = {"number": trial.number, "state": trial.state, **trial.params, **trial.metrics,
               **card_info}  # fmt: skip
        rows.append(row)
    if not rows:
        raise HptuiError(f"study {study!r} has no trials to analyse yet")
    frame = pd.DataFrame(rows)
    frame.attrs["source"] = f"study {study!r}"
    return frame, info.settings.space if info.settings else None


def default_params(
    frame: pd.DataFrame, space: SearchSpace | None, metrics: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The searched numeric parameters (for a study), else every numeric column that
    varies and is not bookkeeping or a metric (hptui's own, one of `metrics`, or a column
    named like one: `val_acc`, `eval_loss`; `--params` can still name it)."""
    import pandas as pd

    from .findings import lower_is_better, metric_kind

    if space is not None:
        candidates = [p.name for p in space.params if p.type != "fixed"]
    else:
        candidates = [c for c in frame.columns
                      if metric_kind(str(c)) == "any" and not lower_is_better(str(c))]  # fmt: skip
    chosen = []
    for name in candidates:
        if name not in frame.columns or name in NOT_PARAMS or name in metrics:
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
    store: Store | None = None,
    csv_path: str | Path | None = None,
    frame: pd.DataFrame | None = None,
    space: SearchSpace | None = None,
) -> Analysis:
    """Fit each metric on the chosen parameters and derive the advice: the whole analysis of
    a study (`study` in `store`, its marks applied), a CSV (`csv_path`) or a trials
    table (`frame`, optionally with the `space` it was searched over)."""
    excluded = set(options.exclude)
    baseline: int | None = None
    objective: str | None = None
    study_direction: str | None = None
    if csv_path is not None:
        frame = read_trials_csv(csv_path)
        source = str(csv_path)
    elif study is not None and store is not None:
        frame, space = study_table(store, study)
        source = f"study {study!r}"
        settings = store.study(study).settings
        if settings is not None:
            objective, study_direction = settings.objective, settings.direction
        marks = store.marks(study)
        if not options.include_excluded:
            excluded |= set(marks.excluded)
        baseline = marks.baseline
    elif frame is not None:
        source = str(frame.attrs.get("source", "trials table"))
    else:
        raise HptuiError("give a study name or --from-csv FILE")
    from .table import as_trials_frame

    frame = as_trials_frame(frame)  # number and state filled in, one name per column
    relative_to = _baseline_number(options.relative_to, baseline, source)
    params = options.params or default_params(frame, space, options.metrics)
    both = [p for p in params if p in options.metrics]
    if both:
        raise HptuiError(
            f"{both[0]} is both a metric and a parameter of this analysis; drop it from "
            "--params or from --metric"
        )
    unknown_log = [p for p in options.log if p not in params]
    if unknown_log:
        raise HptuiError(
            f"--log {unknown_log[0]}: not a fitted parameter (parameters: {', '.join(params)})"
        )
    # A study's space says which parameters are log-scaled; a CSV's are guessed from the
    # spread of the values; --log forces one either way.
    log_params: set[str] | None
    if space is not None:
        log_params = {p.name for p in space.params if p.log} | set(options.log)
    elif options.log:
        from .design import guess_log_params
        from .table import select_trials

        usable = select_trials(frame, list(params)).frame
        log_params = guess_log_params(usable, params) | set(options.log)
    else:
        log_params = None
    results = fit_metrics(
        frame,
        list(options.metrics),
        list(params),
        mode="raw" if options.raw else "scaled",
        log_params=log_params,
        exclude=tuple(sorted(excluded)),
        robust=options.robust,
        relative_to=relative_to,
        alpha=options.alpha,
        levels=space_levels(space),
    )
    results = holm_adjust(results)
    n_eval = options.n_eval or _n_eval(space)
    directions = metric_directions(options, objective, study_direction)
    lower = {m for m, d in directions.items() if not d.maximize}
    advice = advise(results, alpha=options.alpha, lower=lower,
                    resolution=1 / n_eval if n_eval else None)  # fmt: skip
    advice = dataclasses.replace(
        advice, directions={m: d.describe() for m, d in directions.items()}
    )
    logs: set[str] = set()
    for result in results.values():
        logs.update(result.log_params)
    importance, evaluator, importance_notes = _importance(
        options, frame, results, params, directions, space, logs
    )
    return Analysis(
        source, options, tuple(params), results, advice, tuple(sorted(logs)), space, frame,
        tuple(sorted(excluded)), relative_to, directions=directions, objective=objective,
        importance=importance, importance_evaluator=evaluator,
        importance_notes=importance_notes,
    )  # fmt: skip


def _importance(
    options: AnalysisOptions,
    frame: pd.DataFrame,
    results: Mapping[str, RegressionResult],
    params: tuple[str, ...] | list[str],
    directions: Mapping[str, Direction],
    space: SearchSpace | None,
    logs: set[str],
) -> tuple[dict[str, dict[str, float]], str | None, tuple[str, ...]]:
    """Optuna's importance over each fit's trials; a failure inside Optuna is a note, not a
    failed analysis (it is descriptive, beside the regression)."""
    if options.importance is None:
        return {}, None, ()
    from .importance import param_importance
    from .table import numeric_columns

    rows = {m: r.numbers for m, r in results.items() if r.fitted}
    if not rows:
        return {}, None, ()
    table = numeric_columns(frame, [*params, *rows])
    distributions = space.distributions() if space is not None else None
    try:
        found = param_importance(
            table, rows, list(params), {m: d.maximize for m, d in directions.items()},
            evaluator=options.importance, distributions=distributions, log_params=logs,
        )  # fmt: skip
    except HptuiError:
        raise
    except Exception as exc:  # Optuna's evaluators on odd data: say so, keep the analysis
        return {}, EVALUATORS[options.importance], (f"importance not computed: {exc!r}",)
    return found.values, found.evaluator, found.notes


def _baseline_number(wanted: int | str | None, marked: int | None, source: str) -> int | None:
    if wanted != BASELINE_MARK:
        return wanted if isinstance(wanted, int) else None
    if marked is None:
        raise HptuiError(
            f"--relative-to baseline: {source} has no marked baseline; mark one in the console "
            "or give a trial number"
        )
    return marked


def _n_eval(space: SearchSpace | None) -> int | None:
    """Validation examples per trial when the study fixes them (`eval_limit`)."""
    if space is None:
        return None
    limit = space.fixed.get("eval_limit")
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def holm_adjust(results: Mapping[str, RegressionResult]) -> dict[str, RegressionResult]:
    """Each non-intercept term's p adjusted by Holm's method over every such term of every
    metric (all were tested at once); the intercept keeps NaN."""
    from .checks import holm_adjusted

    keys = [(m, t.term) for m, r in results.items() for t in r.terms if t.term != "const"]
    if not keys:
        return dict(results)
    raw = [results[m].term(name).p for m, name in keys]  # type: ignore[union-attr]
    adjusted = dict(zip(keys, holm_adjusted(raw), strict=True))
    out = {}
    for metric, result in results.items():
        terms = tuple(
            dataclasses.replace(t, p_holm=float(adjusted[(metric, t.term)]))
            if (metric, t.term) in adjusted else t
            for t in result.terms
        )  # fmt: skip
        out[metric] = dataclasses.replace(result, terms=terms)
    return out


def _strict(value: Any) -> Any:
    """Plain JSON data: non-finite floats become None, tuples lists (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _strict(value.item())
    return value


def _finding_json(finding: Any) -> dict[str, Any]:
    """A finding as the JSON object the CLI prints: `from`/`to` rather than from_value."""
    data = finding.to_dict()
    data["from"] = data.pop("from_value")
    data["to"] = data.pop("to_value")
    return data


__all__ = [
    "Analysis",
    "AnalysisOptions",
    "Direction",
    "QueuedOptimum",
    "analyze",
    "default_params",
    "holm_adjust",
    "metric_directions",
    "optimum_trial",
    "plan_queue",
    "space_levels",
    "study_table",
]
