"""Advice on constructed trials whose true effects, optima and trade-offs are known."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from hptui.core.analysis.advice import advise, describe_terms, find_optimum
from hptui.core.analysis.regression import fit_metrics, fit_regression


def factorial(noise: float = 1e-5, seed: int = 1) -> pd.DataFrame:
    """lr {2,3,5}e-5 × batch {16,32} × epochs {2,3,4}, twice. Known linear effects:
    f1 falls with lr; accuracy rises with lr, batch and epochs; loss falls with lr and batch.
    (Twice: every setting is replicated, so the lack-of-fit test runs; at alpha 0.05 it
    fails a correct model 1 time in 20, as with seed 0 here for f1: p = 0.008.)"""
    rng = np.random.default_rng(seed)
    grid = list(itertools.product([2e-5, 3e-5, 5e-5], [16.0, 32.0], [2.0, 3.0, 4.0])) * 2
    lr, bs, ep = (np.array(c) for c in zip(*grid, strict=True))
    n = len(grid)
    return pd.DataFrame(
        {
            "number": range(n),
            "learning_rate": lr,
            "train_batch_size": bs,
            "num_epochs": ep,
            "f1": 0.9 - 400 * lr + rng.normal(0, noise, n),
            "accuracy": 0.8 + 1000 * lr + 5e-4 * bs + 2e-3 * ep + rng.normal(0, noise, n),
            "loss": 0.5 - 2000 * lr - 1e-3 * bs + rng.normal(0, noise, n),
        }
    )


PARAMS = ["learning_rate", "train_batch_size", "num_epochs"]


def test_significant_terms_read_on_the_original_scale() -> None:
    results = fit_metrics(factorial(), ["f1", "loss"], PARAMS)
    f1 = describe_terms(results["f1"])
    assert [f.term for f in f1] == ["learning_rate"]
    assert f1[0].change == pytest.approx(-400 * 3e-5, abs=1e-5)
    assert f1[0].text.startswith("learning_rate 2e-05 → 5e-05: f1 −0.012 ± ")
    assert ", worse (p " in f1[0].text
    assert f1[0].direction == "worse" and (f1[0].from_value, f1[0].to_value) == (2e-5, 5e-5)
    loss = {f.term: f for f in describe_terms(results["loss"])}
    assert loss["learning_rate"].text.startswith("learning_rate 2e-05 → 5e-05: loss −0.06 ± ")
    assert loss["learning_rate"].direction == "better"
    assert loss["train_batch_size"].change == pytest.approx(-0.016, abs=1e-4)
    assert loss["train_batch_size"].direction == "better"


def test_trade_off_table_accounts_for_lower_is_better_loss() -> None:
    results = fit_metrics(factorial(), ["accuracy", "f1", "loss"], PARAMS)
    # The true effects have p ~ 1e-30; a strict alpha keeps chance hits among many cells out.
    advice = advise(results, alpha=0.001)
    rows = {r["term"]: r for r in advice.trade_offs}
    assert rows["learning_rate"]["verdict"] == "trade-off"  # accuracy and loss gain, f1 loses
    assert rows["train_batch_size"]["verdict"] == "agrees"  # accuracy up, loss down: both good
    assert rows["num_epochs"]["verdict"] == "only accuracy"
    cell = rows["train_batch_size"]["cells"]["loss"]
    assert cell["sign"] == "−" and cell["direction"] == "better" and cell["significant"]
    assert rows["learning_rate"]["cells"]["f1"]["direction"] == "worse"
    # Every cell is the finding the text states: same change, same direction word.
    for metric, findings in advice.findings.items():
        for f in findings:
            cell = rows[f.term]["cells"][metric]
            assert (cell["change"], cell["direction"], cell["significant"]) == (
                f.change,
                f.direction,
                f.stated,
            )
    # Told that f1 is lower-is-better, its falling with lr now agrees with the loss.
    flipped = advise(results, alpha=0.001, lower={"f1", "loss"})
    cells = {r["term"]: r for r in flipped.trade_offs}["learning_rate"]["cells"]
    assert cells["f1"]["direction"] == "better"


def curve(n_rep: int = 2, noise: float = 1e-4, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.tile(np.linspace(1, 5, 9), n_rep)
    return pd.DataFrame(
        {
            "x": x,
            "accuracy": 0.9 - 0.01 * (x - 3) ** 2 + rng.normal(0, noise, len(x)),
            "eval_loss": 0.3 + 0.02 * (x - 2) ** 2 + rng.normal(0, noise, len(x)),
            "rising": 0.5 + 0.01 * x + rng.normal(0, noise, len(x)),
        }
    )


def test_optimum_inside_the_box_with_prediction_interval_and_narrower_space() -> None:
    result = fit_regression(curve(), "accuracy", ["x"])
    best = find_optimum(result, maximize=True)
    assert best.values["x"] == pytest.approx(3.0, abs=0.02)
    assert best.at_edge == {} and best.notes == ()
    p = best.prediction
    assert p.pred_low < p.conf_low < 0.9 < p.conf_high < p.pred_high
    assert p.mean == pytest.approx(0.9, abs=2e-4)
    space = best.space["x"]
    assert space["low"] == pytest.approx(best.values["x"] - 1, abs=1e-9)
    assert space["high"] == pytest.approx(best.values["x"] + 1, abs=1e-9)
    assert space["log"] is False
    text = describe_terms(result)
    assert any(
        "accuracy peaks at x ≈ 3, inside the data (1 → 5): best there" in f.text for f in text
    )


def test_loss_is_minimised_and_optimum_at_an_edge_is_flagged() -> None:
    results = fit_metrics(curve(), ["eval_loss", "rising"], ["x"])
    advice = advise(results)
    assert advice.optima["eval_loss"].maximize is False
    assert advice.optima["eval_loss"].values["x"] == pytest.approx(2.0, abs=0.02)
    edge = advice.optima["rising"]
    assert edge.values["x"] == pytest.approx(5.0)
    assert edge.at_edge == {"x": "high"}
    assert "widening" in edge.notes[0]
    assert edge.space["x"]["low"] == pytest.approx(3.0) and edge.space["x"]["high"] == 5.0
    rows = {r["term"]: r for r in advice.trade_offs}
    # accuracy-like `rising` has no significant x^2; eval_loss dips, good news for a loss.
    assert rows["x^2"]["cells"]["eval_loss"]["direction"] == "best there"
    json.dumps(advice.to_dict())


def test_squares_agree_when_accuracy_peaks_and_loss_dips() -> None:
    results = fit_metrics(curve(), ["accuracy", "eval_loss"], ["x"])
    row = next(r for r in advise(results).trade_offs if r["term"] == "x^2")
    assert row["verdict"] == "agrees"


def test_optimum_equals_brute_force_over_the_box_with_an_interaction() -> None:
    rng = np.random.default_rng(3)
    a, b = (rng.uniform(0, 4, 60) for _ in range(2))
    y = 0.5 + 0.3 * a - 0.05 * a**2 + 0.04 * a * b - 0.02 * b**2 + rng.normal(0, 0.01, 60)
    frame = pd.DataFrame({"a": a, "b": b, "y": y})
    result = fit_regression(frame, "y", ["a", "b"], mode="raw")
    coef = {t.term: t.coef for t in result.terms}
    ga, gb = np.meshgrid(np.linspace(a.min(), a.max(), 401), np.linspace(b.min(), b.max(), 401))
    surface = (
        coef["const"]
        + coef["a"] * ga
        + coef["b"] * gb
        + coef["a^2"] * ga**2
        + coef["b^2"] * gb**2
        + coef["a*b"] * ga * gb
    )
    best = find_optimum(result)
    assert best.prediction.mean >= surface.max() - 1e-12
    assert best.prediction.mean == pytest.approx(surface.max(), abs=1e-4)
    i = np.unravel_index(np.argmax(surface), surface.shape)
    assert best.values["a"] == pytest.approx(ga[i], abs=0.03)
    assert best.values["b"] == pytest.approx(gb[i], abs=0.03)
    worst = find_optimum(result, maximize=False)
    assert worst.prediction.mean == pytest.approx(surface.min(), abs=1e-4)


def test_log_scaled_parameter_narrows_in_decades_and_integers_round_outwards() -> None:
    grid = itertools.product([1e-6, 1e-5, 1e-4, 1e-3], [1.0, 4.0, 6.0, 9.0])
    lr, ep = (np.array(c) for c in zip(*grid, strict=True))
    y = 0.9 - 0.02 * (np.log10(lr) + 4.5) ** 2 - 0.001 * (ep - 5.3) ** 2
    y = y + np.random.default_rng(4).normal(0, 1e-5, len(y))
    frame = pd.DataFrame({"lr": lr, "num_epochs": ep, "f1": y})
    result = fit_regression(frame, "f1", ["lr", "num_epochs"])
    assert result.log_params == ("lr",)
    best = find_optimum(result)
    assert math.log10(best.values["lr"]) == pytest.approx(-4.5, abs=0.02)
    space = best.space["lr"]
    assert space["log"] is True
    center = math.log10(best.values["lr"])
    assert math.log10(space["low"]) == pytest.approx(center - 0.75, abs=1e-9)
    assert math.log10(space["high"]) == pytest.approx(center + 0.75, abs=1e-9)
    epochs = best.space["num_epochs"]
    assert epochs["integer"] and epochs["low"] == math.floor(epochs["low"])
    assert epochs["high"] - epochs["low"] >= 4


def test_interaction_is_described_at_both_ends_of_the_other_parameter() -> None:
    rows = [
        {"a": a, "b": b, "f1": 0.8 + 0.01 * a * b - 0.02 * a + 0.001 * r}
        for a, b, r in itertools.product([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0, 1])
    ]
    result = fit_regression(rows, "f1", ["a", "b"], mode="raw")
    finding = next(f for f in describe_terms(result) if f.term == "a*b")
    assert (
        "a 1 → 3 changes f1 by −0.02 at b 1 but +0.02 at b 3: a higher b makes raising a better"
        in finding.text
    )
    assert finding.change == pytest.approx(0.04, abs=1e-6)
    assert finding.direction == "better"


def test_relative_optimum_is_reported_on_the_metric_scale() -> None:
    frame = curve()
    frame.insert(0, "number", range(len(frame)))
    relative = fit_regression(frame, "accuracy", ["x"], mode="raw", relative_to=4)
    absolute = fit_regression(frame, "accuracy", ["x"], mode="raw", exclude={4})
    rel, ab = find_optimum(relative), find_optimum(absolute)
    assert rel.values["x"] == pytest.approx(ab.values["x"], rel=1e-9)
    assert rel.prediction.mean == pytest.approx(ab.prediction.mean, rel=1e-9)
    assert rel.prediction.pred_low == pytest.approx(ab.prediction.pred_low, rel=1e-9)


def test_a_model_no_better_than_chance_is_not_established() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.uniform(0, 1, 30), "f1": rng.normal(0.8, 0.01, 30)})
    advice = advise({"f1": fit_regression(frame, "f1", ["x"])})
    verdict = advice.fits["f1"]
    assert not verdict.established
    assert any("not significant as a whole" in r for r in verdict.reasons)
    assert advice.stated("f1") == []
    text = advice.lines()
    assert any(
        line.startswith("  fit not established: not significant as a whole") for line in text
    )
    assert "  no finding established: no contrast has p < 0.05" in text
    assert not any("significant terms" in line for line in text)
    assert "seed noise not measured" in "\n".join(text)


def test_unfitted_metrics_get_no_optimum() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "f1": [0.8, 0.9]})
    advice = advise({"f1": fit_regression(frame, "f1", ["x"])})
    assert advice.optima == {} and advice.cautions["f1"]
    with pytest.raises(ValueError, match="no model"):
        find_optimum(fit_regression(frame, "f1", ["x"]))


# --- findings are tested contrasts, and their words follow their signs ---------------------


def test_change_is_the_contrast_statsmodels_tests_and_may_oppose_the_linear_coefficient() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    x = np.repeat([4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 3)
    y = 0.5 + 0.002 * (x - 5) ** 2 + rng.normal(0, 1e-3, len(x))
    frame = pd.DataFrame({"x": x, "accuracy": y})
    result = fit_regression(frame, "accuracy", ["x"], mode="raw")
    assert result.term("x").coef < 0  # slope at x = 0, far outside the data
    change = next(f for f in describe_terms(result) if f.kind == "change")
    design = np.column_stack([np.ones_like(x), x, x**2])
    c = np.array([0.0, 10 - 4, 10**2 - 4**2])
    test = sm.OLS(y, design).fit().t_test(c)
    assert change.change == pytest.approx(float(test.effect[0]), rel=1e-9)
    assert change.std_err == pytest.approx(float(test.sd[0][0]), rel=1e-9)
    assert change.p == pytest.approx(float(test.pvalue), rel=1e-6, abs=1e-300)
    assert change.change > 0 and change.direction == "better" and "better" in change.text
    assert change.text.startswith("x 4 → 10: accuracy +")
    # The same data as a loss: the same rise is now worse.
    loss = fit_regression(frame.rename(columns={"accuracy": "loss"}), "loss", ["x"], mode="raw")
    worse = next(f for f in describe_terms(loss) if f.kind == "change")
    assert worse.direction == "worse" and ", worse (" in worse.text


@pytest.mark.parametrize(
    ("metric", "sign", "word"),
    [("accuracy", -1, "best there"), ("accuracy", 1, "worst there"),
     ("loss", -1, "worst there"), ("loss", 1, "best there")],
)  # fmt: skip
def test_curvature_verdict_follows_peak_or_trough_and_the_metric(
    metric: str, sign: int, word: str
) -> None:
    x = np.tile(np.linspace(1, 5, 9), 2)
    noise = np.random.default_rng(2).normal(0, 1e-4, len(x))
    frame = pd.DataFrame({"x": x, metric: 0.5 + sign * 0.01 * (x - 3) ** 2 + noise})
    advice = advise({metric: fit_regression(frame, metric, ["x"])})
    (curv,) = [f for f in advice.findings[metric] if f.kind == "curvature"]
    other = "worst there" if word == "best there" else "best there"
    assert curv.direction == word and word in curv.text and other not in curv.text
    assert curv.turning_inside is True and curv.turning_point == pytest.approx(3, abs=0.01)
    assert ("peaks" if sign < 0 else "dips") in curv.text
    cell = {r["term"]: r for r in advice.trade_offs}["x^2"]["cells"][metric]
    assert cell["direction"] == word


def test_a_turning_point_outside_the_data_says_so() -> None:
    x = np.tile(np.linspace(1, 5, 9), 2)
    noise = np.random.default_rng(3).normal(0, 1e-4, len(x))
    frame = pd.DataFrame({"x": x, "accuracy": 0.5 - 0.01 * (x - 7) ** 2 + noise})
    result = fit_regression(frame, "accuracy", ["x"])
    (curv,) = [f for f in describe_terms(result) if f.kind == "curvature"]
    assert curv.turning_inside is False and curv.turning_point == pytest.approx(7, abs=0.05)
    assert "peaks above the data (≈ 7" in curv.text and "not a point the data show" in curv.text


def test_an_impossible_prediction_is_the_fit_breaking_down_not_a_result() -> None:
    # A flat top with steep sides: the quadratic overshoots 1 in the middle of the box.
    grid = list(itertools.product([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0]))
    top = {0.0: 0.05, 1.0: 0.98, 2.0: 0.99, 3.0: 0.98, 4.0: 0.05}
    frame = pd.DataFrame(
        {"x": [g[0] for g in grid], "z": [g[1] for g in grid],
         "accuracy": [top[g[0]] + 0.001 * g[1] for g in grid]}
    )  # fmt: skip
    advice = advise({"accuracy": fit_regression(frame, "accuracy", ["x", "z"])})
    optimum = advice.optima["accuracy"]
    assert optimum.prediction.mean > 1
    assert optimum.breaks_down and "outside its possible range [0, 1]" in optimum.breaks_down
    assert any("breaks down" in r for r in optimum.refusals)
    text = "\n".join(advice.lines())
    assert "no maximum reported: the fit breaks down" in text
    assert "fitted maximum" not in text
    for f in advice.findings["accuracy"]:
        assert not (f.stated and any("breaks down" in n for n in f.notes))


def test_integer_parameters_are_rounded_and_the_space_stays_inside_the_data() -> None:
    rng = np.random.default_rng(8)
    batch = rng.choice([8.0, 16.0, 24.0, 32.0], 40)
    lr = rng.uniform(1.0, 3.0, 40)
    y = 0.8 - 0.0004 * (batch - 21.3) ** 2 - 0.01 * (lr - 2) ** 2 + rng.normal(0, 1e-4, 40)
    frame = pd.DataFrame({"train_batch_size": batch, "lr": lr, "f1": y})
    result = fit_regression(frame, "f1", ["train_batch_size", "lr"])
    best = find_optimum(result)
    assert best.values["train_batch_size"] == 21.0
    rising = fit_regression(frame.assign(f1=0.5 + 0.001 * batch + 0.001 * lr), "f1",
                            ["train_batch_size", "lr"])  # fmt: skip
    edge = find_optimum(rising)
    assert edge.values["train_batch_size"] == 32.0
    for space in (best.space, edge.space):
        assert 8 <= space["train_batch_size"]["low"] < space["train_batch_size"]["high"] <= 32
        assert space["lr"]["low"] >= 1.0 and space["lr"]["high"] <= 3.0


def test_a_thin_or_insignificant_fit_is_refused_with_reasons() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.uniform(0, 1, 30), "f1": rng.normal(0.8, 0.01, 30)})
    optimum = advise({"f1": fit_regression(frame, "f1", ["x"])}).optima["f1"]
    assert any("not significant as a whole" in r for r in optimum.refusals)
    small = factorial().iloc[:11]  # 11 trials for the 10-term quadratic in three parameters
    result = fit_regression(small, "accuracy", PARAMS)
    assert any("per term" in w for w in result.warnings)
    thin = advise({"accuracy": result}).optima["accuracy"]
    assert any("per term" in r for r in thin.refusals)


def test_effects_below_one_validation_example_or_the_seed_noise_are_not_findings() -> None:
    frame = factorial(noise=1e-6)
    frame["accuracy"] = 0.8 + 10 * frame["learning_rate"] + np.random.default_rng(1).normal(
        0, 1e-6, len(frame))  # fmt: skip
    results = fit_metrics(frame, ["accuracy"], PARAMS)
    plain = advise(results)
    assert [f.term for f in plain.stated("accuracy")] == ["learning_rate"]  # +0.0003, p tiny
    coarse = advise(results, resolution=1 / 408)
    assert coarse.stated("accuracy") == []
    assert any("smaller than one validation example (0.00245 = 1/408)" in c
               for c in coarse.cautions["accuracy"])  # fmt: skip
    # Replicates with a spread larger than the effect: the seed noise hides it.
    noisy = factorial(noise=1e-6)
    noisy["f1"] = noisy["f1"] + np.where(noisy.index < 18, 0.02, -0.02)
    result = fit_regression(noisy, "f1", PARAMS)
    assert result.seed_noise is not None and result.seed_noise.sd > 0.012
    assert all("seed noise" in " ".join(f.notes) for f in advise({"f1": result}).findings["f1"]
               if f.significant and abs(f.change) <= result.seed_noise.sd)  # fmt: skip
    assert advise({"f1": result}).stated("f1") == []


def test_holm_adjusted_p_values_and_the_multiple_testing_note() -> None:
    from statsmodels.stats.multitest import multipletests

    results = fit_metrics(factorial(), ["accuracy", "f1", "loss"], PARAMS)
    advice = advise(results)
    flat = [f for fs in advice.findings.values() for f in fs]
    expected = multipletests([f.p for f in flat], method="holm")[1]
    assert [f.p_holm for f in flat] == pytest.approx(list(expected), rel=1e-12)
    assert all(f.p_holm >= f.p for f in flat)
    assert f"{len(flat)} contrasts tested at once" in advice.multiple_testing
    json.dumps(advice.to_dict())


def test_a_three_trial_grid_gets_cautions_not_advice_to_widen() -> None:
    frame = pd.DataFrame(
        {"learning_rate": [1e-5, 3e-5, 1e-4], "f1": [0.81, 0.81, 0.81],
         "loss": [0.5, 0.5 + 5.9e-7, 0.5 + 1.3e-6]}
    )  # fmt: skip
    results = fit_metrics(frame, ["f1", "loss"], ["learning_rate"])
    advice = advise(results)
    assert "has the same value (0.81) in all 3 trials" in results["f1"].warnings[0]
    text = "\n".join(advice.lines())
    assert "per term" in text
    assert "widening" not in text
    assert "no minimum established" in text and "fitted minimum" not in text
