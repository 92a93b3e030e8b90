"""Findings: what a fit says about each parameter, as tested contrasts with a direction.

Every finding is one linear contrast c'β of the fitted coefficients, with its own standard
error sqrt(c'Vc) and p-value, so a stated change is exactly what was tested:

- `change`: the metric's predicted change as one parameter moves from its lowest to its
  highest observed value, the others held at their centre (the mean feature). It includes
  the square and interaction terms, so its sign can differ from the linear coefficient's.
- `curvature`: the mid-range value minus the mean of the two ends along one parameter (the
  same test as its square term); it says whether the curve peaks or dips, where, and
  whether that point lies inside the data.
- `interaction`: how much one parameter's change differs between the other's low and high.

The direction word comes from the sign and from whether the metric is higher-better:
"better"/"worse" for changes, "best there"/"worst there" for a peak or trough. The text,
the cross-metric table and `--format json` are all rendered from these objects.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from .regression import RegressionResult
from .regression_design import ParamTransform
from .regression_warnings import fmt, fmt_p, fmt_signed, holm_adjusted

LOWER_IS_BETTER_HINTS = ("loss", "error", "perplexity")
# Metrics that are fractions of examples (or means of such fractions): they live in [0, 1].
UNIT_INTERVAL_HINTS = ("accuracy", "f1", "precision", "recall", "auc")
NON_NEGATIVE_HINTS = ("loss", "error", "perplexity")


def lower_is_better(metric: str, given: Collection[str] | None = None) -> bool:
    """Loss-like metrics (by name, or those in `given` when it is passed) are lower-better."""
    if given is not None:
        return metric in given
    return any(hint in metric.lower() for hint in LOWER_IS_BETTER_HINTS)


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: [0, 1] for accuracy-like, [0, inf) for loss-like."""
    name = metric.lower()
    if any(hint in name for hint in UNIT_INTERVAL_HINTS):
        return 0.0, 1.0
    if any(hint in name for hint in NON_NEGATIVE_HINTS):
        return 0.0, math.inf
    return -math.inf, math.inf


def outside_range(metric: str, value: float) -> str | None:
    """A phrase saying why `value` is impossible for `metric`, or None when it is possible."""
    low, high = metric_range(metric)
    if low <= value <= high:
        return None
    shown = f"[{fmt(low)}, {fmt(high)}]" if math.isfinite(high) else f">= {fmt(low)}"
    return f"{metric} {fmt(value)} is outside its possible range {shown}"


@dataclass(frozen=True)
class Finding:
    """One tested contrast of one metric's fit (see the module doc for the kinds).

    `from_value`/`to_value` are the parameter's observed low and high; `change` the fitted
    contrast on the metric's scale, with `std_err`, `p` and (after `holm`) `p_holm`.
    `stated` is true when the finding is significant, inside the metric's possible range,
    and larger than the metric's resolution and the seed noise; `notes` say why not.
    """

    metric: str
    kind: str  # change | curvature | interaction
    parameter: str
    term: str  # the row of the cross-metric table: param, param^2, a*b
    from_value: float
    to_value: float
    change: float
    std_err: float
    p: float
    direction: str  # better | worse | no change | best there | worst there
    significant: bool
    stated: bool
    text: str
    p_holm: float = math.nan
    integer: bool = False
    turning_point: float | None = None  # curvature: where the fitted curve turns
    turning_inside: bool | None = None
    other: str | None = None  # interaction: the second parameter
    change_at_other_low: float | None = None
    change_at_other_high: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


@dataclass(frozen=True)
class Judge:
    """How findings are judged: significance level, which metrics are lower-better, the
    smallest change a metric can show (1/n_eval for accuracy), and the seed noise."""

    alpha: float = 0.05
    lower: Collection[str] | None = None
    resolution: float | None = None  # per-example step of accuracy-like metrics, 1/n_eval


def findings_for(result: RegressionResult, judge: Judge) -> list[Finding]:
    """Every contrast of a fitted result: one change per parameter, one curvature per square
    term, one interaction per interaction term; strongest (smallest p) first."""
    spec = result.spec
    if spec is None or not result.fitted:
        return []
    out: list[Finding] = []
    for index, param in enumerate(spec.params):
        out.append(_change_finding(result, index, param, judge))
    for term in spec.terms:
        if len(term) == 2 and term[0] == term[1]:
            out.append(_curvature_finding(result, term[0], judge))
        elif len(term) == 2:
            out.append(_interaction_finding(result, term[0], term[1], judge))
    return sorted(out, key=lambda f: f.p)


def _metric_value(result: RegressionResult, fitted: float) -> float:
    """A fitted value on the metric's own scale (relative fits add the baseline back)."""
    return fitted + (result.baseline_metric or 0.0)


def _direction(metric: str, change: float, judge: Judge) -> str:
    if change == 0:
        return "no change"
    better = (change < 0) == lower_is_better(metric, judge.lower)
    return "better" if better else "worse"


def _size_notes(result: RegressionResult, change: float, judge: Judge) -> list[str]:
    """Why a significant change is too small to act on: below the metric's resolution (one
    validation example) or the spread between replicate trials (the seed noise)."""
    notes = []
    unit = metric_range(result.metric) == (0.0, 1.0)
    if judge.resolution and unit and abs(change) < judge.resolution:
        notes.append(
            f"smaller than one validation example ({fmt(judge.resolution)} = "
            f"1/{round(1 / judge.resolution)})"
        )
    noise = result.seed_noise
    if noise is not None and abs(change) < noise.sd:
        notes.append(
            f"smaller than the seed noise (sd {fmt(noise.sd)} over {noise.groups} replicate "
            "group(s))"
        )
    return notes


def _range_notes(result: RegressionResult, points: list[tuple[list[float], str]]) -> list[str]:
    """'the fit breaks down' for each point (features, where) predicted outside the metric's
    possible range: a change between impossible values is not a finding."""
    notes = []
    for u, where in points:
        problem = outside_range(
            result.metric, _metric_value(result, result.predict_features(u).mean)
        )
        if problem:
            notes.append(f"the fit breaks down: at {where} it predicts {problem}")
    return notes


def _finish(significant: bool, notes: list[str]) -> tuple[bool, tuple[str, ...]]:
    return significant and not notes, tuple(notes)


def _change_finding(
    result: RegressionResult, index: int, param: ParamTransform, judge: Judge
) -> Finding:
    assert result.spec is not None
    u = result.spec.features({})
    u_from, u_to = list(u), list(u)
    u_from[index], u_to[index] = param.encode(param.low), param.encode(param.high)
    contrast = result.contrast_features(u_from, u_to)
    significant = contrast.p < judge.alpha
    notes = _range_notes(result, [(u_from, f"{param.name} {fmt(param.low)}"),
                                  (u_to, f"{param.name} {fmt(param.high)}")])  # fmt: skip
    if significant:
        notes += _size_notes(result, contrast.estimate, judge)
    direction = _direction(result.metric, contrast.estimate, judge)
    text = (
        f"{param.name} {fmt(param.low)} → {fmt(param.high)}: {result.metric} "
        f"{fmt_signed(contrast.estimate)} ± {fmt(contrast.std_err)}, {direction} "
        f"({fmt_p(contrast.p)})"
    )
    stated, notes_t = _finish(significant, notes)
    return Finding(
        result.metric, "change", param.name, param.name, param.low, param.high,
        contrast.estimate, contrast.std_err, contrast.p, direction, significant, stated, text,
        integer=param.integer, notes=notes_t,
    )  # fmt: skip


def _curvature_finding(result: RegressionResult, index: int, judge: Judge) -> Finding:
    """Mid-range minus the mean of the ends along one parameter, and where the curve turns."""
    assert result.spec is not None
    spec = result.spec
    param = spec.params[index]
    u = spec.features({})
    rows = []
    lo, hi = param.encode(param.low), param.encode(param.high)
    for position in (lo, (lo + hi) / 2, hi):
        u[index] = position
        rows.append(spec.row_from_features(u))
    c = [mid - (a + b) / 2 for a, mid, b in zip(rows[0], rows[1], rows[2], strict=True)]
    contrast = result.contrast_rows(c)
    bulge = contrast.estimate
    peak = bulge > 0  # the middle above the ends: the curve bends down, a maximum
    # Along u the fit is g(u) = c0 + b u + a u^2 (others fixed); bulge = -a (half-width)^2.
    half = (hi - lo) / 2
    g_lo, g_hi = (result.predict_features(_at(u, index, x)).mean for x in (lo, hi))
    a = -bulge / half**2 if half else 0.0
    slope_mid = (g_hi - g_lo) / (2 * half) if half else 0.0
    vertex_u = (lo + hi) / 2 - slope_mid / (2 * a) if a else math.inf
    inside = lo <= vertex_u <= hi
    turning = param.decode(vertex_u) if math.isfinite(vertex_u) and abs(vertex_u) < 1e6 else None
    good = peak != lower_is_better(result.metric, judge.lower)
    direction = "best there" if good else "worst there"
    if bulge == 0:
        direction = "no change"
    significant = contrast.p < judge.alpha
    shape = "peaks" if peak else "dips"
    points = [(_at(u, index, lo), f"{param.name} {fmt(param.low)}"),
              (_at(u, index, hi), f"{param.name} {fmt(param.high)}")]  # fmt: skip
    if inside:
        points.append((_at(u, index, vertex_u), "its turning point"))
    notes = _range_notes(result, points)
    if inside:
        where = (
            f"{result.metric} {shape} at {param.name} ≈ {_fmt_param(turning, param)}, inside "
            f"the data ({fmt(param.low)} → {fmt(param.high)}): {direction}"
        )
    else:
        beyond = "above" if vertex_u > hi else "below"
        near = f" (≈ {_fmt_param(turning, param)})" if turning is not None else ""
        where = (
            f"{result.metric} bends {'down' if peak else 'up'} over {param.name} "
            f"{fmt(param.low)} → {fmt(param.high)}; it {shape[:-1]}s {beyond} the data{near}, "
            f"{direction} — not a point the data show"
        )
    if significant:
        notes += _size_notes(result, bulge, judge)
    text = f"{where} (mid-range vs ends {fmt_signed(bulge)}, {fmt_p(contrast.p)})"
    stated, notes_t = _finish(significant, notes)
    return Finding(
        result.metric, "curvature", param.name, f"{param.name}^2", param.low, param.high,
        bulge, contrast.std_err, contrast.p, direction, significant, stated, text,
        integer=param.integer, turning_point=turning, turning_inside=inside, notes=notes_t,
    )  # fmt: skip


def _at(u: list[float], index: int, value: float) -> list[float]:
    out = list(u)
    out[index] = value
    return out


def _fmt_param(value: float | None, param: ParamTransform) -> str:
    if value is None:
        return "?"
    return str(round(value)) if param.integer else fmt(value)


def _interaction_finding(result: RegressionResult, i: int, j: int, judge: Judge) -> Finding:
    """How much parameter i's low → high change differs between parameter j's low and high."""
    assert result.spec is not None
    spec = result.spec
    first, second = spec.params[i], spec.params[j]
    u = spec.features({})
    changes = []
    rows = []
    corners: list[tuple[list[float], str]] = []
    for other in (second.low, second.high):
        base = _at(u, j, second.encode(other))
        u_from, u_to = _at(base, i, first.encode(first.low)), _at(base, i, first.encode(first.high))
        at_other = f"{second.name} {fmt(other)}"
        corners += [(u_from, f"{first.name} {fmt(first.low)}, {at_other}"),
                    (u_to, f"{first.name} {fmt(first.high)}, {at_other}")]  # fmt: skip
        changes.append(result.contrast_features(u_from, u_to).estimate)
        rows.append(
            [b - a for a, b in zip(spec.row_from_features(u_from),
                                   spec.row_from_features(u_to), strict=True)]
        )  # fmt: skip
    contrast = result.contrast_rows([b - a for a, b in zip(rows[0], rows[1], strict=True)])
    significant = contrast.p < judge.alpha
    direction = _direction(result.metric, contrast.estimate, judge)
    text = (
        f"{first.name} {fmt(first.low)} → {fmt(first.high)} changes {result.metric} by "
        f"{fmt_signed(changes[0])} at {second.name} {fmt(second.low)} but "
        f"{fmt_signed(changes[1])} at {second.name} {fmt(second.high)}: a higher "
        f"{second.name} makes raising {first.name} {direction} "
        f"({fmt_signed(contrast.estimate)}, {first.name}*{second.name} {fmt_p(contrast.p)})"
    )
    notes = _range_notes(result, corners)
    notes += _size_notes(result, contrast.estimate, judge) if significant else []
    stated, notes_t = _finish(significant, notes)
    return Finding(
        result.metric, "interaction", first.name, f"{first.name}*{second.name}", first.low,
        first.high, contrast.estimate, contrast.std_err, contrast.p, direction, significant,
        stated, text, integer=first.integer, other=second.name, change_at_other_low=changes[0],
        change_at_other_high=changes[1], notes=notes_t,
    )  # fmt: skip


def holm(findings: dict[str, list[Finding]]) -> dict[str, list[Finding]]:
    """The findings with Holm-adjusted p-values over all of them (every metric together: they
    were tested at once)."""
    import dataclasses

    flat = [f for fs in findings.values() for f in fs]
    if not flat:
        return findings
    adjusted = holm_adjusted([f.p for f in flat])
    lookup = {id(f): float(p) for f, p in zip(flat, adjusted, strict=True)}
    return {
        m: [dataclasses.replace(f, p_holm=lookup[id(f)]) for f in fs] for m, fs in findings.items()
    }
