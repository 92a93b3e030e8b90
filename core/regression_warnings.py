"""Checks that turn a doubtful fit into a warning the user can act on, not a crash."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MINUS = "\u2212"

# Above this variance inflation factor a term's own coefficient is hard to separate from others'.
VIF_LIMIT = 10.0
# Above this condition number (raw mode) rounding alone can move the coefficients.
CONDITION_LIMIT = 1e8


def fmt(value: float) -> str:
    """Compact: 3 significant digits, scientific notation for very small or large values,
    whole numbers as such (batch size 32, not 32.0)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def fmt_signed(value: float) -> str:
    """With an explicit sign, and a typographic minus: +0.012, −0.012."""
    text = fmt(abs(value))
    return (MINUS if value < 0 else "+") + text


def fmt_p(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def too_few_trials(n: int, n_terms: int, model: str) -> str:
    """Say how many more trials a model needs: one more than its terms, to estimate the error."""
    need = n_terms + 1
    return (
        f"the {model} model has {n_terms} terms and needs at least {need} complete trials; "
        f"have {n}, {need - n} more needed"
    )


# Fewer trials than this per estimated term, and coefficients are barely determined: the
# fit still prints, but its optimum is not acted on (enqueue/suggest-space) unless forced.
MIN_TRIALS_PER_TERM = 2.0


def trials_per_term(n: int, n_terms: int) -> float:
    return n / n_terms if n_terms else math.inf


def sparse_design_warning(n: int, n_terms: int, settings: int) -> str | None:
    """Too few trials per estimated term, or too few distinct settings for the terms."""
    out = []
    if trials_per_term(n, n_terms) < MIN_TRIALS_PER_TERM:
        out.append(
            f"{n} trials for {n_terms} terms ({n / n_terms:.1f} per term, fewer than "
            f"{MIN_TRIALS_PER_TERM:g}): the coefficients are barely determined and the "
            "optimum is a guess"
        )
    if settings <= n_terms:
        out.append(
            f"only {settings} distinct parameter setting(s) for {n_terms} terms: the curve "
            "passes (almost) through every setting, so nothing checks its shape"
        )
    return "; ".join(out) or None


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (equal to statsmodels' `multipletests(p, method=
    "holm")[1]`, which a test checks). Computed here because statsmodels' holm branch calls
    `gc.collect()`, which costs ~0.15 s per call with a 10,000-trial table in memory."""
    import numpy as np

    p = np.asarray(p_values, dtype=float)
    if not len(p):
        return []
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate(p[order] * np.arange(m, 0, -1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def variance_inflation(x: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """VIF of each non-intercept column: 1 / (1 - R²) of that column on the others."""
    import numpy as np

    columns = [j for j, name in enumerate(names) if name != "const"]
    if len(columns) < 2:
        return {names[j]: 1.0 for j in columns}
    corr = np.corrcoef(x[:, columns], rowvar=False)
    try:
        diag = np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:
        diag = np.full(len(columns), np.inf)
    return {names[j]: float(v) for j, v in zip(columns, diag, strict=True)}


def collinearity_warning(vifs: Mapping[str, float], mode: str) -> str | None:
    high = sorted(((v, t) for t, v in vifs.items() if not v <= VIF_LIMIT), reverse=True)
    if not high:
        return None
    listed = ", ".join(f"{t} (VIF {fmt(v)})" for v, t in high[:6])
    hint = "; the scaled mode centres features, which removes most of it" if mode == "raw" else ""
    return (
        f"near-collinear terms (VIF > {VIF_LIMIT:g}): {listed}; their separate coefficients "
        f"and p-values are unreliable{hint}"
    )


def conditioning_warning(condition_number: float, mode: str) -> str | None:
    if mode != "raw" or condition_number <= CONDITION_LIMIT:
        return None
    return (
        f"condition number {fmt(condition_number)}: raw features differ by many orders of "
        "magnitude, so coefficients are hard to compare; the scaled mode avoids this"
    )


@dataclass(frozen=True)
class SeedNoise:
    """Pooled within-group sd of the metric over trials with identical parameters."""

    sd: float
    groups: int
    df: int


def seed_noise(frame: pd.DataFrame, params: Sequence[str], y: np.ndarray) -> SeedNoise | None:
    """The metric's spread between replicates (same parameters, e.g. another seed), if any.

    One hash-based grouping pass: linear in the number of trials.
    """
    import numpy as np
    import pandas as pd

    if not len(y):
        return None
    keys = frame[list(params)].astype(float).round(12)
    codes = keys.groupby(list(params), sort=False, dropna=False).ngroup().to_numpy()
    values = pd.Series(np.asarray(y, dtype=float))
    grouped = values.groupby(codes)
    counts = grouped.transform("size").to_numpy()
    replicated = counts > 1
    if not replicated.any():
        return None
    deviation = values.to_numpy() - grouped.transform("mean").to_numpy()
    sum_sq = float((deviation[replicated] ** 2).sum())
    groups = len(np.unique(codes[replicated]))
    df = int(replicated.sum()) - groups
    return SeedNoise(sd=float(np.sqrt(sum_sq / df)), groups=groups, df=df)


def max_leverage(x: np.ndarray) -> float:
    """Largest diagonal of the hat matrix; HC3 errors are undefined when it is 1."""
    import numpy as np

    q, _ = np.linalg.qr(x)
    return float((q**2).sum(axis=1).max())
