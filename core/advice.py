"""From fits to advice: findings in words, cross-metric trade-offs, an optimum, a narrower space.

The findings (`regression_findings`) are tested contrasts over the observed ranges; the
text, the trade-off table and the JSON all render those objects, so they cannot disagree.
The optimum is searched only inside the observed box (integers rounded), and a prediction
outside the metric's possible range (accuracy and F1 in [0, 1], loss >= 0) is reported as
the fit breaking down, never as a result. Acting on an optimum (queueing it, narrowing the
space around it) needs a fit that is significant as a whole and has enough trials per term:
`Optimum.refusals` says why not otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .regression import Prediction, RegressionResult
from .regression_design import ParamTransform
from .regression_findings import (
    Finding,
    Judge,
    findings_for,
    holm,
    lower_is_better,
    metric_range,
    outside_range,
)
from .regression_warnings import MIN_TRIALS_PER_TERM, fmt, fmt_p, trials_per_term

__all__ = [
    "Advice",
    "Finding",
    "Optimum",
    "advise",
    "describe_terms",
    "find_optimum",
    "lower_is_better",
    "metric_range",
    "trade_off_table",
]

# Up to this many parameters the optimum is found exactly (every face of the box, 3^d).
EXACT_DIMENSIONS = 10
# Up to this many integer parameters every floor/ceil combination of the optimum is tried.
EXACT_ROUNDING = 8


@dataclass(frozen=True)
class Optimum:
    """The best fitted value inside the observed box, its 95% prediction interval and a
    narrower space. `prediction` is on the metric's own scale (the baseline added back in
    relative fits). `breaks_down` says the prediction is impossible for the metric: the
    quadratic does not describe the data there, so the point is not a result. `refusals`
    lists why the optimum should not be acted on (queued, or narrowed around) unforced.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Advice:
    """Everything `advise` found, as data for a screen and as lines for a terminal.

    `findings[metric]`: every tested contrast (stated or not, see `Finding.stated`);
    `trade_offs`: one row per table term, its cells built from those same findings.
    """

    findings: dict[str, list[Finding]]
    trade_offs: list[dict[str, Any]]
    optima: dict[str, Optimum]
    cautions: dict[str, list[str]] = field(default_factory=dict)
    multiple_testing: str = ""

    def stated(self, metric: str) -> list[Finding]:
        return [f for f in self.findings.get(metric, []) if f.stated]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": {m: [f.to_dict() for f in fs] for m, fs in self.findings.items()},
            "trade_offs": self.trade_offs,
            "optima": {m: o.to_dict() for m, o in self.optima.items()},
            "cautions": self.cautions,
            "multiple_testing": self.multiple_testing,
        }

    def lines(self) -> list[str]:
        """The findings, cautions and optima as plain text lines (what `hptui analyze` prints
        under "advice")."""
        out: list[str] = []
        for metric, findings in self.findings.items():
            out.append(f"{metric}:")
            out += [f"  caution: {c}" for c in self.cautions.get(metric, [])]
            stated = [f for f in findings if f.stated]
            out += [f"  {f.text}" for f in stated] or ["  no significant terms"]
            optimum = self.optima.get(metric)
            if optimum is not None:
                out += [f"  {line}" for line in optimum_lines(optimum)]
        if self.multiple_testing:
            out.append(self.multiple_testing)
        return out


def optimum_lines(optimum: Optimum) -> list[str]:
    """The optimum in words; a broken-down fit says so instead of printing a number."""
    kind = "maximum" if optimum.maximize else "minimum"
    if optimum.breaks_down:
        return [
            f"no {kind} reported: the fit breaks down in the searched box "
            f"({optimum.breaks_down}); the quadratic does not describe these trials there"
        ]
    where = ", ".join(f"{k} = {fmt(v)}" for k, v in optimum.values.items())
    p = optimum.prediction
    lines = [
        f"fitted {kind} in the observed box: {where} -> {optimum.metric} {fmt(p.mean)} "
        f"(95% prediction interval {fmt(p.pred_low)} to {fmt(p.pred_high)})"
    ]
    if optimum.refusals:  # no advice to widen a range on a fit too weak to act on
        lines += [f"not acted on unless forced: {r}" for r in optimum.refusals]
    else:
        lines += list(optimum.notes)
    return lines


def advise(
    results: Mapping[str, RegressionResult],
    alpha: float = 0.05,
    lower: Collection[str] | None = None,
    shrink: float = 0.5,
    resolution: float | None = None,
) -> Advice:
    """Findings per metric, the trade-off table and each metric's optimum and narrower space.

    `lower`: the lower-is-better metrics (default: guessed from the name: loss, error,
    perplexity). `resolution`: the smallest step of accuracy-like metrics (1/n_eval), when
    known; significant changes below it, or below the seed noise, are not stated.
    """
    judge = Judge(alpha, lower, resolution)
    findings = holm({m: findings_for(r, judge) for m, r in results.items()})
    cautions: dict[str, list[str]] = {}
    optima = {}
    for metric, result in results.items():
        cautions[metric] = list(result.warnings)
        if result.fitted and not result.f_pvalue < alpha:
            cautions[metric].append(
                f"the model as a whole is not significant (F-test {fmt_p(result.f_pvalue)}); "
                "treat its optimum as a guess"
            )
        for f in findings[metric]:
            if f.significant and not f.stated:
                cautions[metric].append(f"not a finding: {f.text}: {'; '.join(f.notes)}")
        if result.fitted:
            optimum = find_optimum(result, not lower_is_better(metric, lower), shrink)
            optima[metric] = _with_refusals(optimum, result, alpha)
    return Advice(
        findings, trade_off_table(findings, lower), optima, cautions,
        multiple_testing_note(findings, alpha),
    )  # fmt: skip


def multiple_testing_note(findings: Mapping[str, list[Finding]], alpha: float) -> str:
    """How many contrasts were tested at once, and how many survive Holm's correction."""
    flat = [f for fs in findings.values() for f in fs]
    if not flat:
        return ""
    raw = sum(1 for f in flat if f.p < alpha)
    adjusted = sum(1 for f in flat if f.p_holm < alpha)
    return (
        f"multiple testing: {len(flat)} contrasts tested at once; {raw} significant at "
        f"alpha {alpha:g} ({fmt(len(flat) * alpha)} expected by chance alone if nothing "
        f"mattered), {adjusted} after Holm's correction (p_holm)"
    )


def _with_refusals(optimum: Optimum, result: RegressionResult, alpha: float) -> Optimum:
    import dataclasses

    reasons = []
    if optimum.breaks_down:
        reasons.append(f"the fit breaks down ({optimum.breaks_down})")
    if not result.f_pvalue < alpha:
        reasons.append(
            f"the {result.metric} fit is not significant as a whole "
            f"(F-test {fmt_p(result.f_pvalue)} >= alpha {alpha:g})"
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
    """The stated findings of one fit (significant, possible and large enough), strongest
    first: "learning_rate 2e-05 → 5e-05: f1 −0.012 ± 0.001, worse (p = 0.004)"."""
    return [f for f in findings_for(result, Judge(alpha, lower)) if f.stated]


def trade_off_table(
    findings: Mapping[str, Sequence[Finding]], lower: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Per finding term (a parameter's change, its curvature, an interaction), each metric's
    change, p, direction and whether it is stated, and a verdict.

    A term "agrees" when every metric where it is stated moves the same way in terms of
    better/worse (a rise in accuracy and a drop in loss agree), "trade-off" when it helps
    some and hurts others; with fewer than two stated metrics: "only <metric>" or "none
    significant". Built from the findings, so it always matches the text.
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
            verdict = "none significant"
        rows.append({"term": name, "cells": cells, "verdict": verdict})
    return rows


def find_optimum(
    result: RegressionResult,
    maximize: bool = True,
    shrink: float = 0.5,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> Optimum:
    """The best predicted value of the fitted quadratic inside the box (the observed range of
    each parameter, or `bounds` narrowed to it), integer parameters rounded to the best
    whole values, and a space `shrink` times as wide around it (on the log scale for
    log-scaled parameters), moved to stay inside the box."""
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
    best_t = _best_in_unit_box(c, b, a, sign)
    values = {
        p.name: p.decode(lo + t * (hi - lo))
        for p, t, lo, hi in zip(spec.params, best_t, lows, highs, strict=True)
    }
    values = _round_integers(result, values, box, sign)
    u = spec.features(values)
    prediction = result.predict_features(u)
    if result.baseline_metric is not None:
        shift = result.baseline_metric
        prediction = Prediction(*(v + shift for v in asdict(prediction).values()))
    at_edge, space, notes = {}, {}, []
    for param, (lo, hi) in zip(spec.params, box, strict=True):
        value = values[param.name]
        t = _position(param, value, lo, hi)
        if t < 1e-6 or t > 1 - 1e-6:
            at_edge[param.name] = "low" if t < 0.5 else "high"
            notes.append(
                f"{param.name}: the optimum is at the {at_edge[param.name]} edge of the observed "
                "range; the best value may lie beyond it, so consider widening there instead"
            )
        space[param.name] = _narrow(param, lo, hi, t, shrink)
    problem = outside_range(result.metric, prediction.mean)
    return Optimum(
        result.metric, maximize, values, prediction, at_edge, space, tuple(notes), problem
    )


def _position(param: ParamTransform, value: float, low: float, high: float) -> float:
    """Where `value` lies between low (0) and high (1), on the parameter's own scale."""
    lo, hi, v = param.encode(low), param.encode(high), param.encode(value)
    return 0.5 if hi == lo else (v - lo) / (hi - lo)


def _round_integers(
    result: RegressionResult,
    values: dict[str, float],
    box: Sequence[tuple[float, float]],
    sign: float,
) -> dict[str, float]:
    """Integer parameters at the best floor/ceil combination inside the box."""
    assert result.spec is not None
    integer = [
        (p.name, lo, hi) for p, (lo, hi) in zip(result.spec.params, box, strict=True) if p.integer
    ]
    if not integer:
        return values
    choices = []
    for name, lo, hi in integer:
        v = values[name]
        if not math.isfinite(v):
            return values
        options = {min(max(math.floor(v), math.ceil(lo)), math.floor(hi)),
                   min(max(math.ceil(v), math.ceil(lo)), math.floor(hi))}  # fmt: skip
        choices.append(sorted(options) if len(integer) <= EXACT_ROUNDING else [round(v)])
    best, best_value = values, -math.inf
    for combo in itertools.product(*choices):
        candidate = {**values, **{n: float(v) for (n, _, _), v in zip(integer, combo, strict=True)}}
        value = sign * result.predict(candidate).mean
        if value > best_value:
            best, best_value = candidate, value
    return best


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
                if np.any(t[free] < -1e-9) or np.any(t[free] > 1 + 1e-9):
                    continue
            candidates.append(np.clip(t, 0.0, 1.0))
    else:
        rng = np.random.default_rng(0)
        candidates = list(rng.random((20000, d))) + list(itertools.product((0.0, 1.0), repeat=d))
    values = [sign * (c + b @ t + t @ a @ t) for t in map(np.asarray, candidates)]
    return [float(v) for v in candidates[int(np.argmax(values))]]


def _narrow(
    param: ParamTransform, low: float, high: float, t: float, shrink: float
) -> dict[str, Any]:
    """A range `shrink` times as wide as [low, high] around position t, inside [low, high]
    (integers rounded outwards, then clipped back into the observed range)."""
    log = param.log
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    unscale = (lambda v: 10.0**v) if log else (lambda v: v)
    lo, hi = scale(low), scale(high)
    width = shrink * (hi - lo)
    center = lo + t * (hi - lo)
    start = min(max(center - width / 2, lo), hi - width)
    new_low, new_high = unscale(start), unscale(start + width)
    if param.integer:
        new_low, new_high = float(math.floor(new_low)), float(math.ceil(new_high))
    new_low, new_high = max(new_low, low), min(new_high, high)
    return {"low": new_low, "high": new_high, "log": log, "integer": param.integer}
