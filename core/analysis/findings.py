"""Findings: what a fit says about each parameter, as tested contrasts with a direction, and
the rules that decide which of them the analysis states.

Every finding is one linear contrast c'β of the fitted coefficients, with its own standard
error sqrt(c'Vc) and p-value, so a stated change is exactly what was tested:

- `change`: the metric's predicted change as one parameter moves from its lowest to its
  highest observed value, the others held at their centre (the mean feature). It includes
  the square and interaction terms, so its sign can differ from the linear coefficient's.
  Only for a parameter whose own (linear) term is in the fit: a parameter whose terms were
  dropped as not estimable is never spoken of.
- `curvature`: how far the fitted curve at a middle value lies above or below the straight
  line through its values at the two ends (the same t-test as its square term). The middle
  value is one the parameter can take: the mid-range for a continuous parameter, else the
  choice or grid value nearest to it. It says whether the curve peaks or dips, where, and
  whether that point lies inside the data.
- `interaction`: how much one parameter's change differs between the other's low and high.

The direction word comes from the sign and from whether the metric is higher-better:
"better"/"worse" for changes, "best there"/"worst there" for a peak or trough.

**When a finding is stated** (`settle`): all of

1. its fit is *established* (`FitVerdict`, decided in `advice.fit_verdicts`): significant as a
   whole after Holm's correction over the metrics fitted, predictive (leave-one-out
   predictive R² > 0) and, where replicates allow the test, without significant lack of fit;
2. it survives Holm's correction over every contrast of every metric tested at once
   (`p_holm < alpha`);
3. the fit predicts possible values along it (accuracy-like metrics in [0, 1], loss-like
   >= 0): otherwise "the fit breaks down";
4. its size |c'β| exceeds one validation example (1/n_eval, accuracy-like metrics, when
   known) and the seed noise where replicates measure it: the pure-error sd s_PE, the
   spread of one trial's metric between re-runs of the same setting.

Every other finding is kept, with its numbers and the reasons (`notes`), as "not
established": the text then carries no direction word. The text, the cross-metric table and
`--format json` are all rendered from these objects.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .checks import fmt, fmt_p, fmt_signed, holm_adjusted
from .design import ParamTransform
from .regression import RegressionResult

# A metric whose name contains one of these is lower-is-better unless told otherwise.
LOWER_IS_BETTER_HINTS = ("loss", "error", "mse", "cross_entropy", "crossentropy", "perplexity")
NON_NEGATIVE_HINTS = LOWER_IS_BETTER_HINTS
# Metrics that are fractions of examples (or means of such fractions) live in [0, 1]: any
# name with the word "acc" or a word starting with "accuracy" (val_acc, eval_accuracy), or
# one of these words (not "accumulation": gradient_accumulation_steps is a parameter).
UNIT_INTERVAL_WORDS = frozenset(
    {"f1", "precision", "recall", "auc", "auroc", "roc", "top1", "top5", "iou", "dice",
     "jaccard", "specificity", "sensitivity"}
)  # fmt: skip
# Matthews' correlation lives in [-1, 1].
CORRELATION_WORDS = frozenset({"mcc", "matthews"})


def lower_is_better(metric: str, given: Collection[str] | None = None) -> bool:
    """Loss-like metrics (by name, or those in `given` when it is passed) are lower-better."""
    if given is not None:
        return metric in given
    name = metric.lower()
    return any(hint in name for hint in LOWER_IS_BETTER_HINTS)


def _words(metric: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", metric.lower()) if w]


def metric_kind(metric: str) -> str:
    """ "fraction" (accuracy-like, in [0, 1]), "correlation" ([-1, 1]), "non-negative"
    (loss-like) or "any", from the metric's name whatever its exact spelling."""
    words = _words(metric)
    if any(
        w == "acc" or w.startswith("accuracy") for w in words
    ) or UNIT_INTERVAL_WORDS.intersection(words):
        return "fraction"
    if any(w.startswith("f1") or w.endswith("f1") for w in words):  # f1score, macrof1
        return "fraction"
    if CORRELATION_WORDS.intersection(words):
        return "correlation"
    name = metric.lower()
    if any(hint in name for hint in NON_NEGATIVE_HINTS):
        return "non-negative"
    return "any"


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: [0, 1] for accuracy-like, [0, inf) for loss-like."""
    return {
        "fraction": (0.0, 1.0),
        "correlation": (-1.0, 1.0),
        "non-negative": (0.0, math.inf),
    }.get(metric_kind(metric), (-math.inf, math.inf))


def outside_range(metric: str, value: float) -> str | None:
    """A phrase saying why `value` is impossible for `metric`, or None when it is possible."""
    low, high = metric_range(metric)
    if low <= value <= high:
        return None
    shown = f"[{fmt(low)}, {fmt(high)}]" if math.isfinite(high) else f">= {fmt(low)}"
    return f"{metric} {fmt(value)} is outside its possible range {shown}"


@dataclass(frozen=True)
class FitVerdict:
    """Whether one metric's fit is established: the gate every finding and the optimum pass.

    `f_pvalue_holm`: the F-test p after Holm's correction over the metrics fitted together;
    `q2`: leave-one-out predictive R²; `lack_of_fit_p`: None without replicates to test it.
    `reasons` says why not when `established` is false; `seed_noise` says what the
    replicates measured (or that seed noise was not measured)."""

    metric: str
    established: bool
    reasons: tuple[str, ...] = ()
    f_pvalue: float = math.nan
    f_pvalue_holm: float = math.nan
    q2: float = math.nan
    lack_of_fit_p: float | None = None
    seed_noise: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One tested contrast of one metric's fit (see the module doc for the kinds and rules).

    `from_value`/`to_value` are the parameter's observed low and high; `change` the fitted
    contrast on the metric's scale, with `std_err`, `p` and (after `holm`) `p_holm`.
    `significant`: p < alpha on its own (before any correction); `stated`: every rule of the
    module doc holds; `notes`: why not. `claim` is the sentence with its direction word,
    `numbers` the same contrast without one; `text` is what is shown: the claim with its p
    values when stated, else the numbers.
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
    turning_value: float | None = None  # the value the parameter can take nearest to it
    mid_value: float | None = None  # curvature: the middle value the contrast is taken at
    other: str | None = None  # interaction: the second parameter
    change_at_other_low: float | None = None
    change_at_other_high: float | None = None
    notes: tuple[str, ...] = ()
    claim: str = ""
    numbers: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


@dataclass(frozen=True)
class Judge:
    """How findings are judged: significance level, which metrics are lower-better, and the
    smallest change a metric can show (1/n_eval for accuracy-like metrics)."""

    alpha: float = 0.05
    lower: Collection[str] | None = None
    resolution: float | None = None  # per-example step of accuracy-like metrics, 1/n_eval


def findings_for(result: RegressionResult, judge: Judge) -> list[Finding]:
    """Every contrast of a fitted result: one change per parameter whose linear term was
    fitted, one curvature per square term, one interaction per interaction term; strongest
    (smallest p) first. Not yet judged: `settle` decides which are stated."""
    spec = result.spec
    if spec is None or not result.fitted:
        return []
    out: list[Finding] = []
    for index, param in enumerate(spec.params):
        if (index,) in spec.terms:
            out.append(_change_finding(result, index, param, judge))
    for term in spec.terms:
        if len(term) == 2 and term[0] == term[1]:
            found = _curvature_finding(result, term[0], judge)
            if found is not None:
                out.append(found)
        elif len(term) == 2:
            out.append(_interaction_finding(result, term[0], term[1], judge))
    return sorted(out, key=lambda f: (f.p, f.term))


def settle(
    findings: Mapping[str, list[Finding]],
    verdicts: Mapping[str, FitVerdict],
    alpha: float,
) -> dict[str, list[Finding]]:
    """Apply the rules of the module doc: each finding is stated or not, with its reasons
    and the text to show. Expects `p_holm` filled in (`holm`)."""
    tested = sum(len(fs) for fs in findings.values())
    out: dict[str, list[Finding]] = {}
    for metric, fs in findings.items():
        verdict = verdicts.get(metric)
        settled = []
        for f in fs:
            reasons = []
            if verdict is None or not verdict.established:
                reasons.append(f"the {metric} fit is not established")
            if not f.p_holm < alpha:
                reasons.append(
                    f"Holm {_p(f.p_holm)} over the {tested} contrasts tested (needs < {alpha:g})"
                )
            reasons += list(f.notes)
            stated = not reasons
            pvals = f"{_p(f.p)}, Holm {_p(f.p_holm)}"
            text = f"{f.claim} ({pvals})" if stated else f"{f.numbers} ({pvals})"
            settled.append(dataclasses.replace(f, stated=stated, notes=tuple(reasons), text=text))
        out[metric] = settled
    return out


def _p(p: float) -> str:
    """`p = 0.041` or `p < 0.0001`; a dash when there is no p."""
    return fmt_p(p) if math.isfinite(p) else "p –"


def _metric_value(result: RegressionResult, fitted: float) -> float:
    """A fitted value on the metric's own scale (relative fits add the baseline back)."""
    return fitted + (result.baseline_metric or 0.0)


def _direction(metric: str, change: float, judge: Judge) -> str:
    if change == 0 or not math.isfinite(change):
        return "no change"
    better = (change < 0) == lower_is_better(metric, judge.lower)
    return "better" if better else "worse"


def _size_notes(result: RegressionResult, change: float, judge: Judge) -> list[str]:
    """Why a change is too small to act on: below the metric's resolution (one validation
    example) or the pure-error sd of replicate trials (the seed noise)."""
    notes = []
    unit = metric_kind(result.metric) == "fraction"
    if judge.resolution and unit and abs(change) < judge.resolution:
        notes.append(
            f"smaller than one validation example ({fmt(judge.resolution)} = "
            f"1/{round(1 / judge.resolution)})"
        )
    noise = result.seed_noise
    if noise is not None and noise.measured and not abs(change) > noise.sd:
        notes.append(
            f"not larger than the seed noise (pure-error sd {fmt(noise.sd)} over "
            f"{noise.groups} replicate group(s))"
        )
    return notes


def _range_notes(result: RegressionResult, points: list[tuple[list[float], str]]) -> list[str]:
    """'the fit breaks down' for each point (features, where) predicted outside the metric's
    possible range: a change between impossible values is not a finding."""
    notes = []
    for u, where in points:
        mean = result.predict_features(u).mean
        problem = outside_range(result.metric, _metric_value(result, mean))
        if problem:
            notes.append(f"the fit breaks down: at {where} it predicts {problem}")
    return notes


def _change_finding(
    result: RegressionResult, index: int, param: ParamTransform, judge: Judge
) -> Finding:
    assert result.spec is not None
    u = result.spec.features({})
    u_from, u_to = list(u), list(u)
    u_from[index], u_to[index] = param.encode(param.low), param.encode(param.high)
    contrast = result.contrast_features(u_from, u_to)
    notes = _range_notes(result, [(u_from, f"{param.name} {fmt(param.low)}"),
                                  (u_to, f"{param.name} {fmt(param.high)}")])  # fmt: skip
    notes += _size_notes(result, contrast.estimate, judge)
    direction = _direction(result.metric, contrast.estimate, judge)
    numbers = (
        f"{param.name} {fmt(param.low)} → {fmt(param.high)}: {result.metric} "
        f"{fmt_signed(contrast.estimate)} ± {fmt(contrast.std_err)}"
    )
    return Finding(
        result.metric, "change", param.name, param.name, param.low, param.high,
        contrast.estimate, contrast.std_err, contrast.p, direction, contrast.p < judge.alpha,
        False, numbers, integer=param.integer, notes=tuple(notes),
        claim=f"{numbers}, {direction}", numbers=numbers,
    )  # fmt: skip


def _middle(param: ParamTransform) -> float | None:
    """The feature of the value the curvature is taken at: the mid-range, or the value the
    parameter can take nearest to it (strictly between the ends); None when there is none."""
    lo, hi = param.encode(param.low), param.encode(param.high)
    mid = (lo + hi) / 2
    if param.levels.continuous:
        return mid
    inside = param.levels.inside(param.low, param.high, limit=10_000)
    if inside is None:  # a very fine grid: the value nearest the middle
        inside = param.levels.around(param.decode(mid), param.low, param.high)
    between = [param.encode(v) for v in inside]
    between = [v for v in between if lo + 1e-9 * (hi - lo) < v < hi - 1e-9 * (hi - lo)]
    return min(between, key=lambda v: abs(v - mid)) if between else None


def _curvature_finding(result: RegressionResult, index: int, judge: Judge) -> Finding | None:
    """The fitted value at a middle value m minus the line through the ends, at m; where the
    curve turns. Along u (others fixed) the fit is g(u) = c0 + b u + a u², and the contrast
    equals -a (m - lo)(hi - m): the same t-test as the square term."""
    assert result.spec is not None
    spec = result.spec
    param = spec.params[index]
    lo, hi = param.encode(param.low), param.encode(param.high)
    m = _middle(param)
    if m is None or hi == lo:
        return None
    u = spec.features({})
    rows = [spec.row_from_features(_at(u, index, x)) for x in (lo, m, hi)]
    w_hi = (m - lo) / (hi - lo)
    c = [mid - ((1 - w_hi) * a + w_hi * b) for a, mid, b in zip(*rows, strict=True)]
    contrast = result.contrast_rows(c)
    bulge = contrast.estimate
    peak = bulge > 0  # the middle above the chord: the curve bends down, a maximum
    g_lo, g_hi = (result.predict_features(_at(u, index, x)).mean for x in (lo, hi))
    span = (m - lo) * (hi - m)
    a = -bulge / span if span else 0.0
    slope_chord = (g_hi - g_lo) / (hi - lo)  # = b + a (lo + hi)
    vertex_u = ((lo + hi) / 2 - slope_chord / (2 * a)) if a else math.inf
    inside = bool(lo <= vertex_u <= hi)
    turning: float | None = None
    if math.isfinite(vertex_u) and abs(vertex_u) < 1e6:
        decoded = param.decode(vertex_u)
        turning = decoded if math.isfinite(decoded) else None
    taken = None
    if turning is not None and inside:
        taken = param.levels.nearest(turning, param.low, param.high)
    good = peak != lower_is_better(result.metric, judge.lower)
    direction = "best there" if good else "worst there"
    if bulge == 0:
        direction = "no change"
    shape = "peaks" if peak else "dips"
    points = [(_at(u, index, lo), f"{param.name} {fmt(param.low)}"),
              (_at(u, index, hi), f"{param.name} {fmt(param.high)}")]  # fmt: skip
    if inside:
        points.append((_at(u, index, vertex_u), "its turning point"))
    notes = _range_notes(result, points) + _size_notes(result, bulge, judge)
    mid_value = param.decode(m)
    at_mid = "mid-range" if param.levels.continuous else f"at {fmt(mid_value)}"
    if inside:
        where = (
            f"{result.metric} {shape} at {param.name} ≈ {_fmt_param(turning, param)}"
            + _taken_note(taken, turning, param)
            + f", inside the data ({fmt(param.low)} → {fmt(param.high)}): {direction}"
        )
    else:
        beyond = "above" if vertex_u > hi else "below"
        near = f" (≈ {_fmt_param(turning, param)})" if turning is not None else ""
        where = (
            f"{result.metric} bends {'down' if peak else 'up'} over {param.name} "
            f"{fmt(param.low)} → {fmt(param.high)}; it {shape[:-1]}s {beyond} the data{near}, "
            f"{direction} — not a point the data show"
        )
    numbers = (
        f"{param.name}^2: {result.metric} at {param.name} {fmt(mid_value)} vs the line through "
        f"{fmt(param.low)} and {fmt(param.high)}: {fmt_signed(bulge)} ± {fmt(contrast.std_err)}"
    )
    claim = f"{where}; {at_mid} {fmt_signed(bulge)} against the line through the ends"
    return Finding(
        result.metric, "curvature", param.name, f"{param.name}^2", param.low, param.high,
        bulge, contrast.std_err, contrast.p, direction, contrast.p < judge.alpha, False,
        numbers, integer=param.integer, turning_point=turning, turning_inside=inside,
        turning_value=taken, mid_value=mid_value, notes=tuple(notes), claim=claim,
        numbers=numbers,
    )  # fmt: skip


def _taken_note(taken: float | None, turning: float | None, param: ParamTransform) -> str:
    """For a parameter with a set of values: the one nearest the turning point."""
    if taken is None or turning is None or param.levels.continuous:
        return ""
    if math.isclose(taken, turning, rel_tol=1e-9, abs_tol=1e-12):
        return ""
    return f" (of the values it takes, {fmt(taken)} is nearest)"


def _at(u: list[float], index: int, value: float) -> list[float]:
    out = list(u)
    out[index] = value
    return out


def _fmt_param(value: float | None, param: ParamTransform) -> str:
    if value is None or not math.isfinite(value):
        return "?"
    return fmt(value)


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
    direction = _direction(result.metric, contrast.estimate, judge)
    numbers = (
        f"{first.name}*{second.name}: {first.name} {fmt(first.low)} → {fmt(first.high)} "
        f"changes {result.metric} by {fmt_signed(changes[0])} at {second.name} "
        f"{fmt(second.low)} and {fmt_signed(changes[1])} at {second.name} {fmt(second.high)} "
        f"(difference {fmt_signed(contrast.estimate)} ± {fmt(contrast.std_err)})"
    )
    claim = (
        f"{first.name} {fmt(first.low)} → {fmt(first.high)} changes {result.metric} by "
        f"{fmt_signed(changes[0])} at {second.name} {fmt(second.low)} but "
        f"{fmt_signed(changes[1])} at {second.name} {fmt(second.high)}: a higher "
        f"{second.name} makes raising {first.name} {direction} "
        f"({fmt_signed(contrast.estimate)}, {first.name}*{second.name})"
    )
    notes = _range_notes(result, corners) + _size_notes(result, contrast.estimate, judge)
    return Finding(
        result.metric, "interaction", first.name, f"{first.name}*{second.name}", first.low,
        first.high, contrast.estimate, contrast.std_err, contrast.p, direction,
        contrast.p < judge.alpha, False, numbers, integer=first.integer, other=second.name,
        change_at_other_low=changes[0], change_at_other_high=changes[1], notes=tuple(notes),
        claim=claim, numbers=numbers,
    )  # fmt: skip


def holm(findings: dict[str, list[Finding]]) -> dict[str, list[Finding]]:
    """The findings with Holm-adjusted p-values over all of them (every metric together: they
    were tested at once)."""
    flat = [f for fs in findings.values() for f in fs]
    if not flat:
        return findings
    adjusted = holm_adjusted([f.p if math.isfinite(f.p) else 1.0 for f in flat])
    lookup = {id(f): float(p) for f, p in zip(flat, adjusted, strict=True)}
    return {
        m: [dataclasses.replace(f, p_holm=lookup[id(f)]) for f in fs] for m, fs in findings.items()
    }


__all__ = [
    "Finding",
    "FitVerdict",
    "Judge",
    "findings_for",
    "holm",
    "lower_is_better",
    "metric_kind",
    "metric_range",
    "outside_range",
    "settle",
]
