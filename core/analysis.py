"""One call from trials to the paper's analysis: regressions, advice, a narrower space.

The trials come from a stored study (through the read API), a CSV with one row per trial,
or a DataFrame; `analyze` fits every requested metric with the same options and derives
the advice. Front ends (`hptui analyze`, the console's analysis pane) render what this
returns: `Analysis.results` (coefficients, with Holm-adjusted p), `Analysis.advice`
(findings as tested contrasts, the trade-off table, optima) and, for plots, the functions
of `hptui.core.plots` on `Analysis.table` and the results.

For a study, its marks (`hptui.core.marks`) apply: excluded trials are left out (counted as
"excluded") unless `include_excluded`, and `relative_to="baseline"` uses the marked baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .advice import Advice, Optimum, advise
from .card_info import CARD_COLUMNS, CARD_INFO_ATTR
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

    def to_json(self) -> list[dict[str, Any]]:
        """One object per metric: metric, n, r2, adj_r2, warnings, terms (with p_holm), the
        findings as objects (parameter, from, to, change, std_err, p, direction...), the
        stated sentences (`advice`), the optimum and the multiple-testing note."""
        advice = self.advice.to_dict()
        out = []
        for metric, result in self.results.items():
            entry = result.to_dict()
            findings = self.advice.findings.get(metric, [])
            entry["findings"] = [_finding_json(f) for f in findings]
            entry["advice"] = [f.text for f in findings if f.stated]
            entry["cautions"] = self.advice.cautions.get(metric, [])
            entry["optimum"] = advice["optima"].get(metric)
            entry["multiple_testing"] = self.advice.multiple_testing
            entry["excluded"] = list(self.excluded)
            out.append(entry)
        return out

    def actionable_optimum(self, metric: str, force: bool = False) -> Optimum:
        """`metric`'s optimum if it may be acted on (queued, narrowed around), else an error
        saying why; `force` overrides a non-significant or thin fit, never a broken one."""
        optimum = self.advice.optima.get(metric)
        if optimum is None:
            raise HptuiError(f"no fitted optimum for {metric}: its regression could not be fitted")
        if optimum.breaks_down:
            raise HptuiError(
                f"no usable {metric} optimum: the fit breaks down ({optimum.breaks_down})"
            )
        if optimum.refusals and not force:
            raise HptuiError(
                f"the {metric} optimum is not reliable: {'; '.join(optimum.refusals)}; "
                "add --force to use it anyway"
            )
        return optimum

    def suggested_space(self, metric: str, force: bool = False) -> SearchSpace:
        """The narrower space around `metric`'s fitted optimum, inside the observed range, as a
        search space whose fixed settings (and unsearched parameters) come from the study."""
        optimum = self.actionable_optimum(metric, force)
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


def optimum_trial(analysis: Analysis, metric: str, force: bool = False) -> dict[str, Any]:
    """The fitted optimum of `metric` as trial parameters of the analysed study's space:
    categorical values snap to the nearest choice, integers round, floats clip to the box.
    Refused (see `Analysis.actionable_optimum`) unless the fit is usable or `force`."""
    optimum = analysis.actionable_optimum(metric, force)
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
    frame: pd.DataFrame | None = None,
    space: SearchSpace | None = None,
) -> Analysis:
    """Fit each metric on the chosen parameters and derive the advice: the whole analysis of
    a study (`study` + `storage_url`, its marks applied), a CSV (`csv_path`) or a trials
    table (`frame`, optionally with the `space` it was searched over)."""
    excluded = set(options.exclude)
    baseline: int | None = None
    if csv_path is not None:
        frame = read_trials_csv(csv_path)
        source = str(csv_path)
    elif study is not None and storage_url is not None:
        from .marks import load_marks

        frame, space = study_table(storage_url, study)
        source = f"study {study!r}"
        marks = load_marks(storage_url, study)
        if not options.include_excluded:
            excluded |= set(marks.excluded)
        baseline = marks.baseline
    elif frame is not None:
        source = str(frame.attrs.get("source", "trials table"))
    else:
        raise HptuiError("give a study name or --from-csv FILE")
    relative_to = _baseline_number(options.relative_to, baseline, source)
    params = options.params or default_params(frame, space)
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
        from .regression_design import guess_log_params
        from .trials_table import select_trials

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
    )
    results = holm_adjust(results)
    n_eval = options.n_eval or _n_eval(space)
    advice = advise(results, alpha=options.alpha, resolution=1 / n_eval if n_eval else None)
    logs: set[str] = set()
    for result in results.values():
        logs.update(result.log_params)
    return Analysis(
        source, options, tuple(params), results, advice, tuple(sorted(logs)), space, frame,
        tuple(sorted(excluded)), relative_to,
    )  # fmt: skip


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
    from .regression_warnings import holm_adjusted

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


def _finding_json(finding: Any) -> dict[str, Any]:
    """A finding as the JSON object the CLI prints: `from`/`to` rather than from_value."""
    data = finding.to_dict()
    data["from"] = data.pop("from_value")
    data["to"] = data.pop("to_value")
    return data


def parse_params(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else ()


def parse_numbers(text: str | None, option: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise HptuiError(f"{option}: expected trial numbers like 3,7,12 (got {text!r})") from None


__all__ = [
    "Analysis",
    "AnalysisOptions",
    "analyze",
    "default_params",
    "holm_adjust",
    "optimum_trial",
    "study_table",
]
