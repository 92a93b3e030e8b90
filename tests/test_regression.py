"""The regression core against an independent least-squares computation (numpy + scipy)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hptui.core.analysis.design import guess_log_params
from hptui.core.analysis.regression import fit_metrics, fit_regression
from hptui.core.analysis.table import TrialsTableError, read_trials_csv, select_trials
from hptui.core.errors import HptuiError

PARAMS = ["learning_rate", "train_batch_size", "num_epochs"]
TERM_NAMES = [
    "const",
    "learning_rate",
    "train_batch_size",
    "num_epochs",
    "learning_rate^2",
    "train_batch_size^2",
    "num_epochs^2",
    "learning_rate*train_batch_size",
    "learning_rate*num_epochs",
    "train_batch_size*num_epochs",
]
# True coefficients on z-scored features (log10 learning rate), in TERM_NAMES order.
TRUE = np.array([0.85, 0.03, -0.01, 0.02, -0.015, 0.004, -0.006, 0.005, 0.0, -0.003])


def poly(u: np.ndarray) -> np.ndarray:
    """Full degree-2 design in TERM_NAMES order, built independently of hptui."""
    n, d = u.shape
    cols = [np.ones(n), *(u[:, i] for i in range(d)), *(u[:, i] ** 2 for i in range(d))]
    cols += [u[:, i] * u[:, j] for i, j in itertools.combinations(range(d), 2)]
    return np.column_stack(cols)


def zscore(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / v.std(ddof=1)


def make_trials(n: int = 60, seed: int = 0, noise: float = 0.004) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5.5, -4, n)  # a factor of ~32: guessed log-scaled
    bs = rng.choice([16, 32, 64], n).astype(float)
    ep = rng.choice([2, 3, 4, 5], n).astype(float)
    u = np.column_stack([zscore(np.log10(lr)), zscore(bs), zscore(ep)])
    f1 = poly(u) @ TRUE + rng.normal(0, noise, n)
    return pd.DataFrame(
        {
            "number": np.arange(n),
            "state": "COMPLETE",
            "learning_rate": lr,
            "train_batch_size": bs,
            "num_epochs": ep,
            "f1": f1,
            "loss": 1 - f1 + rng.normal(0, noise, n),
        }
    )


def exact_normal_equations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X'X)^-1 X'y and (X'X)^-1 in exact rationals (floats are binary fractions), for raw
    designs whose 1e11 condition number defeats any float64 reference without rescaling."""
    k = x.shape[1]
    xf = [[Fraction(float(v)) for v in row] for row in x]
    yf = [Fraction(float(v)) for v in y]
    rows = [
        [sum((r[i] * r[j] for r in xf), Fraction(0)) for j in range(k)]
        + [sum((r[i] * t for r, t in zip(xf, yf, strict=True)), Fraction(0))]
        + [Fraction(int(i == j)) for j in range(k)]
        for i in range(k)
    ]
    for c in range(k):  # Gauss-Jordan; X'X is positive definite, so no pivoting is needed
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(k):
            if r != c and rows[r][c]:
                factor = rows[r][c]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[c], strict=True)]
    coef = np.array([float(r[k]) for r in rows])
    inverse = np.array([[float(v) for v in r[k + 1 :]] for r in rows])
    return coef, inverse


def ols(
    x: np.ndarray, y: np.ndarray, hc3: bool = False, exact: bool = False
) -> dict[str, np.ndarray | float]:
    """Textbook OLS (numpy.linalg.lstsq, or exact rationals); t-based p-values and intervals."""
    n, k = x.shape
    if exact:
        coef, xtx_inv = exact_normal_equations(x, y)
    else:
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        xtx_inv = np.linalg.inv(x.T @ x)
    resid = y - x @ coef
    rss = float(resid @ resid)
    df = n - k
    if hc3:
        h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
        meat = x.T @ (x * (resid**2 / (1 - h) ** 2)[:, None])
        cov = xtx_inv @ meat @ xtx_inv
    else:
        cov = rss / df * xtx_inv
    se = np.sqrt(np.diag(cov))
    t = coef / se
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - rss / tss
    f = ((tss - rss) / (k - 1)) / (rss / df)
    return {
        "coef": coef,
        "se": se,
        "t": t,
        "p": 2 * stats.t.sf(np.abs(t), df),
        "ci_low": coef - stats.t.ppf(0.975, df) * se,
        "r2": r2,
        "adj_r2": 1 - (1 - r2) * (n - 1) / df,
        "f_p": float(stats.f.sf(f, k - 1, df)),
        "aic": n * math.log(rss / n) + n * (1 + math.log(2 * math.pi)) + 2 * k,
        "cov": cov,
        "rss": rss,
    }


def assert_matches(result, expected, rtol: float = 1e-7, check_f: bool = True) -> None:
    got = {k: np.array([t[k] for t in result.to_dict()["terms"]]) for k in ("coef", "p", "t")}
    np.testing.assert_allclose(got["coef"], expected["coef"], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(got["t"], expected["t"], rtol=rtol)
    np.testing.assert_allclose(got["p"], expected["p"], rtol=1e-5, atol=1e-14)
    std_err = [t.std_err for t in result.terms]
    np.testing.assert_allclose(std_err, expected["se"], rtol=rtol)
    ci_low = [t.ci_low for t in result.terms]
    np.testing.assert_allclose(ci_low, expected["ci_low"], rtol=max(rtol, 1e-6))
    assert result.r2 == pytest.approx(expected["r2"], rel=1e-9)
    assert result.adj_r2 == pytest.approx(expected["adj_r2"], rel=1e-9)
    assert result.aic == pytest.approx(expected["aic"], rel=1e-9)
    if check_f:
        assert result.f_pvalue == pytest.approx(expected["f_p"], rel=1e-5, abs=1e-300)


def test_scaled_mode_equals_lstsq_on_log_zscored_features_and_recovers_truth() -> None:
    trials = make_trials()
    result = fit_regression(trials, "f1", PARAMS)
    assert [t.term for t in result.terms] == TERM_NAMES
    assert result.log_params == ("learning_rate",)
    u = np.column_stack(
        [
            zscore(np.log10(trials["learning_rate"].to_numpy())),
            zscore(trials["train_batch_size"].to_numpy()),
            zscore(trials["num_epochs"].to_numpy()),
        ]
    )
    expected = ols(poly(u), trials["f1"].to_numpy())
    assert_matches(result, expected)
    for est, true in zip(result.terms, TRUE, strict=True):
        assert abs(est.coef - true) < 4 * est.std_err, est.term
    assert result.n == 60 and len(result.terms) == 10 and result.model == "quadratic"
    assert result.warnings == ()


def test_raw_mode_uses_values_as_stored() -> None:
    trials = make_trials()
    result = fit_regression(trials, "f1", PARAMS, mode="raw")
    x = poly(trials[PARAMS].to_numpy())
    expected = ols(x, trials["f1"].to_numpy(), exact=True)
    assert_matches(result, expected)
    assert result.log_params == ()
    # Unscaled learning-rate terms have huge coefficients, as in the paper's tables.
    assert abs(result.term("learning_rate^2").coef) > 1e6  # type: ignore[union-attr]
    assert any("condition number" in w for w in result.warnings)
    assert result.condition_number == pytest.approx(np.linalg.cond(x), rel=1e-6)


def test_hc3_errors_equal_the_sandwich_formula() -> None:
    trials = make_trials(seed=3)
    result = fit_regression(trials, "f1", PARAMS, mode="raw", robust=True)
    x = poly(trials[PARAMS].to_numpy())
    expected = ols(x, trials["f1"].to_numpy(), hc3=True, exact=True)
    assert_matches(result, expected, check_f=False)
    assert result.robust and result.to_dict()["robust"] is True


def test_prediction_interval_matches_the_textbook_formula() -> None:
    trials = make_trials(seed=4)
    result = fit_regression(trials, "f1", PARAMS, mode="raw")
    x = poly(trials[PARAMS].to_numpy())
    expected = ols(x, trials["f1"].to_numpy(), exact=True)
    point = {"learning_rate": 3e-5, "train_batch_size": 32.0, "num_epochs": 3.0}
    row = poly(np.array([[3e-5, 32.0, 3.0]]))[0]
    mean = float(row @ expected["coef"])
    sigma2 = expected["rss"] / (len(trials) - 10)
    se_new = math.sqrt(float(row @ expected["cov"] @ row) + sigma2)
    crit = stats.t.ppf(0.975, len(trials) - 10)
    pred = result.predict(point)
    assert pred.mean == pytest.approx(mean, rel=1e-7)
    assert pred.pred_low == pytest.approx(mean - crit * se_new, rel=1e-6)
    assert pred.pred_high == pytest.approx(mean + crit * se_new, rel=1e-6)


def test_left_out_trials_are_counted() -> None:
    trials = make_trials(n=40)
    trials.loc[[0, 1], "state"] = "FAIL"
    trials.loc[2, "state"] = "PRUNED"
    trials.loc[3, "state"] = "TrialState.RUNNING"
    trials.loc[4, "f1"] = np.nan
    result = fit_regression(trials, "f1", PARAMS, exclude={5, 6, 999})
    assert result.n == 33 and result.total == 40
    assert dict(result.left_out) == {
        "FAIL": 2,
        "PRUNED": 1,
        "RUNNING": 1,
        "excluded": 2,
        "missing value": 1,
    }
    assert set(result.numbers) == set(range(7, 40))
    assert any("999" in note for note in result.notes)


def test_relative_fit_is_on_differences_from_the_baseline() -> None:
    trials = make_trials(n=50, seed=5)
    base = 7
    result = fit_regression(trials, "f1", PARAMS, mode="raw", relative_to=base)
    rows = trials[trials["number"] != base]
    b = trials[trials["number"] == base].iloc[0]
    dx = rows[PARAMS].to_numpy() - b[PARAMS].to_numpy(dtype=float)
    dy = rows["f1"].to_numpy() - b["f1"]
    assert_matches(result, ols(poly(dx), dy, exact=True))
    assert result.relative_to == base and result.n == 49 and result.left_out["baseline"] == 1
    assert result.baseline_metric == pytest.approx(b["f1"])
    assert base not in result.numbers
    assert result.to_dict()["relative_to"] == base


def test_relative_scaled_divides_differences_by_sd_without_recentring() -> None:
    trials = make_trials(n=50, seed=6)
    base = 3
    result = fit_regression(trials, "f1", PARAMS, relative_to=base)
    rows = trials[trials["number"] != base]
    b = trials[trials["number"] == base].iloc[0]
    cols = []
    for name in PARAMS:
        v, vb = rows[name].to_numpy(), float(b[name])
        if name == "learning_rate":
            v, vb = np.log10(v), math.log10(vb)
        cols.append((v - vb) / v.std(ddof=1))
    assert_matches(result, ols(poly(np.column_stack(cols)), rows["f1"].to_numpy() - b["f1"]))


def test_relative_sign_convention() -> None:
    # f1 rises with epochs; trials with more epochs than the baseline are better than it.
    rows = [
        {"number": i, "num_epochs": e, "f1": 0.8 + 0.01 * e + 0.001 * (i % 3)}
        for i, e in enumerate([1, 2, 3, 4, 5] * 3)
    ]
    result = fit_regression(rows, "f1", ["num_epochs"], mode="raw", relative_to=2)  # 3 epochs
    assert result.term("num_epochs").coef == pytest.approx(0.01, abs=1e-3)  # type: ignore[union-attr]
    above = result.predict({"num_epochs": 5}).mean
    below = result.predict({"num_epochs": 1}).mean
    assert above > 0 > below
    assert above == pytest.approx(0.02, abs=3e-3)


def test_unknown_or_unusable_baseline_is_a_clear_error() -> None:
    trials = make_trials(n=20)
    trials.loc[4, "state"] = "FAIL"
    with pytest.raises(TrialsTableError, match="baseline trial 77 is not in the table"):
        fit_regression(trials, "f1", PARAMS, relative_to=77)
    with pytest.raises(HptuiError, match="baseline trial 4 is FAIL"):
        fit_regression(trials, "f1", PARAMS, relative_to=4)


def test_too_few_trials_falls_back_to_the_linear_model() -> None:
    trials = make_trials(n=8)
    result = fit_regression(trials, "f1", PARAMS)
    assert result.model == "linear"
    assert [t.term for t in result.terms] == TERM_NAMES[:4]
    needed = "needs at least 11 complete trials; have 8, 3 more needed"
    assert any(needed in w for w in result.warnings)
    assert any("fitted the linear model (4 terms)" in w for w in result.warnings)
    u = np.column_stack(
        [zscore(np.log10(trials["learning_rate"].to_numpy()))]
        + [zscore(trials[p].to_numpy()) for p in PARAMS[1:]]
    )
    expected = ols(np.column_stack([np.ones(8), u]), trials["f1"].to_numpy())
    assert_matches(result, expected)


def test_far_too_few_trials_fits_nothing_and_says_so() -> None:
    trials = make_trials(n=4)
    result = fit_regression(trials, "f1", PARAMS)
    assert result.model == "none" and result.terms == () and not result.fitted
    assert any("linear model has 4 terms" in w and "nothing fitted" in w for w in result.warnings)
    assert result.to_dict()["terms"] == []


def test_constant_metric_and_constant_parameter() -> None:
    trials = make_trials(n=30)
    trials["accuracy"] = 0.5
    result = fit_regression(trials, "accuracy", PARAMS)
    assert result.terms == () and "same value" in result.warnings[0]
    trials["warmup_ratio"] = 0.1
    result = fit_regression(trials, "f1", [*PARAMS, "warmup_ratio"])
    assert any("warmup_ratio did not vary" in n for n in result.notes)
    assert result.to_dict()["dropped_params"] == ["warmup_ratio"]
    assert [t.term for t in result.terms] == TERM_NAMES


def test_square_of_a_two_level_parameter_is_dropped_with_a_note() -> None:
    trials = make_trials(n=40)
    trials["train_batch_size"] = np.where(trials["number"] % 2 == 0, 16.0, 32.0)
    result = fit_regression(trials, "f1", PARAMS)
    names = [t.term for t in result.terms]
    assert "train_batch_size^2" not in names and "train_batch_size" in names
    assert any("train_batch_size^2 dropped" in n for n in result.notes)


def test_near_collinear_parameters_warn_with_vif() -> None:
    trials = make_trials(n=40)
    rng = np.random.default_rng(1)
    trials["max_steps"] = trials["num_epochs"] * 100 + rng.normal(0, 1, 40)
    result = fit_regression(trials, "f1", ["num_epochs", "max_steps"])
    assert result.fitted
    warning = next(w for w in result.warnings if "near-collinear" in w)
    assert "num_epochs (VIF" in warning and "max_steps (VIF" in warning
    assert result.vif["max_steps"] > 10


def test_vif_equals_one_over_one_minus_r2() -> None:
    trials = make_trials(n=40)
    result = fit_regression(trials, "f1", PARAMS, mode="raw")
    x = poly(trials[PARAMS].to_numpy())
    j = TERM_NAMES.index("num_epochs^2")
    others = np.delete(x, j, axis=1)
    fit, *_ = np.linalg.lstsq(others, x[:, j], rcond=None)
    resid = x[:, j] - others @ fit
    r2 = 1 - resid @ resid / ((x[:, j] - x[:, j].mean()) ** 2).sum()
    assert result.vif["num_epochs^2"] == pytest.approx(1 / (1 - r2), rel=1e-5)


def test_effect_smaller_than_seed_noise_is_flagged() -> None:
    rng = np.random.default_rng(2)
    levels = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 80)
    f1 = 0.8 + 0.008 * levels + rng.normal(0, 0.05, len(levels))
    rows = pd.DataFrame({"num_epochs": levels, "seed": np.arange(400), "f1": f1})
    result = fit_regression(rows, "f1", ["num_epochs"])
    assert result.term("num_epochs").p < 0.05  # type: ignore[union-attr]
    pooled = math.sqrt(
        sum(((g - g.mean()) ** 2).sum() for _, g in rows.groupby("num_epochs")["f1"]) / (400 - 5)
    )
    assert result.seed_noise is not None
    assert result.seed_noise.sd == pytest.approx(pooled, rel=1e-9)
    assert result.seed_noise.groups == 5
    from hptui.core.analysis.advice import advise

    advice = advise({"f1": result})
    assert advice.fits["f1"].established  # the fit itself passes: F, Q² > 0, no lack of fit
    assert advice.stated("f1") == []  # +0.028 over the range, seed sd 0.05
    assert any("not established: num_epochs 1 → 5" in c and "not larger than the seed noise" in c
               for c in advice.cautions["f1"])  # fmt: skip
    # An optimum resting on no established finding is not a result.
    assert any("no finding of the f1 fit is established" in r
               for r in advice.optima["f1"].refusals)  # fmt: skip


def test_hc3_with_a_leverage_one_trial_falls_back_with_a_warning() -> None:
    trials = make_trials(n=30)
    trials["warmup"] = 0.0
    trials.loc[0, "warmup"] = 0.1
    result = fit_regression(trials, "f1", ["num_epochs", "warmup"], robust=True)
    assert result.fitted
    assert any("HC3" in w for w in result.warnings)


def test_log_guess_needs_positive_values_spanning_more_than_20x() -> None:
    frame = pd.DataFrame({"a": [1e-5, 1e-4, 3e-4], "b": [1.0, 10.0, 19.0], "c": [-1.0, 1.0, 50.0]})
    assert guess_log_params(frame, ["a", "b", "c"]) == {"a"}


def test_fit_metrics_and_to_dict_keys() -> None:
    results = fit_metrics(make_trials(), ["f1", "loss"], PARAMS, mode="raw")
    d = results["loss"].to_dict()
    for key in ("metric", "n", "r2", "adj_r2", "warnings", "terms", "n_terms", "f_pvalue", "aic"):
        assert key in d
    assert d["metric"] == "loss" and d["n_terms"] == 10
    assert set(d["terms"][0]) == {
        "term",
        "coef",
        "std_err",
        "t",
        "p",
        "ci_low",
        "ci_high",
        "p_holm",
    }
    assert d["terms"][0]["term"] == "const"


def test_missing_metric_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    make_trials(n=5).to_csv(path, index=False)
    with pytest.raises(TrialsTableError) as info:
        read_trials_csv(path, params=PARAMS, metrics=["accuracy"])
    message = str(info.value)
    assert str(path) in message and "'accuracy'" in message and "f1" in message
    assert info.value.column == "accuracy"
    with pytest.raises(TrialsTableError, match="no metric column 'accuracy'"):
        fit_regression(make_trials(n=5), "accuracy", PARAMS)


def test_csv_without_number_or_state_uses_the_row_index(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("lr,f1\n1e-5,0.8\n2e-5,0.82\n3e-5,oops\n")
    with pytest.raises(TrialsTableError, match=r"column 'f1' must be numeric; trial 2"):
        read_trials_csv(path, params=["lr"], metrics=["f1"])
    path.write_text("lr,f1\n1e-5,0.8\n2e-5,0.82\n3e-5,0.81\n")
    frame = read_trials_csv(path, params=["lr"], metrics=["f1"])
    assert frame["number"].tolist() == [0, 1, 2]
    assert select_trials(frame, ["lr", "f1"]).n == 3
    with pytest.raises(TrialsTableError, match="no such file"):
        read_trials_csv(tmp_path / "absent.csv")
