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
    """The metric's spread between replicates (same parameters, e.g. another seed), if any."""
    import numpy as np

    keys = frame[list(params)].round(12).astype(str).agg("|".join, axis=1).to_numpy()
    sum_sq, df, groups = 0.0, 0, 0
    for key in np.unique(keys):
        values = y[keys == key]
        if len(values) > 1:
            sum_sq += float(((values - values.mean()) ** 2).sum())
            df += len(values) - 1
            groups += 1
    if not groups:
        return None
    return SeedNoise(sd=float(np.sqrt(sum_sq / df)), groups=groups, df=df)


def noise_warning(noise: SeedNoise | None, effects: Mapping[str, float], metric: str) -> str | None:
    """Warn when a significant term moves the metric less, over the searched range, than
    repeating a trial with another seed does."""
    if noise is None:
        return None
    small = [f"{t} ({fmt(e)})" for t, e in effects.items() if abs(e) < noise.sd]
    if not small:
        return None
    return (
        f"significant but smaller than the seed noise (sd {fmt(noise.sd)} of {metric} from "
        f"{noise.groups} replicate group(s)): {', '.join(small)} — effect over the searched range"
    )


def max_leverage(x: np.ndarray) -> float:
    """Largest diagonal of the hat matrix; HC3 errors are undefined when it is 1."""
    import numpy as np

    q, _ = np.linalg.qr(x)
    return float((q**2).sum(axis=1).max())
