"""From fits to advice: significant terms in words, cross-metric trade-offs, a narrower space.

Sizes are on the original scale: the predicted change of the metric when a parameter moves
from its lowest to its highest observed value, the others held at their reference (the mean
feature of the fitted trials). Metrics whose name contains "loss", "error" or "perplexity"
are taken as lower-is-better unless told otherwise, so "better" and "agrees" mean the same
thing for accuracy and for loss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .regression import Prediction, RegressionResult
from .regression_design import ParamTransform
from .regression_warnings import fmt, fmt_p, fmt_signed

LOWER_IS_BETTER_HINTS = ("loss", "error", "perplexity")
# Up to this many parameters the optimum is found exactly (every face of the box, 3^d).
EXACT_DIMENSIONS = 10


def lower_is_better(metric: str, given: Collection[str] | None = None) -> bool:
    if given is not None:
        return metric in given
    return any(hint in metric.lower() for hint in LOWER_IS_BETTER_HINTS)


@dataclass(frozen=True)
class Finding:
    """One significant term in words. `change` is the metric's predicted change low → high
    (for a square: mid-range minus the mean of the ends; for an interaction: how much the
    first parameter's change differs between the second's low and high)."""

    metric: str
    term: str
    p: float
    change: float
    better: bool | None
    text: str


@dataclass(frozen=True)
class Optimum:
    """The best fitted value inside the box, its 95% prediction interval and a narrower space.

    `prediction` is on the metric's own scale (the baseline added back in relative fits).
    """

    metric: str
    maximize: bool
    values: dict[str, float]
    prediction: Prediction
    at_edge: dict[str, str]
    space: dict[str, dict[str, Any]]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Advice:
    """Everything `advise` found, as data for a screen and as lines for a terminal."""

    findings: dict[str, list[Finding]]
    trade_offs: list[dict[str, Any]]
    optima: dict[str, Optimum]
    cautions: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": {m: [asdict(f) for f in fs] for m, fs in self.findings.items()},
            "trade_offs": self.trade_offs,
            "optima": {m: o.to_dict() for m, o in self.optima.items()},
            "cautions": self.cautions,
        }

    def lines(self) -> list[str]:
        out: list[str] = []
        for metric, findings in self.findings.items():
            out.append(f"{metric}:")
            out += [f"  {c}" for c in self.cautions.get(metric, [])]
            out += [f"  {f.text}" for f in findings] or ["  no significant terms"]
        for row in self.trade_offs:
            signs = ", ".join(
                f"{m} {c['sign'] or '·'}{'*' if c['significant'] else ''}"
                for m, c in row["cells"].items()
            )
            out.append(f"{row['term']}: {row['verdict']} ({signs})")
        return out


def advise(
    results: Mapping[str, RegressionResult],
    alpha: float = 0.05,
    lower: Collection[str] | None = None,
    shrink: float = 0.5,
) -> Advice:
    """Findings per metric, the trade-off table and each metric's optimum and narrower space.

    `lower`: the lower-is-better metrics (default: guessed from the name, see module doc).
    """
    findings = {m: describe_terms(r, alpha, lower) for m, r in results.items()}
    cautions: dict[str, list[str]] = {}
    optima = {}
    for metric, result in results.items():
        cautions[metric] = list(result.warnings)
        if result.fitted and not result.f_pvalue < alpha:
            cautions[metric].append(
                f"the model as a whole is not significant (F-test {fmt_p(result.f_pvalue)}); "
                "treat its optimum as a guess"
            )
        if result.fitted:
            optima[metric] = find_optimum(result, not lower_is_better(metric, lower), shrink)
    return Advice(findings, trade_off_table(results, alpha, lower), optima, cautions)


def _verdict(metric: str, change: float, lower: Collection[str] | None) -> tuple[bool | None, str]:
    if change == 0:
        return None, "no change"
    better = (change < 0) == lower_is_better(metric, lower)
    return better, "better" if better else "worse"


def describe_terms(
    result: RegressionResult, alpha: float = 0.05, lower: Collection[str] | None = None
) -> list[Finding]:
    """The terms with p < alpha, strongest first, as sentences with sizes on the original scale:
    "learning_rate 2e-05 → 5e-05: f1 −0.012, worse (p = 0.004)"."""
    spec = result.spec
    if spec is None:
        return []
    metric = result.metric
    findings = []
    for term, est in zip(spec.terms, result.terms, strict=True):
        if not term or not est.p < alpha:
            continue
        first = spec.params[term[0]]
        span = f"{first.name} {fmt(first.low)} → {fmt(first.high)}"
        if len(term) == 1:
            change = _change(result, term[0])
            better, word = _verdict(metric, change, lower)
            text = f"{span}: {metric} {fmt_signed(change)}, {word} ({fmt_p(est.p)})"
        elif term[0] == term[1]:
            change, text, better = _curvature(result, term[0], metric, lower)
            text = f"{text} ({est.term} {fmt_p(est.p)})"
        else:
            second = spec.params[term[1]]
            at_low = _change(result, term[0], {second.name: second.low})
            at_high = _change(result, term[0], {second.name: second.high})
            change, better = at_high - at_low, None
            text = (
                f"{span} changes {metric} by {fmt_signed(at_low)} at {second.name} "
                f"{fmt(second.low)} but {fmt_signed(at_high)} at {second.name} "
                f"{fmt(second.high)} ({est.term} {fmt_p(est.p)})"
            )
        findings.append(Finding(metric, est.term, est.p, change, better, text))
    return sorted(findings, key=lambda f: f.p)


def _change(
    result: RegressionResult, index: int, others: Mapping[str, float] | None = None
) -> float:
    """Predicted change as parameter `index` goes from its low to its high observed value."""
    assert result.spec is not None
    param = result.spec.params[index]
    held = dict(others or {})
    high = result.predict({**held, param.name: param.high}).mean
    return high - result.predict({**held, param.name: param.low}).mean


def _curvature(
    result: RegressionResult, index: int, metric: str, lower: Collection[str] | None
) -> tuple[float, str, bool | None]:
    """Where the fitted curve along one parameter turns, and whether that is good news."""
    assert result.spec is not None
    param = result.spec.params[index]
    u0, u2 = param.encode(param.low), param.encode(param.high)
    u1 = (u0 + u2) / 2
    features = result.spec.features({})
    g = []
    for u in (u0, u1, u2):
        features[index] = u
        g.append(result.predict_features(features).mean)
    half = (u2 - u0) / 2
    a = (g[0] - 2 * g[1] + g[2]) / (2 * half**2)
    slope_mid = (g[2] - g[0]) / (2 * half)
    bulge = g[1] - (g[0] + g[2]) / 2
    peak = a < 0
    good_turn = peak != lower_is_better(metric, lower)
    vertex = u1 - slope_mid / (2 * a) if a else math.inf
    span = f"{param.name} {fmt(param.low)} → {fmt(param.high)}"
    if u0 < vertex < u2:
        where = "highest" if peak else "lowest"
        text = (
            f"{metric} is {where} near {param.name} ≈ {fmt(param.decode(vertex))}, inside "
            f"the searched {fmt(param.low)} → {fmt(param.high)} ({'best' if good_turn else 'worst'}"
            f" there; mid-range vs ends {fmt_signed(bulge)})"
        )
    else:
        shape = "down" if peak else "up"
        text = (
            f"{metric} bends {shape} over {span}, turning outside the range "
            f"(mid-range vs ends {fmt_signed(bulge)})"
        )
    return bulge, text, good_turn


def trade_off_table(
    results: Mapping[str, RegressionResult],
    alpha: float = 0.05,
    lower: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Per term, each metric's coefficient sign and whether it helps, and a verdict.

    A term "agrees" when it moves all metrics where it is significant the same way in terms
    of better/worse (a rise in accuracy and a drop in loss agree), "trade-off" when it helps
    some and hurts others; with fewer than two significant metrics: "only <metric>" or
    "none significant". A rise in a term's value is "better" or "worse" for a metric; a square
    instead "has a best point" (accuracy bending down, loss bending up) or "has a worst point".
    """
    names: list[str] = []
    for result in results.values():
        names += [t.term for t in result.terms if t.term != "const" and t.term not in names]
    rows = []
    for name in names:
        cells: dict[str, dict[str, Any]] = {}
        for metric, result in results.items():
            est = result.term(name)
            if est is None:
                cells[metric] = {"coef": None, "p": None, "sign": "", "significant": False}
                continue
            good = (est.coef > 0) != lower_is_better(metric, lower)
            if "^2" in name:
                effect = "has a best point" if not good else "has a worst point"
            else:
                effect = "better" if good else "worse"
            cells[metric] = {
                "coef": est.coef,
                "p": est.p,
                "sign": "+" if est.coef > 0 else "−",
                "significant": est.p < alpha,
                "effect": effect,
            }
        significant = {m: c["effect"] for m, c in cells.items() if c["significant"]}
        if len(significant) >= 2:
            verdict = "agrees" if len(set(significant.values())) == 1 else "trade-off"
        elif significant:
            verdict = f"only {next(iter(significant))}"
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
    each parameter, or `bounds`), and a space `shrink` times as wide around it (on the log
    scale for log-scaled parameters), moved to stay inside the box."""
    spec = result.spec
    if spec is None or not result.fitted:
        raise ValueError(f"no model was fitted for {result.metric}")
    bounds = bounds or {}
    box = [bounds.get(p.name, (p.low, p.high)) for p in spec.params]
    lows = [p.encode(lo) for p, (lo, _) in zip(spec.params, box, strict=True)]
    highs = [p.encode(hi) for p, (_, hi) in zip(spec.params, box, strict=True)]
    c, b, a = _quadratic(result, lows, highs)
    best_t = _best_in_unit_box(c, b, a, 1.0 if maximize else -1.0)
    u = [lo + t * (hi - lo) for lo, t, hi in zip(lows, best_t, highs, strict=True)]
    prediction = result.predict_features(u)
    if result.baseline_metric is not None:
        shift = result.baseline_metric
        prediction = Prediction(*(v + shift for v in asdict(prediction).values()))
    values, at_edge, space, notes = {}, {}, {}, []
    for param, t, lo, hi in zip(spec.params, best_t, lows, highs, strict=True):
        values[param.name] = param.decode(lo + t * (hi - lo))
        if t < 1e-6 or t > 1 - 1e-6:
            at_edge[param.name] = "low" if t < 0.5 else "high"
            notes.append(
                f"{param.name}: the optimum is at the {at_edge[param.name]} edge of the searched "
                "range; the best value may lie beyond it, so consider widening there instead"
            )
        space[param.name] = _narrow(param, param.decode(lo), param.decode(hi), t, shrink)
    return Optimum(result.metric, maximize, values, prediction, at_edge, space, tuple(notes))


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
    log = param.log or (low > 0 and high / low > 20)
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    unscale = (lambda v: 10.0**v) if log else (lambda v: v)
    lo, hi = scale(low), scale(high)
    width = shrink * (hi - lo)
    center = lo + t * (hi - lo)
    start = min(max(center - width / 2, lo), hi - width)
    new_low, new_high = unscale(start), unscale(start + width)
    if param.integer:
        new_low, new_high = float(math.floor(new_low)), float(math.ceil(new_high))
    return {"low": new_low, "high": new_high, "log": log, "integer": param.integer}
