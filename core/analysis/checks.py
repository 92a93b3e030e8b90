"""Checks that turn a doubtful fit into a warning the user can act on, not a crash."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

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
    with np.errstate(all="ignore"):  # a constant column: its VIF is inf, said as such
        corr = np.corrcoef(x[:, columns], rowvar=False)
        try:
            diag = np.diag(np.linalg.inv(corr))
        except np.linalg.LinAlgError:
            diag = np.full(len(columns), np.inf)
    diag = np.where(np.isfinite(diag), diag, np.inf)
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
    """Pure error: the metric's spread between replicate trials (the same setting of every
    fitted parameter after rounding to the values it can take, e.g. re-runs with another seed).

    `sd` = sqrt(ss / df): the pooled within-group standard deviation, with ss the sum of
    squared deviations from each group's mean and df = sum(group size - 1) over the `groups`
    replicate groups (`trials` trials in them). `settings` is the number of distinct settings
    among all fitted trials (replicated or not), which the lack-of-fit test needs.
    """

    sd: float
    groups: int
    df: int
    ss: float = 0.0
    trials: int = 0
    settings: int = 0

    @property
    def measured(self) -> bool:
        """False when every replicate group agrees exactly (deterministic re-runs, the same
        seed): such groups say nothing about the noise between seeds."""
        return self.df > 0 and self.sd > 0


def setting_codes(keys: np.ndarray) -> np.ndarray:
    """One integer per row naming its setting: rows with equal keys share a code."""
    import numpy as np

    if keys.ndim == 1:
        keys = keys[:, None]
    _, codes = np.unique(keys, axis=0, return_inverse=True)
    return np.asarray(codes).reshape(-1)


def seed_noise(keys: np.ndarray, y: np.ndarray) -> tuple[SeedNoise | None, int]:
    """The pure error of `y` over the replicate groups of `keys` (one row per trial, the
    rounded parameter values), and the number of distinct settings. None when no setting
    was run twice. Linear in the number of trials."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    if not len(y):
        return None, 0
    codes = setting_codes(keys)
    settings = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=settings)
    sums = np.bincount(codes, weights=y, minlength=settings)
    means = sums / np.maximum(counts, 1)
    replicated = counts[codes] > 1
    if not replicated.any():
        return None, settings
    ss = float(((y - means[codes])[replicated] ** 2).sum())
    groups = int((counts > 1).sum())
    df = int(replicated.sum()) - groups
    sd = math.sqrt(ss / df) if df > 0 else 0.0
    return SeedNoise(sd, groups, df, ss, int(replicated.sum()), settings), settings


@dataclass(frozen=True)
class LackOfFit:
    """The lack-of-fit F test: does the model miss structure larger than the pure error?

    F = (SS_lof / df_lof) / (SS_pe / df_pe), SS_lof = RSS - SS_pe, df_lof = settings - terms,
    df_pe from the replicate groups; a small p says the fitted shape does not describe the
    trials beyond their seed noise."""

    f: float
    df_lof: int
    df_pe: int
    p: float


def lack_of_fit(
    rss: float, df_resid: float, noise: SeedNoise | None, n_terms: int
) -> LackOfFit | None:
    """The test, when there is pure error to compare with and the model does not pass
    through every distinct setting (df_lof > 0); None otherwise."""
    from scipy import stats

    if noise is None or not noise.measured:
        return None
    df_lof = noise.settings - n_terms
    if df_lof <= 0 or df_lof + noise.df != round(df_resid):
        return None
    ss_lof = max(rss - noise.ss, 0.0)
    f = (ss_lof / df_lof) / (noise.ss / noise.df)
    return LackOfFit(float(f), int(df_lof), int(noise.df), float(stats.f.sf(f, df_lof, noise.df)))


def hat_diagonal(x: np.ndarray) -> np.ndarray:
    """The leverages h_ii: the diagonal of the hat matrix X (X'X)^-1 X', from a QR."""
    import numpy as np

    q, _ = np.linalg.qr(x)
    return np.asarray((q**2).sum(axis=1))


def predictive_r2(residuals: np.ndarray, leverage: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out predictive R² (Q²) = 1 - PRESS / TSS, with PRESS = sum((e_i / (1 -
    h_ii))²), the squared errors of predicting each trial from a fit without it (exact for
    OLS, no refitting), and TSS = sum((y_i - mean y)²). Q² <= 0: the fit predicts a left-out
    trial no better than the mean of the trials. -inf when a trial has leverage 1 (the fit
    passes through it, so nothing predicts it when it is left out)."""
    import numpy as np

    tss = float(((y - y.mean()) ** 2).sum())
    if tss <= 0 or np.any(leverage > 1 - 1e-10):
        return -math.inf
    press = float(((residuals / (1 - leverage)) ** 2).sum())
    return 1 - press / tss


def related_pair(
    names: Sequence[str], raw: np.ndarray, features: np.ndarray
) -> tuple[str, str, str] | None:
    """Two parameters that move together in every trial: identical values, proportional
    values (b = k·a), or one an exact linear function of the other on the fitted scale.
    Returns (a, b, how) for the first such pair, None when every pair varies separately."""
    import numpy as np

    d = len(names)
    with np.errstate(all="ignore"):
        return _first_related(names, raw, features, d)


def _first_related(
    names: Sequence[str], raw: np.ndarray, features: np.ndarray, d: int
) -> tuple[str, str, str] | None:
    import numpy as np

    for i in range(d):
        for j in range(i + 1, d):
            a, b = raw[:, i], raw[:, j]
            ua, ub = features[:, i], features[:, j]
            if np.ptp(ua) == 0 or np.ptp(ub) == 0:
                continue
            first, second = names[i], names[j]
            scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-300)
            if np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale):
                return first, second, "identical"
            if (np.abs(a) > 0).all():
                ratio = b / a
                if np.allclose(ratio, ratio[0], rtol=1e-9, atol=0):
                    return first, second, f"proportional ({second} = {ratio[0]:.4g} × {first})"
            corr = np.corrcoef(ua, ub)[0, 1]
            if np.isfinite(corr) and abs(corr) > 1 - 1e-9:
                how = f"linearly related ({second} is determined by {first} on the fitted scale)"
                return first, second, how
    return None


def max_leverage(x: np.ndarray) -> float:
    """Largest diagonal of the hat matrix; HC3 errors are undefined when it is 1."""
    import numpy as np

    q, _ = np.linalg.qr(x)
    return float((q**2).sum(axis=1).max())
