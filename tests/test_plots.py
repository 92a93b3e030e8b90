"""Plot data: correlations, fitted curves and parallel coordinates, checked independently."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hptui.core.analysis.plots import correlation_heatmap, parallel_coordinates, scatter_with_fit
from hptui.core.analysis.regression import fit_regression

PARAMS = ["learning_rate", "train_batch_size", "num_epochs"]


def trials(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-6, -4, n)
    bs = rng.choice([16.0, 32.0, 64.0], n)
    ep = rng.choice([2.0, 3.0, 4.0], n)
    f1 = 0.8 + 0.03 * np.log10(lr) ** 2 / 25 + 1e-4 * bs + rng.normal(0, 0.01, n)
    states = ["COMPLETE"] * n
    states[0], states[1] = "FAIL", "PRUNED"
    frame = pd.DataFrame(
        {
            "number": range(n),
            "state": states,
            "learning_rate": lr,
            "train_batch_size": bs,
            "num_epochs": ep,
            "f1": f1,
            "loss": 1 - f1 + rng.normal(0, 0.01, n),
        }
    )
    frame.loc[0, ["f1", "loss"]] = np.nan  # a failed trial has no metrics
    return frame


def test_heatmap_equals_scipy_correlations_over_complete_trials() -> None:
    frame = trials()
    frame["warmup_ratio"] = 0.1
    heat = correlation_heatmap(frame, [*PARAMS, "warmup_ratio"], ["f1", "loss"])
    done = frame[frame["state"] == "COMPLETE"]
    assert heat["n"] == 38 and heat["left_out"] == {"FAIL": 1, "PRUNED": 1}
    for i, p in enumerate(PARAMS):
        for j, m in enumerate(["f1", "loss"]):
            expected = stats.spearmanr(done[p], done[m]).statistic
            assert heat["values"][i][j] == pytest.approx(expected, rel=1e-12)
    assert heat["values"][3] == [None, None]  # warmup_ratio never varied
    pearson = correlation_heatmap(frame, PARAMS, ["f1"], method="pearson")
    r = stats.pearsonr(done["train_batch_size"], done["f1"]).statistic
    assert pearson["values"][1][0] == pytest.approx(r, rel=1e-12)
    json.dumps(heat, allow_nan=False)


def test_scatter_points_and_curve_with_others_at_their_mean() -> None:
    frame = trials()
    result = fit_regression(frame, "f1", PARAMS)
    panels = {p["param"]: p for p in scatter_with_fit(frame, result, points=11)}
    lr = panels["learning_rate"]
    done = frame[frame["state"] == "COMPLETE"]
    assert lr["x"] == done["learning_rate"].tolist() and lr["y"] == done["f1"].tolist()
    assert lr["log"] is True and lr["y_label"] == "f1"
    xs = np.array(lr["curve"]["x"])
    assert xs[0] == pytest.approx(done["learning_rate"].min())
    assert xs[-1] == pytest.approx(done["learning_rate"].max())
    np.testing.assert_allclose(np.diff(np.log10(xs)), np.log10(xs[-1] / xs[0]) / 10)
    # Others at their mean z-score (0): only const, lr and lr^2 remain.
    v = np.log10(done["learning_rate"].to_numpy())
    z = (np.log10(xs) - v.mean()) / v.std(ddof=1)
    c = {t.term: t.coef for t in result.terms}
    expected = c["const"] + c["learning_rate"] * z + c["learning_rate^2"] * z**2
    np.testing.assert_allclose(lr["curve"]["y"], expected, rtol=1e-10)
    assert all(
        lo <= y <= hi
        for lo, y, hi in zip(lr["curve"]["low"], lr["curve"]["y"], lr["curve"]["high"], strict=True)
    )
    bs = panels["train_batch_size"]
    assert bs["log"] is False
    np.testing.assert_allclose(np.diff(bs["curve"]["x"]), 4.8)
    assert bs["held"]["num_epochs"] == pytest.approx(done["num_epochs"].mean())
    json.dumps(panels, allow_nan=False)


def test_relative_scatter_shows_differences_and_dropped_params_have_no_curve() -> None:
    frame = trials()
    frame["seed"] = 42.0
    result = fit_regression(frame, "f1", [*PARAMS, "seed"], mode="raw", relative_to=5)
    panels = {p["param"]: p for p in scatter_with_fit(frame, result)}
    base = frame.loc[5, "f1"]
    rows = frame[(frame["state"] == "COMPLETE") & (frame["number"] != 5)]
    np.testing.assert_allclose(panels["num_epochs"]["y"], rows["f1"] - base)
    assert panels["num_epochs"]["y_label"] == "f1 − baseline"
    assert panels["seed"]["curve"] is None and len(panels["seed"]["x"]) == len(rows)
    # At the baseline's own parameters the fitted difference is the intercept.
    at_base = result.predict({p: frame.loc[5, p] for p in PARAMS}).mean
    assert at_base == pytest.approx(result.term("const").coef)  # type: ignore[union-attr]


def test_parallel_coordinates_cover_every_trial_on_unit_axes() -> None:
    frame = trials()
    data = parallel_coordinates(frame, PARAMS, ["f1", "loss"])
    assert [a["name"] for a in data["axes"]] == [*PARAMS, "f1", "loss"]
    assert len(data["lines"]) == 40
    failed = data["lines"][0]
    assert failed["state"] == "FAIL" and failed["values"][3] is None and failed["raw"][3] is None
    lr_axis = data["axes"][0]
    assert lr_axis["log"] is True and data["axes"][1]["log"] is False
    assert lr_axis["low"] == pytest.approx(frame["learning_rate"].min())
    assert (
        data["axes"][4]["lower_is_better"] is True and data["axes"][3]["lower_is_better"] is False
    )
    v = np.log10(frame["learning_rate"].to_numpy())
    expected = (v - v.min()) / (v.max() - v.min())
    np.testing.assert_allclose([line["values"][0] for line in data["lines"]], expected)
    f1 = [line["values"][3] for line in data["lines"] if line["values"][3] is not None]
    assert min(f1) == 0.0 and max(f1) == 1.0
    assert math.isclose(data["lines"][7]["raw"][1], frame.loc[7, "train_batch_size"])
    json.dumps(data, allow_nan=False)


def test_console_plot_data_matrix_curve_and_residuals() -> None:
    from hptui.core.analysis.plots import correlation_matrix, curve_data, residuals

    frame = trials()
    matrix = correlation_matrix(frame, [*PARAMS, "f1"])
    done = frame[frame["state"] == "COMPLETE"]
    assert matrix["n"] == 38 and len(matrix["values"]) == 4
    assert matrix["values"][0][0] == pytest.approx(1.0)
    expected = stats.spearmanr(done["learning_rate"], done["f1"]).statistic
    assert matrix["values"][0][3] == pytest.approx(expected, rel=1e-12)
    assert matrix["values"][3][0] == matrix["values"][0][3]
    result = fit_regression(frame, "f1", PARAMS)
    x, y, low, high = curve_data(result, "train_batch_size", points=5)
    assert x[0] == 16 and x[-1] == 64 and len(y) == 5
    for xi, yi, lo, hi in zip(x, y, low, high, strict=True):
        p = result.predict({"train_batch_size": xi})
        assert (yi, lo, hi) == pytest.approx((p.mean, p.conf_low, p.conf_high))
        assert lo < yi < hi
    assert curve_data(result, "not_a_param") == ([], [], [], [])
    res = residuals(result)
    observed = done.set_index("number").loc[res["numbers"], "f1"].to_numpy()
    assert np.asarray(res["fitted"]) + np.asarray(res["residuals"]) == pytest.approx(observed)
    json.dumps(res, allow_nan=False)
