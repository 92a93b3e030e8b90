"""Advice on constructed trials whose true effects, optima and trade-offs are known."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from hptui.core.advice import advise, describe_terms, find_optimum, trade_off_table
from hptui.core.regression import fit_metrics, fit_regression


def factorial(noise: float = 1e-5, seed: int = 0) -> pd.DataFrame:
    """lr {2,3,5}e-5 × batch {16,32} × epochs {2,3,4}, twice. Known linear effects:
    f1 falls with lr; accuracy rises with lr, batch and epochs; loss falls with lr and batch."""
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
    assert f1[0].text.startswith("learning_rate 2e-05 → 5e-05: f1 −0.012, worse (p ")
    assert f1[0].better is False
    loss = {f.term: f for f in describe_terms(results["loss"])}
    assert loss["learning_rate"].text.startswith("learning_rate 2e-05 → 5e-05: loss −0.06, better")
    assert loss["train_batch_size"].change == pytest.approx(-0.016, abs=1e-4)
    assert loss["train_batch_size"].better is True


def test_trade_off_table_accounts_for_lower_is_better_loss() -> None:
    results = fit_metrics(factorial(), ["accuracy", "f1", "loss"], PARAMS)
    # The true effects have p ~ 1e-30; a strict alpha keeps chance hits among 24 cells out.
    rows = {r["term"]: r for r in trade_off_table(results, alpha=0.001)}
    assert rows["learning_rate"]["verdict"] == "trade-off"  # accuracy and loss gain, f1 loses
    assert rows["train_batch_size"]["verdict"] == "agrees"  # accuracy up, loss down: both good
    assert rows["num_epochs"]["verdict"] == "only accuracy"
    cell = rows["train_batch_size"]["cells"]["loss"]
    assert cell["sign"] == "−" and cell["effect"] == "better" and cell["significant"]
    assert rows["learning_rate"]["cells"]["f1"]["effect"] == "worse"
    # Told that f1 is lower-is-better, its falling with lr now agrees with the loss.
    flipped = {r["term"]: r for r in trade_off_table(results, lower={"f1", "loss"})}
    assert flipped["learning_rate"]["cells"]["f1"]["effect"] == "better"


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
    assert any("accuracy is highest near x ≈ 3, inside" in f.text for f in text)


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
    # accuracy-like `rising` never had x^2; eval_loss bends up, which for a loss is good news.
    assert rows["x^2"]["cells"]["eval_loss"]["effect"] == "has a best point"
    json.dumps(advice.to_dict())


def test_squares_agree_when_accuracy_peaks_and_loss_dips() -> None:
    results = fit_metrics(curve(), ["accuracy", "eval_loss"], ["x"])
    row = next(r for r in trade_off_table(results) if r["term"] == "x^2")
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
    assert "a 1 → 3 changes f1 by −0.02 at b 1 but +0.02 at b 3 (a*b p" in finding.text
    assert finding.change == pytest.approx(0.04, abs=1e-6)


def test_relative_optimum_is_reported_on_the_metric_scale() -> None:
    frame = curve()
    frame.insert(0, "number", range(len(frame)))
    relative = fit_regression(frame, "accuracy", ["x"], mode="raw", relative_to=4)
    absolute = fit_regression(frame, "accuracy", ["x"], mode="raw", exclude={4})
    rel, ab = find_optimum(relative), find_optimum(absolute)
    assert rel.values["x"] == pytest.approx(ab.values["x"], rel=1e-9)
    assert rel.prediction.mean == pytest.approx(ab.prediction.mean, rel=1e-9)
    assert rel.prediction.pred_low == pytest.approx(ab.prediction.pred_low, rel=1e-9)


def test_a_model_no_better_than_chance_gets_a_caution() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.uniform(0, 1, 30), "f1": rng.normal(0.8, 0.01, 30)})
    advice = advise({"f1": fit_regression(frame, "f1", ["x"])})
    assert any("not significant" in c for c in advice.cautions["f1"])
    assert advice.findings["f1"] == []
    assert "  no significant terms" in advice.lines()


def test_unfitted_metrics_get_no_optimum() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "f1": [0.8, 0.9]})
    advice = advise({"f1": fit_regression(frame, "f1", ["x"])})
    assert advice.optima == {} and advice.cautions["f1"]
    with pytest.raises(ValueError, match="no model"):
        find_optimum(fit_regression(frame, "f1", ["x"]))
