"""From fits to advice: which fits are established, findings in words, cross-metric trade-offs,
an optimum and a narrower space.

**An established fit** (`fit_verdicts`): the gate for every finding and for the optimum. A
metric's fit is established when all of

1. it is significant as a whole: its F-test p, after Holm's correction over every metric
   fitted in the same analysis (they are tested at once), is below alpha;
2. it is predictive: its leave-one-out predictive R² (Q² = 1 - PRESS/TSS, from the hat
   matrix) is above 0, i.e. it predicts a trial it was not fitted on better than the plain
   mean of the trials does;
3. where replicate trials (the same setting run more than once) allow the test, the
   lack-of-fit F test is not significant: the fitted shape leaves no structure larger than
   the seed noise unexplained.

Without replicates the analysis says that seed noise was not measured. The findings
(`findings`) are tested contrasts over the observed ranges, stated only under the rules in
that module's doc; the text, the trade-off table and the JSON all render those objects, so
they cannot disagree.

**The optimum** is searched only inside the observed box and only over values each parameter
can take (a study's choices and grids, whole numbers for integer columns): the continuous
best point is kept as `fitted_point`, and what was snapped is listed. A prediction outside
the metric's possible range (accuracy and F1 in [0, 1], loss >= 0) is reported as the fit
breaking down, never as a result. It is printed as a result, and may be acted on (queued,
narrowed around), only when its fit is established, at least one of its findings is
established, and the fit has at least 2 trials per term:
`Optimum.refusals` says why not otherwise; `--force` overrides every refusal but a fit that
breaks down.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .checks import MIN_TRIALS_PER_TERM, fmt, fmt_p, holm_adjusted, trials_per_term
from .design import ParamTransform
from .findings import (
    Finding,
    FitVerdict,
    Judge,
    findings_for,
    holm,
    lower_is_better,
    metric_range,
    outside_range,
    settle,
)
from .regression import Prediction, RegressionResult

__all__ = [
    "Advice",
    "Finding",
    "FitVerdict",
    "Optimum",
    "advise",
    "describe_terms",
    "find_optimum",
    "fit_verdicts",
    "lower_is_better",
    "metric_range",
    "optimum_lines",
    "trade_off_table",
]

# Up to this many free parameters the continuous optimum is found exactly (3^d faces).
EXACT_DIMENSIONS = 10
# Up to this many combinations of the discrete parameters' values are tried one by one
# (the continuous ones re-optimised for each); beyond, the values next to the continuous
# optimum are, and beyond that again only the nearest.
MAX_COMBINATIONS = 64


@dataclass(frozen=True)
class Optimum:
    """The best fitted value inside the observed box, over values the parameters can take,
    its 95% prediction interval and a narrower space. `prediction` is on the metric's own
    scale (the baseline added back in relative fits). `fitted_point` is the best point when
    every parameter may take any value in the box; `snapped` lists the parameters moved
    from it to a value they can take (name: (fitted, taken)). `breaks_down` says the
    prediction is impossible for the metric: the fit does not describe the data there, so
    the point is not a result. `refusals` lists why the optimum is not a result to act on
    (queued, or narrowed around) unforced; `actionable` is true when there are none.
    `best_observed` is the best fitted trial (number, value) for comparison.
    """

    metric: str
    maximize: bool
    values: dict[str, float]
    prediction: Prediction
    at_edge: dict[str, str]
    space: dict[str, dict[str, Any]]
    notes: tuple[str, ...] = ()
    breaks_down: str | None = None
    refusals: tuple[str, ...] = ()
    fitted_point: dict[str, float] = field(default_factory=dict)
    snapped: dict[str, tuple[float, float]] = field(default_factory=dict)
    model: str = "quadratic"
    best_observed: tuple[int, float] | None = None
    unsupported: tuple[str, ...] = ()  # parameters with no established finding

    @property
    def actionable(self) -> bool:
        return not self.refusals

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["actionable"] = self.actionable
        return data


@dataclass(frozen=True)
class Advice:
    """Everything `advise` found, as data for a screen and as lines for a terminal.

    `fits[metric]`: whether that fit is established and why not; `findings[metric]`: every
    tested contrast (stated or not, see `Finding.stated`); `trade_offs`: one row per table
    term, its cells built from those same findings; `cautions[metric]`: the fit's warnings
    and each finding significant on its own but not established, with the reasons.
    `directions[metric]`: how the metric's direction was decided, in words.
    """

    findings: dict[str, list[Finding]]
    trade_offs: list[dict[str, Any]]
    optima: dict[str, Optimum]
    cautions: dict[str, list[str]] = field(default_factory=dict)
    multiple_testing: str = ""
    fits: dict[str, FitVerdict] = field(default_factory=dict)
    alpha: float = 0.05
    directions: dict[str, str] = field(default_factory=dict)

    def stated(self, metric: str) -> list[Finding]:
        return [f for f in self.findings.get(metric, []) if f.stated]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": {m: [f.to_dict() for f in fs] for m, fs in self.findings.items()},
            "trade_offs": self.trade_offs,
            "optima": {m: o.to_dict() for m, o in self.optima.items()},
            "cautions": self.cautions,
            "multiple_testing": self.multiple_testing,
            "fits": {m: v.to_dict() for m, v in self.fits.items()},
            "directions": self.directions,
        }

    def metric_lines(self, metric: str, skip: Collection[str] = ()) -> list[tuple[str, str]]:
        """One metric's advice as (kind, text) lines, kind one of heading, fit, noise,
        caution, finding, not-established, none, optimum; `skip`: cautions already shown
        (a front end that prints the warnings beside the fit)."""
        out: list[tuple[str, str]] = []
        heading = f"{metric}:"
        if metric in self.directions:
            heading = f"{metric} ({self.directions[metric]}):"
        out.append(("heading", heading))
        findings = self.findings.get(metric, [])
        verdict = self.fits.get(metric)
        if verdict is not None:
            out.append(("fit", fit_line(verdict, self.alpha)))
            if verdict.seed_noise:
                out.append(("noise", verdict.seed_noise))
        out += [("caution", f"caution: {c}") for c in self.cautions.get(metric, [])
                if c not in skip and not c.startswith(NOT_ESTABLISHED)]  # fmt: skip
        stated = [f for f in findings if f.stated]
        out += [("finding", f.text) for f in stated]
        tempting = [f for f in findings if f.significant and not f.stated]
        if not stated:
            if tempting:
                out.append((
                    "none",
                    f"no finding established: {len(tempting)} contrast(s) with p < "
                    f"{self.alpha:g} on their own, none passing the rules (listed below)",
                ))  # fmt: skip
            elif findings:
                out.append(("none", f"no finding established: no contrast has p < {self.alpha:g}"))
            else:
                out.append(("none", "no finding established: nothing was fitted"))
        out += [("not-established", c) for c in self.cautions.get(metric, [])
                if c.startswith(NOT_ESTABLISHED)]  # fmt: skip
        optimum = self.optima.get(metric)
        if optimum is not None:
            out += [("optimum", line) for line in optimum_lines(optimum)]
        return out

    def lines(self) -> list[str]:
        """The fits' verdicts, findings, cautions and optima as plain text lines (what
        `hptui analyze` prints under "advice")."""
        out: list[str] = []
        for metric in self.findings:
            for kind, text in self.metric_lines(metric):
                out.append(text if kind == "heading" else f"  {text}")
        if self.multiple_testing:
            out.append(self.multiple_testing)
        return out


NOT_ESTABLISHED = "not established: "


def fit_line(verdict: FitVerdict, alpha: float) -> str:
    """The fit's verdict in one line, with the numbers it rests on."""
    if verdict.established:
        numbers = f"F-test {_p(verdict.f_pvalue)}"
        if math.isfinite(verdict.f_pvalue_holm) and verdict.f_pvalue_holm != verdict.f_pvalue:
            numbers += f", Holm over the metrics {_p(verdict.f_pvalue_holm)}"
        numbers += f"; predictive R² (leave-one-out) {_q2(verdict.q2)}"
        if verdict.lack_of_fit_p is not None:
            numbers += f"; lack of fit {_p(verdict.lack_of_fit_p)}"
        return f"fit established ({numbers})"
    return f"fit not established: {'; '.join(verdict.reasons)}"


def _p(p: float) -> str:
    """`p = 0.041` or `p < 0.0001`; a dash when there is no p."""
    return fmt_p(p) if math.isfinite(p) else "p –"


def _q2(q2: float) -> str:
    return "−inf" if q2 == -math.inf else f"{q2:.2f}".replace("-", "−")


def optimum_lines(optimum: Optimum) -> list[str]:
    """The optimum in words. A fit that breaks down, or one not established, says so and
    prints no number as a result (`--format json` keeps them, marked not actionable)."""
    kind = "maximum" if optimum.maximize else "minimum"
    if optimum.breaks_down:
        return [
            f"no {kind} reported: the fit breaks down in the searched box "
            f"({optimum.breaks_down}); the {optimum.model} fit does not describe these "
            "trials there"
        ]
    if optimum.refusals:
        return [
            f"no {kind} established: {'; '.join(optimum.refusals)} (--force acts on the "
            "fitted point anyway)"
        ]
    where = ", ".join(f"{k} = {fmt(v)}" for k, v in optimum.values.items())
    p = optimum.prediction
    lines = [
        f"fitted {kind} in the observed box: {where} -> {optimum.metric} {fmt(p.mean)} "
        f"(95% prediction interval {fmt(p.pred_low)} to {fmt(p.pred_high)})"
    ]
    if optimum.best_observed is not None:
        number, value = optimum.best_observed
        lines.append(f"best observed trial: #{number}, {optimum.metric} {fmt(value)}")
    for name, (fitted, taken) in optimum.snapped.items():
        if name in optimum.unsupported:
            continue  # where the fit puts it is not established; the space keeps its range
        lines.append(
            f"{name}: the fitted curve's best is {fmt(fitted)}; {fmt(taken)} is the best value "
            "it can take"
        )
    lines += list(optimum.notes)
    return lines


def fit_verdicts(results: Mapping[str, RegressionResult], alpha: float) -> dict[str, FitVerdict]:
    """Whether each fit is established (the rules in the module doc), with its reasons."""
    fitted = [m for m, r in results.items() if r.fitted and math.isfinite(r.f_pvalue)]
    adjusted = dict(zip(fitted, holm_adjusted([results[m].f_pvalue for m in fitted]),
                        strict=True))  # fmt: skip
    out = {}
    for metric, result in results.items():
        noise = _noise_sentence(result)
        if not result.fitted:
            out[metric] = FitVerdict(metric, False, ("nothing was fitted",), seed_noise=noise)
            continue
        reasons = []
        p_holm = adjusted.get(metric, math.nan)
        if not p_holm < alpha:
            shown = f"F-test {_p(result.f_pvalue)}"
            if len(fitted) > 1:
                shown += f", {_p(p_holm)} after Holm over the {len(fitted)} metrics fitted"
            reasons.append(f"not significant as a whole ({shown}; needs < {alpha:g})")
        if not result.q2 > 0:
            reasons.append(
                f"not predictive (leave-one-out predictive R² {_q2(result.q2)} <= 0: it "
                "predicts a trial it was not fitted on no better than the mean of the others)"
            )
        lof = result.lack_of_fit
        if lof is not None and lof.p < alpha:
            reasons.append(
                f"missing structure larger than the seed noise (lack-of-fit F = {fmt(lof.f)} on "
                f"{lof.df_lof} and {lof.df_pe} df, {_p(lof.p)}): the {result.model} fit does "
                "not describe the replicated settings"
            )
        out[metric] = FitVerdict(
            metric, not reasons, tuple(reasons), result.f_pvalue, p_holm, result.q2,
            lof.p if lof is not None else None, noise,
        )  # fmt: skip
    return out


def _noise_sentence(result: RegressionResult) -> str:
    """What the replicate trials measured, or that seed noise was not measured."""
    noise = result.seed_noise
    if not result.fitted:
        return ""
    if noise is None:
        return (
            "seed noise not measured: no two fitted trials share a setting, so no effect is "
            "checked against re-runs and lack of fit is not tested"
        )
    if not noise.measured:
        return (
            f"seed noise not measured: the {noise.groups} replicate group(s) agree exactly "
            "(re-runs with the same seed?), so lack of fit is not tested"
        )
    text = (
        f"seed noise (pure error of {noise.groups} replicate group(s), {noise.trials} trials): "
        f"sd {fmt(noise.sd)} on {noise.df} df; a finding must be larger"
    )
    if result.lack_of_fit is None:
        text += "; lack of fit not testable (no more distinct settings than terms)"
    return text


def advise(
    results: Mapping[str, RegressionResult],
    alpha: float = 0.05,
    lower: Collection[str] | None = None,
    shrink: float = 0.5,
    resolution: float | None = None,
) -> Advice:
    """Fit verdicts, findings per metric, the trade-off table and each metric's optimum and
    narrower space.

    `lower`: the lower-is-better metrics (default: guessed from the name: loss, error, mse,
    cross_entropy, perplexity). `resolution`: the smallest step of accuracy-like metrics
    (1/n_eval), when known; changes below it, or below the seed noise, are not stated.
    """
    judge = Judge(alpha, lower, resolution)
    verdicts = fit_verdicts(results, alpha)
    findings = settle(holm({m: findings_for(r, judge) for m, r in results.items()}), verdicts,
                      alpha)  # fmt: skip
    cautions: dict[str, list[str]] = {}
    optima = {}
    for metric, result in results.items():
        cautions[metric] = list(result.warnings)
        for f in findings[metric]:
            if f.significant and not f.stated:
                cautions[metric].append(f"{NOT_ESTABLISHED}{f.text}: {'; '.join(f.notes)}")
        if result.fitted:
            stated = [f for f in findings[metric] if f.stated]
            supported = {f.parameter for f in stated} | {f.other for f in stated if f.other}
            optimum = find_optimum(
                result, not lower_is_better(metric, lower), shrink, supported=supported
            )
            optima[metric] = _with_refusals(
                optimum, result, verdicts[metric], any(f.stated for f in findings[metric])
            )
    return Advice(
        findings, trade_off_table(findings, lower), optima, cautions,
        multiple_testing_note(findings, alpha), verdicts, alpha,
    )  # fmt: skip


def multiple_testing_note(findings: Mapping[str, list[Finding]], alpha: float) -> str:
    """How many contrasts were tested at once, and how many survive Holm's correction."""
    flat = [f for fs in findings.values() for f in fs]
    if not flat:
        return ""
    raw = sum(1 for f in flat if f.p < alpha)
    adjusted = sum(1 for f in flat if f.p_holm < alpha)
    stated = sum(1 for f in flat if f.stated)
    return (
        f"multiple testing: {len(flat)} contrasts tested at once; with p < {alpha:g} on their "
        f"own: {raw} ({fmt(len(flat) * alpha)} expected by chance alone if nothing mattered); "
        f"after Holm's correction (p_holm): {adjusted}; established: {stated}"
    )


def _with_refusals(
    optimum: Optimum, result: RegressionResult, verdict: FitVerdict, any_stated: bool
) -> Optimum:
    """Why the optimum is not a result: the fit breaks down there, is not established, has
    no established finding (the optimum would rest on effects none of which passed the
    rules), or has fewer than 2 trials per term."""
    import dataclasses

    reasons = []
    if optimum.breaks_down:
        reasons.append(f"the fit breaks down ({optimum.breaks_down})")
    reasons += [f"the {result.metric} fit is {reason}" for reason in verdict.reasons]
    if verdict.established and not any_stated:
        reasons.append(
            f"no finding of the {result.metric} fit is established, so its optimum rests on "
            "effects none of which passed the rules"
        )
    per_term = trials_per_term(result.n, len(result.terms))
    if per_term < MIN_TRIALS_PER_TERM:
        reasons.append(
            f"{result.n} trials for {len(result.terms)} terms ({per_term:.1f} per term; "
            f"at least {MIN_TRIALS_PER_TERM:g} needed)"
        )
    return dataclasses.replace(optimum, refusals=tuple(reasons))


def describe_terms(
    result: RegressionResult, alpha: float = 0.05, lower: Collection[str] | None = None
) -> list[Finding]:
    """The stated findings of one fit (its fit established, Holm over its own contrasts,
    possible and large enough), strongest first: "learning_rate 2e-05 → 5e-05: f1 −0.012 ±
    0.001, worse (p = 0.004, Holm p = 0.02)"."""
    judge = Judge(alpha, lower)
    verdicts = fit_verdicts({result.metric: result}, alpha)
    settled = settle(holm({result.metric: findings_for(result, judge)}), verdicts, alpha)
    return [f for f in settled[result.metric] if f.stated]


def trade_off_table(
    findings: Mapping[str, Sequence[Finding]], lower: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Per finding term (a parameter's change, its curvature, an interaction), each metric's
    change, p, direction and whether it is stated, and a verdict.

    A term "agrees" when every metric where it is stated moves the same way in terms of
    better/worse (a rise in accuracy and a drop in loss agree), "trade-off" when it helps
    some and hurts others; with fewer than two stated metrics: "only <metric>" or "none
    established". Built from the findings, so it always matches the text.
    """
    del lower  # the direction words already account for it
    names: list[str] = []
    for fs in findings.values():
        names += [f.term for f in fs if f.term not in names]
    rows = []
    for name in names:
        cells: dict[str, dict[str, Any]] = {}
        for metric, fs in findings.items():
            found = next((f for f in fs if f.term == name), None)
            if found is None:
                cells[metric] = {"change": None, "p": None, "p_holm": None, "sign": "",
                                 "direction": None, "significant": False}  # fmt: skip
                continue
            cells[metric] = {
                "change": found.change,
                "p": found.p,
                "p_holm": found.p_holm,
                "sign": "+" if found.change > 0 else "−" if found.change < 0 else "0",
                "direction": found.direction,
                "significant": found.stated,
            }
        stated = {m: c["direction"] for m, c in cells.items() if c["significant"]}
        if len(stated) >= 2:
            verdict = "agrees" if len(set(stated.values())) == 1 else "trade-off"
        elif stated:
            verdict = f"only {next(iter(stated))}"
        else:
            verdict = "none established"
        rows.append({"term": name, "cells": cells, "verdict": verdict})
    return rows


def find_optimum(
    result: RegressionResult,
    maximize: bool = True,
    shrink: float = 0.5,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    supported: Collection[str] | None = None,
) -> Optimum:
    """The best predicted value of the fit inside the box (the observed range of each
    parameter, or `bounds` narrowed to it) over the values each parameter can take (its
    `Levels`: choices, a grid, whole numbers), and a space `shrink` times as wide around it
    (on the log scale for log-scaled parameters), moved to stay inside the box.

    A parameter without any term in the fit (all dropped as not estimable) is held at the
    value nearest its centre and keeps its whole range in the space. `supported`: the
    parameters with an established finding (None: all); any other keeps its whole observed
    range in the space too, and gets no advice to widen: where the fit puts its best value
    is not established."""
    import numpy as np

    spec = result.spec
    if spec is None or not result.fitted:
        raise ValueError(f"no model was fitted for {result.metric}")
    bounds = bounds or {}
    box = []
    for p in spec.params:
        lo, hi = bounds.get(p.name, (p.low, p.high))
        box.append((max(lo, p.low), min(hi, p.high)))
    lows = [p.encode(lo) for p, (lo, _) in zip(spec.params, box, strict=True)]
    highs = [p.encode(hi) for p, (_, hi) in zip(spec.params, box, strict=True)]
    c, b, a = _quadratic(result, lows, highs)
    sign = 1.0 if maximize else -1.0
    in_model = {i for term in spec.terms for i in term}

    def t_of(index: int, value: float) -> float:
        width = highs[index] - lows[index]
        return 0.0 if width == 0 else (spec.params[index].encode(value) - lows[index]) / width

    def value_of(index: int, t: float) -> float:
        return spec.params[index].decode(lows[index] + t * (highs[index] - lows[index]))

    held: dict[int, float] = {}
    notes: list[str] = []
    for i, p in enumerate(spec.params):
        if i not in in_model:
            lo, hi = box[i]
            held[i] = t_of(i, p.levels.nearest(p.reference, lo, hi))
            notes.append(
                f"{p.name} is not in the fitted model (its terms were dropped as not "
                "estimable): held at its centre"
            )
    t_free, _ = _solve(c, b, a, sign, held)
    fitted_point = {p.name: value_of(i, float(t_free[i])) for i, p in enumerate(spec.params)}
    discrete = [i for i, p in enumerate(spec.params)
                if not p.levels.continuous and i not in held]  # fmt: skip
    best_t = t_free
    if discrete:
        options = _discrete_options(spec.params, box, discrete, fitted_point)
        best_value = -math.inf
        for combo in itertools.product(*options):
            fixed = {**held, **{i: t_of(i, v) for i, v in zip(discrete, combo, strict=True)}}
            t, value = _solve(c, b, a, sign, fixed)
            if value > best_value:
                best_t, best_value = t, value
    values = {p.name: value_of(i, float(best_t[i])) for i, p in enumerate(spec.params)}
    for i in discrete:  # exactly the value it takes, not its round trip through the features
        p = spec.params[i]
        values[p.name] = p.levels.nearest(values[p.name], *box[i])
    snapped = {
        p.name: (fitted_point[p.name], values[p.name])
        for i, p in enumerate(spec.params)
        if i in discrete and not math.isclose(fitted_point[p.name], values[p.name],
                                              rel_tol=1e-6, abs_tol=1e-12)
    }  # fmt: skip
    u = spec.features(values)
    prediction = result.predict_features(u)
    if result.baseline_metric is not None:
        shift = result.baseline_metric
        prediction = Prediction(*(v + shift for v in asdict(prediction).values()))
    at_edge, space = {}, {}
    for i, (param, (lo, hi)) in enumerate(zip(spec.params, box, strict=True)):
        value = values[param.name]
        t = _position(param, value, lo, hi)
        if i in held:
            space[param.name] = _narrow(param, lo, hi, 0.5, 1.0, value)
            continue
        if supported is not None and param.name not in supported:
            space[param.name] = _narrow(param, lo, hi, 0.5, 1.0, value)
            notes.append(
                f"{param.name}: no established effect on {result.metric}, so the space keeps "
                "its whole observed range"
            )
            continue
        if t < 1e-6 or t > 1 - 1e-6:
            at_edge[param.name] = "low" if t < 0.5 else "high"
            notes.append(
                f"{param.name}: the optimum is at the {at_edge[param.name]} edge of the observed "
                "range; the best value may lie beyond it, so consider widening there instead"
            )
        space[param.name] = _narrow(param, lo, hi, t, shrink, value)
    problem = outside_range(result.metric, prediction.mean)
    if problem is None and not np.isfinite(prediction.mean):
        problem = f"{result.metric} is not a finite number there"
    unsupported = tuple(p.name for p in spec.params
                        if supported is not None and p.name not in supported)  # fmt: skip
    return Optimum(
        result.metric, maximize, values, prediction, at_edge, space, tuple(notes), problem,
        fitted_point=fitted_point, snapped=snapped, model=result.model,
        best_observed=_best_observed(result, maximize), unsupported=unsupported,
    )  # fmt: skip


def _best_observed(result: RegressionResult, maximize: bool) -> tuple[int, float] | None:
    observed = result.observed
    if not observed or len(observed) != len(result.numbers):
        return None
    pick = max if maximize else min
    index = pick(range(len(observed)), key=lambda k: observed[k])
    return int(result.numbers[index]), float(observed[index])


def _discrete_options(
    params: Sequence[ParamTransform],
    box: Sequence[tuple[float, float]],
    discrete: Sequence[int],
    fitted_point: Mapping[str, float],
) -> list[list[float]]:
    """The values to try for each discrete parameter: all of them while the combinations
    stay few, else the ones next to the continuous optimum, else only the nearest."""
    every = [params[i].levels.inside(*box[i]) for i in discrete]
    if all(v is not None for v in every) and math.prod(len(v or ()) for v in every) <= (
        MAX_COMBINATIONS
    ):
        return [list(v or ()) or [params[i].levels.nearest(fitted_point[params[i].name], *box[i])]
                for v, i in zip(every, discrete, strict=True)]  # fmt: skip
    near = [params[i].levels.around(fitted_point[params[i].name], *box[i]) for i in discrete]
    if math.prod(len(v) for v in near) <= MAX_COMBINATIONS:
        return near
    return [[params[i].levels.nearest(fitted_point[params[i].name], *box[i])] for i in discrete]


def _solve(c: float, b: Any, a: Any, sign: float, fixed: Mapping[int, float]) -> tuple[Any, float]:
    """Maximise sign * (c + b·t + t'At) over t in [0, 1]^d with `fixed` coordinates given."""
    import numpy as np

    d = len(b)
    t = np.zeros(d)
    for i, v in fixed.items():
        t[i] = v
    free = [i for i in range(d) if i not in fixed]
    if free:
        fixed_idx = [i for i in range(d) if i in fixed]
        tf = t[fixed_idx]
        c_r = c + float(b[fixed_idx] @ tf) + float(tf @ a[np.ix_(fixed_idx, fixed_idx)] @ tf)
        b_r = b[free] + 2 * a[np.ix_(free, fixed_idx)] @ tf
        a_r = a[np.ix_(free, free)]
        t[free] = _best_in_unit_box(c_r, b_r, a_r, sign)
    with np.errstate(all="ignore"):
        value = float(sign * (c + b @ t + t @ a @ t))
    return t, value if math.isfinite(value) else -math.inf


def _position(param: ParamTransform, value: float, low: float, high: float) -> float:
    """Where `value` lies between low (0) and high (1), on the parameter's own scale."""
    lo, hi, v = param.encode(low), param.encode(high), param.encode(value)
    return 0.5 if hi == lo else (v - lo) / (hi - lo)


def _quadratic(
    result: RegressionResult, lows: Sequence[float], highs: Sequence[float]
) -> tuple[float, Any, Any]:
    """c, b, A of the fit as a function of t in [0, 1]^d, u = low + t (high - low)."""
    import numpy as np

    assert result.spec is not None
    d = len(lows)
    lo, width = np.asarray(lows), np.asarray(highs) - np.asarray(lows)
    b_u, a_u, c_u = np.zeros(d), np.zeros((d, d)), 0.0
    for term, est in zip(result.spec.terms, result.terms, strict=True):
        if not term:
            c_u = est.coef
        elif len(term) == 1:
            b_u[term[0]] += est.coef
        else:
            a_u[term[0], term[1]] += est.coef / 2
            a_u[term[1], term[0]] += est.coef / 2
    c = c_u + b_u @ lo + lo @ a_u @ lo
    b = width * (b_u + 2 * a_u @ lo)
    a = np.outer(width, width) * a_u
    return c, b, a


def _best_in_unit_box(c: float, b: Any, a: Any, sign: float) -> list[float]:
    """Maximise sign * (c + b·t + t'At) over [0, 1]^d: stationary points of every face."""
    import numpy as np

    d = len(b)
    candidates: list[Any] = []
    if d <= EXACT_DIMENSIONS:
        for states in itertools.product((0, 1, 2), repeat=d):  # 0 low, 1 high, 2 free
            t = np.array([float(s) if s < 2 else 0.0 for s in states])
            free = [i for i, s in enumerate(states) if s == 2]
            if free:
                fixed = [i for i in range(d) if i not in free]
                rhs = -(b[free] + 2 * a[np.ix_(free, fixed)] @ t[fixed])
                try:
                    t[free] = np.linalg.solve(2 * a[np.ix_(free, free)], rhs)
                except np.linalg.LinAlgError:
                    continue
                if not np.all(np.isfinite(t[free])):
                    continue
                if np.any(t[free] < -1e-9) or np.any(t[free] > 1 + 1e-9):
                    continue
            candidates.append(np.clip(t, 0.0, 1.0))
    else:
        rng = np.random.default_rng(0)
        candidates = list(rng.random((20000, d))) + list(itertools.product((0.0, 1.0), repeat=d))
    with np.errstate(all="ignore"):
        values = [sign * (c + b @ t + t @ a @ t) for t in map(np.asarray, candidates)]
    values = [v if math.isfinite(v) else -math.inf for v in values]
    return [float(v) for v in candidates[int(np.argmax(values))]]


def _narrow(
    param: ParamTransform, low: float, high: float, t: float, shrink: float, value: float
) -> dict[str, Any]:
    """A range `shrink` times as wide as [low, high] around position t, inside [low, high]
    (on a grid: its ends moved outwards to grid values; for choices: the choices inside, at
    least two when the box has two), then clipped back into the observed range."""
    from .design import pow10

    log = param.log
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    unscale = pow10 if log else (lambda v: v)
    lo, hi = scale(low), scale(high)
    width = shrink * (hi - lo)
    center = lo + t * (hi - lo)
    start = min(max(center - width / 2, lo), hi - width)
    new_low, new_high = unscale(start), unscale(start + width)
    levels = param.levels
    out: dict[str, Any] = {"log": log, "integer": param.integer}
    if levels.choices:
        box = levels.inside(low, high) or [value]
        chosen = [c for c in box if new_low - 1e-12 <= c <= new_high + 1e-12]
        if value not in chosen:
            chosen.append(value)
        while len(chosen) < min(2, len(box)):  # the nearest other choice, on the fit's scale
            rest = [c for c in box if c not in chosen]
            chosen.append(min(rest, key=lambda c: abs(param.encode(c) - param.encode(value))))
        chosen = sorted(chosen)
        out.update(low=chosen[0], high=chosen[-1], choices=chosen)
        return out
    if levels.step is not None:
        step, origin = levels.step, levels.origin
        new_low = origin + math.floor((new_low - origin) / step + 1e-9) * step
        new_high = origin + math.ceil((new_high - origin) / step - 1e-9) * step
        if new_high <= new_low:
            new_high = new_low + step
        out["step"] = step
    new_low, new_high = max(new_low, low), min(new_high, high)
    out.update(low=new_low, high=new_high)
    return out
