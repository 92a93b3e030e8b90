"""Degree-2 polynomial OLS of a metric on hyperparameters, as in the paper, but readable.

`fit_regression` fits one metric; `fit_metrics` several. Terms are named from the parameters
(`learning_rate`, `learning_rate^2`, `learning_rate*train_batch_size`); features are scaled by
default so coefficients are comparable (see `regression_design` for the modes, including the
relative fit against a baseline trial). Doubtful fits come back with warnings, never an
exception: too few trials, collinear terms, a constant metric, effects within the seed noise.
Input problems a user can fix (a missing column, an unknown baseline) raise `TrialsTableError`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import checks
from .design import (
    MODES,
    DesignSpec,
    Levels,
    build_spec,
    drop_dependent_terms,
    guess_log_params,
)
from .table import TrialsTableError, as_trials_frame, require_columns, select_trials

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "Contrast",
    "Prediction",
    "RegressionResult",
    "TermEstimate",
    "fit_metrics",
    "fit_regression",
    "guess_log_params",
]

BASELINE = "baseline"


@dataclass(frozen=True)
class TermEstimate:
    """One coefficient with its standard error, t, p and 95% confidence interval."""

    term: str
    coef: float
    std_err: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    # Holm-adjusted p over every term tested in one analysis (NaN until `holm_adjust` runs).
    p_holm: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Prediction:
    """A fitted value with its 95% confidence interval (of the mean) and prediction interval
    (of one new trial, which adds the residual noise)."""

    mean: float
    conf_low: float
    conf_high: float
    pred_low: float
    pred_high: float


@dataclass(frozen=True)
class Contrast:
    """A linear combination c'β of the coefficients: its estimate, sqrt(c'Vc), t and p."""

    estimate: float
    std_err: float
    t: float
    p: float


@dataclass(frozen=True)
class RegressionResult:
    """One metric's fit. `model` names the terms that were fitted: "quadratic" (some square
    term), "linear with interactions", "linear" (no degree-2 term: too few trials, or only
    two values per parameter) or "none" (nothing fitted).

    In relative fits the modelled quantity is metric minus the baseline's metric. Besides the
    coefficients: `q2`, the leave-one-out predictive R² (see `checks.predictive_r2`);
    `seed_noise`, the pure error of replicate trials (None without replicates); `lack_of_fit`,
    the lack-of-fit F test when the pure error allows it; `settings`, the distinct settings.
    """

    metric: str
    mode: str
    model: str
    n: int
    total: int
    terms: tuple[TermEstimate, ...] = ()
    r2: float = math.nan
    adj_r2: float = math.nan
    f_pvalue: float = math.nan
    aic: float = math.nan
    condition_number: float = math.nan
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    left_out: Mapping[str, int] = field(default_factory=dict)
    params: tuple[str, ...] = ()
    log_params: tuple[str, ...] = ()
    robust: bool = False
    relative_to: int | None = None
    baseline_metric: float | None = None
    numbers: tuple[int, ...] = ()
    vif: Mapping[str, float] = field(default_factory=dict)
    seed_noise: checks.SeedNoise | None = None
    spec: DesignSpec | None = None
    # Coefficient covariance of the unit-norm design columns, and those columns' norms:
    # predictions stay accurate in raw mode, where columns differ by 10 orders of magnitude.
    cov_unit: tuple[tuple[float, ...], ...] = ()
    column_norms: tuple[float, ...] = ()
    df_resid: float = math.nan
    resid_var: float = math.nan
    # Per fitted trial (same order as `numbers`), on the fitted scale (relative: minus baseline).
    fitted_values: tuple[float, ...] = ()
    residuals: tuple[float, ...] = ()
    q2: float = math.nan
    lack_of_fit: checks.LackOfFit | None = None
    settings: int = 0

    @property
    def fitted(self) -> bool:
        return bool(self.terms)

    @property
    def observed(self) -> tuple[float, ...]:
        """The fitted trials' metric values, on the metric's own scale (baseline added back)."""
        shift = self.baseline_metric or 0.0
        return tuple(f + r + shift for f, r in zip(self.fitted_values, self.residuals, strict=True))

    def term(self, name: str) -> TermEstimate | None:
        return next((t for t in self.terms if t.term == name), None)

    def predict(self, values: Mapping[str, float]) -> Prediction:
        """The fitted value at parameter values on their original scale (absolute values also
        in relative fits); a parameter left out is held at its reference (the mean)."""
        if self.spec is None or not self.terms:
            raise ValueError(f"no model was fitted for {self.metric}")
        return self.predict_features(self.spec.features(values))

    def predict_features(self, u: Sequence[float]) -> Prediction:
        """As `predict`, from encoded features (see `regression_design`)."""
        import numpy as np

        assert self.spec is not None
        row = np.asarray(self.spec.row_from_features(u)) / np.asarray(self.column_norms)
        coef_unit = np.array([t.coef for t in self.terms]) * np.asarray(self.column_norms)
        cov = np.asarray(self.cov_unit)
        with np.errstate(all="ignore"):  # a feature far outside the data overflows to inf
            mean = float(row @ coef_unit)
            var = float(row @ cov @ row)
        se = math.sqrt(var) if var > 0 else (0.0 if var == 0 else math.nan)
        crit = _t_critical(self.df_resid)
        se_new = math.sqrt(se**2 + self.resid_var) if math.isfinite(se) else math.nan
        return Prediction(
            mean, mean - crit * se, mean + crit * se, mean - crit * se_new, mean + crit * se_new
        )

    def contrast_features(self, u_from: Sequence[float], u_to: Sequence[float]) -> Contrast:
        """The fitted change from features `u_from` to `u_to`, tested as that contrast:
        c = row(u_to) - row(u_from), estimate c'β, std err sqrt(c'Vc), two-sided t-test."""
        assert self.spec is not None
        return self.contrast_rows(
            [b - a for a, b in zip(self.spec.row_from_features(u_from),
                                   self.spec.row_from_features(u_to), strict=True)]
        )  # fmt: skip

    def contrast_rows(self, c: Sequence[float]) -> Contrast:
        """c'β for a vector `c` over the design columns (terms), with its own std err and p."""
        import numpy as np
        from scipy import stats

        if not self.terms:
            raise ValueError(f"no model was fitted for {self.metric}")
        row = np.asarray(c, dtype=float) / np.asarray(self.column_norms)
        coef_unit = np.array([t.coef for t in self.terms]) * np.asarray(self.column_norms)
        estimate = float(row @ coef_unit)
        se = math.sqrt(max(float(row @ np.asarray(self.cov_unit) @ row), 0.0))
        if se > 0:
            t = estimate / se
            p = float(2 * stats.t.sf(abs(t), self.df_resid))
        else:
            t, p = (0.0, 1.0) if estimate == 0 else (math.inf, 0.0)
        return Contrast(estimate, se, t, p)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: NaN becomes None."""
        spec = self.spec
        return {
            "metric": self.metric,
            "n": self.n,
            "r2": _plain(self.r2),
            "adj_r2": _plain(self.adj_r2),
            "warnings": list(self.warnings),
            "terms": [t.to_dict() for t in self.terms],
            "n_terms": len(self.terms),
            "model": self.model,
            "mode": self.mode,
            "f_pvalue": _plain(self.f_pvalue),
            "aic": _plain(self.aic),
            "condition_number": _plain(self.condition_number),
            "robust": self.robust,
            "relative_to": self.relative_to,
            "baseline_metric": self.baseline_metric,
            "total": self.total,
            "left_out": dict(self.left_out),
            "notes": list(self.notes),
            "params": list(self.params),
            "fitted_params": spec.param_names if spec else [],
            "dropped_params": [p for p in self.params if not spec or p not in spec.param_names],
            "log_params": list(self.log_params),
            "vif": {k: _plain(v) for k, v in self.vif.items()},
            "seed_noise_sd": self.seed_noise.sd if self.seed_noise else None,
            "replicate_groups": self.seed_noise.groups if self.seed_noise else 0,
            "pure_error": (
                {"sd": self.seed_noise.sd, "df": self.seed_noise.df,
                 "groups": self.seed_noise.groups, "trials": self.seed_noise.trials}
                if self.seed_noise else None
            ),
            "lack_of_fit": (
                {"f": _plain(self.lack_of_fit.f), "df_lof": self.lack_of_fit.df_lof,
                 "df_pe": self.lack_of_fit.df_pe, "p": _plain(self.lack_of_fit.p)}
                if self.lack_of_fit else None
            ),
            "q2": _plain(self.q2),
            "settings": self.settings,
        }  # fmt: skip


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


_T_CRITICAL: dict[float, float] = {}


def _t_critical(df: float) -> float:
    """The two-sided 95% t quantile for `df` degrees of freedom (cached: scipy's ppf costs
    ~0.2 ms a call, and the findings and optimum ask it hundreds of times per fit)."""
    if df not in _T_CRITICAL:
        from scipy import stats

        _T_CRITICAL[df] = float(stats.t.ppf(0.975, df)) if df > 0 else math.nan
    return _T_CRITICAL[df]


def fit_regression(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    metric: str,
    params: Sequence[str],
    *,
    mode: str = "scaled",
    log_params: Collection[str] | None = None,
    exclude: Collection[int] = (),
    robust: bool = False,
    relative_to: int | None = None,
    alpha: float = 0.05,
    levels: Mapping[str, Levels] | None = None,
) -> RegressionResult:
    """Fit `metric` on the full quadratic in `params` over the complete, non-excluded trials.

    `log_params`: parameters to take log10 of in scaled mode; None guesses them (all values
    > 0 spanning more than a factor of 20). `robust`: HC3 standard errors. `relative_to`: a
    baseline trial number; the fit is then on differences from that trial (both metric and
    parameters), and the baseline itself is left out. `levels`: the values each parameter
    can take (a study's space; see `design.Levels`). `alpha` is kept for callers; the
    judgement of effects (significance, seed noise, resolution) is made in `advice`.

    Two parameters that move together in every fitted trial (identical, proportional or
    linearly related values) are refused naming both: their effects cannot be told apart.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    table = as_trials_frame(trials)
    require_columns(table, [metric], "metric")
    require_columns(table, params, "parameter")
    keep = () if relative_to is None else (relative_to,)
    selection = select_trials(table, [metric, *params], exclude=exclude, keep=keep)
    rows, left_out = selection.frame, dict(selection.left_out)
    notes = list(selection.notes)
    if log_params is None:
        log_params = guess_log_params(rows, params) if mode == "scaled" else set()
    logs = tuple(p for p in params if p in log_params) if mode == "scaled" else ()

    baseline_values: dict[str, float] | None = None
    baseline_metric: float | None = None
    if relative_to is not None:
        missing = _check_baseline(table, rows, relative_to, [metric, *params])
        if missing == [metric]:  # only this metric is unusable relative to that baseline
            return RegressionResult(
                metric=metric, mode=mode, model="none", n=0, total=selection.total,
                left_out=left_out, params=tuple(params), relative_to=relative_to,
                notes=tuple(notes),
                warnings=(f"baseline trial {relative_to} has no value for {metric}; {metric} "
                          "is not fitted relative to it (metrics it has are)",),
            )  # fmt: skip
        if missing:
            raise TrialsTableError(
                f"baseline trial {relative_to} has no value for {', '.join(missing)}"
            )
        base = rows[rows["number"] == relative_to].iloc[0]
        baseline_values = {p: float(base[p]) for p in params}
        baseline_metric = float(base[metric])
        rows = rows[rows["number"] != relative_to].reset_index(drop=True)
        left_out[BASELINE] = 1

    y = rows[metric].to_numpy(dtype=float)
    if baseline_metric is not None:
        y = y - baseline_metric
    base_result = RegressionResult(
        metric=metric,
        mode=mode,
        model="none",
        n=len(rows),
        total=selection.total,
        left_out=left_out,
        params=tuple(params),
        log_params=logs,
        robust=robust,
        relative_to=relative_to,
        baseline_metric=baseline_metric,
        numbers=tuple(rows["number"].astype(int).tolist()),
    )
    if len(rows) and float(y.max() - y.min()) <= 1e-12 * max(1.0, float(abs(y).max())):
        warning = (
            f"{metric} has the same value ({y[0]:g}) in all {len(rows)} trials; nothing to fit"
        )
        return _unfitted(base_result, notes, [warning])
    if len(rows) < 2:
        return _unfitted(base_result, notes, [f"{len(rows)} complete trial(s); nothing to fit"])

    spec, design_notes = build_spec(rows, params, mode, logs, baseline_values, levels)
    notes += design_notes
    if not spec.params:
        return _unfitted(base_result, notes, ["no parameter varied; nothing to fit"])
    _check_finite_design(spec, spec.matrix(rows))
    warnings: list[str] = []
    chosen, model = _choose_model(spec, rows, notes, warnings)
    if chosen is None:
        return _unfitted(base_result, notes, warnings)
    _refuse_related(spec, rows)
    result = _replace(base_result, model=_model_name(chosen) if model != "none" else model)
    x = chosen.matrix(rows)
    _check_finite_design(chosen, x)
    return _fit(result, chosen, x, y, rows, notes, warnings, alpha)


def _check_finite_design(spec: DesignSpec, x: np.ndarray) -> None:
    """Squares and products of extreme values overflow to inf: refuse, naming the column."""
    import numpy as np

    bad = ~np.isfinite(x).all(axis=0)
    if bad.any():
        term = spec.terms[int(np.argmax(bad))]
        name = spec.params[term[0]].name
        raise TrialsTableError(
            f"column {name!r}: its values are too large to square (the {spec.term_name(term)} "
            "term overflows); rescale the column or leave it out with --params",
            name,
        )


def _refuse_related(spec: DesignSpec, rows: pd.DataFrame) -> None:
    """Refuse two parameters that move together in every fitted trial, naming both."""
    import numpy as np

    if len(spec.params) < 2:
        return
    names = spec.param_names
    raw = rows[names].to_numpy(dtype=float)
    features = np.column_stack([p.encode_array(raw[:, k]) for k, p in enumerate(spec.params)])
    pair = checks.related_pair(names, raw, features)
    if pair is not None:
        a, b, how = pair
        raise TrialsTableError(
            f"parameters {a!r} and {b!r} are {how} in every fitted trial: their effects "
            f"cannot be told apart; fit one of them (--params) or add trials that vary "
            "them separately",
            b,
        )


def _model_name(spec: DesignSpec) -> str:
    """What the fitted terms are: a square makes it quadratic; without any, it is linear."""
    squares = any(len(t) == 2 and t[0] == t[1] for t in spec.terms)
    products = any(len(t) == 2 and t[0] != t[1] for t in spec.terms)
    if not any(spec.terms[k] for k in range(len(spec.terms))):
        return "intercept only"
    if squares:
        return "quadratic"
    return "linear with interactions" if products else "linear"


def fit_metrics(
    trials: pd.DataFrame | Iterable[Mapping[str, Any]],
    metrics: Sequence[str],
    params: Sequence[str],
    **options: Any,
) -> dict[str, RegressionResult]:
    """`fit_regression` for each metric, with the same options."""
    table = as_trials_frame(trials)
    return {m: fit_regression(table, m, params, **options) for m in metrics}


def _check_baseline(
    table: pd.DataFrame, rows: pd.DataFrame, number: int, columns: Sequence[str]
) -> list[str]:
    """The columns the baseline lacks (none when it is among the usable rows); an unknown or
    unfinished baseline is an error."""
    if number in set(rows["number"]):
        return []
    known = table["number"].tolist()
    if number not in known:
        shown = f"{min(known)}–{max(known)}" if known else "none"
        raise TrialsTableError(f"baseline trial {number} is not in the table (trials: {shown})")
    row = table[table["number"] == number].iloc[0]
    if row["state"] != "COMPLETE":
        raise TrialsTableError(f"baseline trial {number} is {row['state']}, not COMPLETE")
    import pandas as pd

    return [c for c in columns if pd.isna(pd.to_numeric(row[c], errors="coerce"))]


def _unfitted(result: RegressionResult, notes: list[str], warnings: list[str]) -> RegressionResult:
    return _replace(result, notes=tuple(notes), warnings=tuple(warnings))


def _replace(result: RegressionResult, **changes: Any) -> RegressionResult:
    import dataclasses

    return dataclasses.replace(result, **changes)


def _choose_model(
    spec: DesignSpec, rows: pd.DataFrame, notes: list[str], warnings: list[str]
) -> tuple[DesignSpec | None, str]:
    """The quadratic if there are enough trials, else the linear model, else none."""
    n = len(rows)
    if n >= len(spec.terms) + 1:
        full, dropped = drop_dependent_terms(spec, spec.matrix(rows))
        notes += dropped
        return full, "quadratic"
    warnings.append(checks.too_few_trials(n, len(spec.terms), "quadratic"))
    linear = spec.with_terms([t for t in spec.terms if len(t) < 2])
    if n >= len(linear.terms) + 1:
        linear, dropped = drop_dependent_terms(linear, linear.matrix(rows))
        notes += dropped
        warnings.append(f"fitted the linear model ({len(linear.terms)} terms) instead")
        return linear, "linear"
    warnings.append(checks.too_few_trials(n, len(linear.terms), "linear") + "; nothing fitted")
    return None, "none"


def setting_keys(rows: pd.DataFrame, spec: DesignSpec) -> np.ndarray:
    """Each fitted trial's setting: its parameter values rounded to the values each can take
    (`design.Levels.snap_array`); equal rows are replicates."""
    import numpy as np

    return np.column_stack(
        [p.levels.snap_array(rows[p.name].to_numpy(dtype=float)) for p in spec.params]
    )


def _fit(
    result: RegressionResult,
    spec: DesignSpec,
    x: np.ndarray,
    y: np.ndarray,
    rows: pd.DataFrame,
    notes: list[str],
    warnings: list[str],
    alpha: float,
) -> RegressionResult:
    import numpy as np
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api: seconds to import

    names = spec.term_names()
    # Fit on unit-norm columns and scale back: exact algebra, and well-conditioned numerics
    # even for raw learning rates (1e-5) beside batch sizes (32).
    norms = np.linalg.norm(x, axis=0)
    unit = x / norms
    cov_type = "nonrobust"
    if result.robust:
        if checks.max_leverage(unit) > 1 - 1e-8:
            warnings.append(
                "HC3 robust errors are undefined: a trial has leverage 1 (the model passes "
                "exactly through it); classical errors used"
            )
        else:
            cov_type = "HC3"
    import warnings as python_warnings

    with python_warnings.catch_warnings(), np.errstate(all="ignore"):
        # A perfect fit (zero residuals) makes statsmodels warn about log(0) in the AIC and a
        # rank-deficient F test; the checks below say what that means in words.
        python_warnings.simplefilter("ignore")
        fit = OLS(y, unit).fit(cov_type=cov_type, use_t=True)
        ci = fit.conf_int(0.05)
        f_pvalue = float(np.asarray(fit.f_pvalue))
        aic = float(fit.aic)
    terms = tuple(
        TermEstimate(
            term=names[j],
            coef=float(fit.params[j] / norms[j]),
            std_err=float(fit.bse[j] / norms[j]),
            t=float(fit.tvalues[j]),
            p=float(fit.pvalues[j]),
            ci_low=float(ci[j, 0] / norms[j]),
            ci_high=float(ci[j, 1] / norms[j]),
        )
        for j in range(len(names))
    )
    with np.errstate(all="ignore"):
        condition_number = float(np.linalg.cond(np.linalg.qr(x, mode="r")))  # = cond(x), k x k
    vifs = checks.variance_inflation(x, names)
    noise, settings = checks.seed_noise(setting_keys(rows, spec), y)
    resid = np.asarray(fit.resid, dtype=float)
    q2 = checks.predictive_r2(resid, checks.hat_diagonal(unit), y)
    rss = float(resid @ resid)
    lof = checks.lack_of_fit(rss, float(fit.df_resid), noise, len(names))
    for warning in (
        checks.collinearity_warning(vifs, result.mode),
        checks.conditioning_warning(condition_number, result.mode),
        checks.sparse_design_warning(len(y), len(names), settings),
    ):
        if warning:
            warnings.append(warning)
    return _replace(
        result,
        terms=terms,
        r2=float(fit.rsquared),
        adj_r2=float(fit.rsquared_adj),
        f_pvalue=f_pvalue,
        aic=aic,
        condition_number=condition_number,
        warnings=tuple(warnings),
        notes=tuple(notes),
        vif=vifs,
        seed_noise=noise,
        spec=spec,
        cov_unit=tuple(tuple(float(v) for v in r) for r in np.asarray(fit.cov_params())),
        column_norms=tuple(float(v) for v in norms),
        df_resid=float(fit.df_resid),
        resid_var=float(fit.mse_resid),
        fitted_values=tuple(np.asarray(fit.fittedvalues, dtype=float).tolist()),
        residuals=tuple(resid.tolist()),
        q2=q2,
        lack_of_fit=lof,
        settings=settings,
    )
