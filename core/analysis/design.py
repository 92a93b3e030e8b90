"""The degree-2 polynomial design: how parameters become features, and how terms are named.

Each parameter is encoded as u = (v - center) / scale, where v = log10(x) for log-scaled
parameters and v = x otherwise. The modes differ only in center and scale:

- `scaled` (default): center = mean(v), scale = sd(v), so coefficients are per standard
  deviation and comparable across parameters;
- `raw`: center 0, scale 1, no log — the values exactly as stored (the paper's convention);
- relative (either mode): center = the baseline's v, so features are differences from the
  baseline. Scaled relative features are divided by sd(v) but not re-centred, so a zero
  difference still means "as the baseline".

Terms are index tuples: () the intercept `const`, (i,) `name`, (i, i) `name^2`,
(i, j) `name*other`, in that order (linear, squares, interactions).

Each parameter also knows the values it can take (`Levels`): a study's categorical choices, the
grid of an int or stepped float range, whole numbers for an integer column of a CSV, or any
value. Curvatures and optima are evaluated only at such values, and replicate trials (the same
setting) are found by rounding each value to them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .table import TrialsTableError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Term = tuple[int, ...]
MODES = ("scaled", "raw")
# A positive parameter whose values span more than this factor is guessed to be log-scaled.
LOG_SPAN = 20.0


# Continuous values are the same setting when they agree to this many significant digits.
SIGNIFICANT_DIGITS = 10
# A grid with more values than this inside the box is searched like a continuum, then snapped.
MAX_ENUMERATED = 64


def pow10(value: float) -> float:
    """10**value that never raises: inf above the float range, 0.0 below it (a turning point
    far outside the data decodes to inf, which callers treat as "not a number to show")."""
    try:
        return 10.0**value
    except OverflowError:
        return math.inf if value > 0 else 0.0


@dataclass(frozen=True)
class Levels:
    """The values a parameter can take. `choices` (sorted) for a categorical parameter;
    otherwise `origin + k * step` for an int or stepped range; neither: any value."""

    choices: tuple[float, ...] = ()
    step: float | None = None
    origin: float = 0.0

    @property
    def continuous(self) -> bool:
        return not self.choices and self.step is None

    def describe(self) -> str:
        if self.choices:
            return "choices " + ", ".join(f"{c:g}" for c in self.choices)
        if self.step is None:
            return "any value"
        if self.step == 1 and self.origin == int(self.origin):
            return "whole numbers"
        return f"steps of {self.step:g} from {self.origin:g}"

    def inside(self, low: float, high: float, limit: int = MAX_ENUMERATED) -> list[float] | None:
        """Every value in [low, high] (None: continuous, or more than `limit` of them)."""
        tol = 1e-9 * max(1.0, abs(low), abs(high))
        if self.choices:
            return [c for c in self.choices if low - tol <= c <= high + tol]
        if self.step is None:
            return None
        first = math.ceil((low - self.origin) / self.step - 1e-9)
        last = math.floor((high - self.origin) / self.step + 1e-9)
        if last - first + 1 > limit:
            return None
        return [self.origin + k * self.step for k in range(first, last + 1)]

    def around(self, value: float, low: float, high: float) -> list[float]:
        """The values just below and just above `value` inside [low, high] (one if `value`
        is one of them; `value` clipped to the box when any value is allowed)."""
        if not math.isfinite(value):
            value = high if value > 0 else low
        clipped = min(max(value, low), high)
        if self.continuous:
            return [clipped]
        if self.choices:
            inside = self.inside(low, high) or [self.nearest(clipped, -math.inf, math.inf)]
            below = [c for c in inside if c <= clipped]
            above = [c for c in inside if c >= clipped]
            out = {max(below)} if below else set()
            out |= {min(above)} if above else set()
            return sorted(out)
        assert self.step is not None
        k = (clipped - self.origin) / self.step
        candidates = {self.origin + math.floor(k + 1e-9) * self.step,
                      self.origin + math.ceil(k - 1e-9) * self.step}  # fmt: skip
        tol = 1e-9 * max(1.0, abs(low), abs(high))
        kept = sorted(c for c in candidates if low - tol <= c <= high + tol)
        return kept or [self.nearest(clipped, low, high)]

    def nearest(self, value: float, low: float, high: float) -> float:
        """The allowed value in [low, high] closest to `value` (on the raw scale)."""
        if not math.isfinite(value):
            value = high if value > 0 else low
        clipped = min(max(value, low), high)
        if self.continuous:
            return clipped
        if self.choices:
            inside = self.inside(low, high) or list(self.choices)
            return min(inside, key=lambda c: abs(c - clipped))
        assert self.step is not None
        k = round((clipped - self.origin) / self.step)
        value = self.origin + k * self.step
        if value > high + 1e-9 * max(1.0, abs(high)):
            value -= self.step
        if value < low - 1e-9 * max(1.0, abs(low)):
            value += self.step
        return value

    def snap_array(self, values: np.ndarray) -> np.ndarray:
        """Each value as the setting it stands for: the nearest choice or grid value, or the
        value to `SIGNIFICANT_DIGITS` digits; used to find replicate trials."""
        import numpy as np

        x = np.asarray(values, dtype=float)
        if self.choices:
            grid = np.asarray(self.choices)
            return grid[np.abs(x[:, None] - grid[None, :]).argmin(axis=1)]
        if self.step is not None:
            return np.round((x - self.origin) / self.step)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            magnitude = np.where(x != 0, np.floor(np.log10(np.abs(x))), 0.0)
            scale = 10.0 ** (SIGNIFICANT_DIGITS - 1 - magnitude)
            snapped = np.where(np.isfinite(scale), np.round(x * scale) / scale, x)
        return np.where(np.isfinite(snapped), snapped, x)


ANY_VALUE = Levels()
WHOLE_NUMBERS = Levels(step=1.0)


def guess_log_params(frame: pd.DataFrame, params: Sequence[str]) -> set[str]:
    """Parameters whose values are all > 0 and span more than a factor of 20 (max/min > 20).

    Only a guess, for CSVs: a study's own space says which parameters are log-scaled, and
    `hptui analyze --log NAME` forces one."""
    guessed = set()
    for name in params:
        values = frame[name].dropna()
        if len(values) and values.min() > 0 and values.max() / values.min() > LOG_SPAN:
            guessed.add(name)
    return guessed


@dataclass(frozen=True)
class ParamTransform:
    """How one parameter becomes a feature; `low`/`high`/`reference` are on its own scale."""

    name: str
    log: bool
    center: float
    scale: float
    low: float
    high: float
    reference: float  # where plots and advice hold it: the mean feature of the fitted trials
    integer: bool
    levels: Levels = ANY_VALUE  # the values it can take (see `Levels`)

    def encode(self, value: float) -> float:
        v = (math.log10(value) if value > 0 else -math.inf) if self.log else value
        return (v - self.center) / self.scale

    def encode_array(self, values: np.ndarray) -> np.ndarray:
        import numpy as np

        v = np.log10(values) if self.log else values
        return (v - self.center) / self.scale

    def decode(self, feature: float) -> float:
        """The parameter value of a feature; never raises (see `pow10`)."""
        v = feature * self.scale + self.center
        return pow10(v) if self.log else v


@dataclass(frozen=True)
class DesignSpec:
    """The features and terms of one fit; turns parameter values into design rows."""

    params: tuple[ParamTransform, ...]
    terms: tuple[Term, ...]
    mode: str
    relative: bool

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def term_name(self, term: Term) -> str:
        names = [self.params[i].name for i in term]
        if not names:
            return "const"
        if len(names) == 1:
            return names[0]
        return f"{names[0]}^2" if term[0] == term[1] else f"{names[0]}*{names[1]}"

    def term_names(self) -> list[str]:
        return [self.term_name(t) for t in self.terms]

    def with_terms(self, terms: Sequence[Term]) -> DesignSpec:
        return DesignSpec(self.params, tuple(terms), self.mode, self.relative)

    def features(self, values: Mapping[str, float]) -> list[float]:
        """Encoded features; a parameter missing from `values` is held at its reference."""
        return [p.encode(values.get(p.name, p.reference)) for p in self.params]

    def row_from_features(self, u: Sequence[float]) -> list[float]:
        return [math.prod(u[i] for i in term) for term in self.terms]

    def row(self, values: Mapping[str, float]) -> list[float]:
        return self.row_from_features(self.features(values))

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        with np.errstate(over="ignore", invalid="ignore"):  # inf is refused by the caller
            u = np.column_stack([p.encode_array(frame[p.name].to_numpy(dtype=float))
                                 for p in self.params])  # fmt: skip
            columns = [np.prod(u[:, list(term)], axis=1) for term in self.terms]
        return np.column_stack(columns).astype(float)


def quadratic_terms(n_params: int) -> list[Term]:
    linear = [(i,) for i in range(n_params)]
    squares = [(i, i) for i in range(n_params)]
    pairs = [(i, j) for i in range(n_params) for j in range(i + 1, n_params)]
    return [(), *linear, *squares, *pairs]


def build_spec(
    frame: pd.DataFrame,
    params: Sequence[str],
    mode: str,
    log_params: Collection[str],
    baseline: Mapping[str, float] | None = None,
    levels: Mapping[str, Levels] | None = None,
) -> tuple[DesignSpec, list[str]]:
    """The full quadratic over the parameters that vary in `frame`, with notes on drops.

    A parameter with one value is dropped; the square of a two-level parameter equals a
    line through its two points, so it is dropped too. `levels`: the values each parameter
    can take (a study's space); by default whole numbers for a column of whole numbers and
    any value otherwise.
    """
    import numpy as np

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    notes: list[str] = []
    transforms: list[ParamTransform] = []
    counts: list[int] = []
    for name in params:
        x = frame[name].to_numpy(dtype=float)
        distinct = np.unique(x)
        if len(distinct) < 2:
            value = f" (always {distinct[0]:g})" if len(distinct) else ""
            notes.append(f"{name} did not vary{value}; dropped from the model")
            continue
        log = mode == "scaled" and name in log_params
        if log and ((x <= 0).any() or (baseline is not None and baseline[name] <= 0)):
            raise TrialsTableError(f"{name}: a log-scaled parameter needs values > 0", name)
        v = np.log10(x) if log else x
        if mode == "raw":
            center, scale = 0.0, 1.0
        else:
            # On v / max|v|: the mean and sd of values near 1e300 or 1e-300 stay in range.
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                size = float(np.abs(v).max())
                size = size if size > 0 and math.isfinite(size) else 1.0
                center = float((v / size).mean()) * size
                scale = float((v / size).std(ddof=1)) * size
            if not (math.isfinite(center) and math.isfinite(scale) and scale > 0):
                raise TrialsTableError(
                    f"column {name!r}: its spread cannot be computed in floating point (values "
                    f"from {float(x.min()):g} to {float(x.max()):g}); rescale the column or "
                    "leave it out with --params",
                    name,
                )
        if baseline is not None:
            base = baseline[name]
            center = math.log10(base) if log else float(base)
        u_mean = float(((v - center) / scale).mean())
        integer = bool(np.all(x == np.round(x)))
        given = (levels or {}).get(name)
        transform = ParamTransform(
            name=name,
            log=log,
            center=center,
            scale=scale,
            low=float(x.min()),
            high=float(x.max()),
            reference=0.0,
            integer=integer,
            levels=given if given is not None else (WHOLE_NUMBERS if integer else ANY_VALUE),
        )
        transforms.append(dataclasses.replace(transform, reference=transform.decode(u_mean)))
        counts.append(len(distinct))
    spec = DesignSpec(tuple(transforms), (), mode, baseline is not None)
    terms = []
    for term in quadratic_terms(len(transforms)):
        if len(term) == 2 and term[0] == term[1] and counts[term[0]] == 2:
            notes.append(
                f"{spec.term_name(term)} dropped: {transforms[term[0]].name} has only two "
                "values, so its square is a line through them"
            )
            continue
        terms.append(term)
    return spec.with_terms(terms), notes


def drop_dependent_terms(spec: DesignSpec, x: np.ndarray) -> tuple[DesignSpec, list[str]]:
    """Drop terms that are exact linear combinations of earlier ones (checked on unit-norm
    columns, so raw features of very different magnitudes are not mistaken for zero)."""
    import numpy as np

    norms = np.linalg.norm(x, axis=0)
    unit = x / np.where(norms > 0, norms, 1.0)
    # unit = QR with Q orthonormal: any set of columns of R has the singular values of the
    # same columns of unit, so the rank checks run on k x k, not n x k (linear in n).
    r: np.ndarray = np.asarray(np.linalg.qr(unit, mode="r")) if len(unit) > unit.shape[1] else unit
    kept: list[int] = []
    notes = []
    for j, term in enumerate(spec.terms):
        candidate = [*kept, j]
        if norms[j] > 0 and np.linalg.matrix_rank(r[:, candidate], tol=1e-9) == len(candidate):
            kept.append(j)
        else:
            notes.append(
                f"{spec.term_name(term)} dropped: it is a linear combination of other terms "
                "in these trials"
            )
    return spec.with_terms([spec.terms[j] for j in kept]), notes
