"""The optimum of a fit: the best predicted value inside the observed box, over the values
each parameter can take, with its prediction interval and a narrower space around it.

`advice` turns it into words and decides whether it is a result to act on; this module only
searches (exactly for up to `EXACT_DIMENSIONS` free parameters, over the discrete
parameters' combinations up to `MAX_COMBINATIONS`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .design import ParamTransform
from .findings import outside_range
from .regression import Prediction, RegressionResult

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
