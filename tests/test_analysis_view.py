"""The analysis tab's core: options behind its toggles, plot data, and the two actions with
the analysis core's refusals, on studies with known contents (no screen)."""

from __future__ import annotations

from pathlib import Path

import analysis_data
import console_data
import pytest

from hptui.core.analysis.analyze import analyze
from hptui.core.errors import HptuiError
from hptui.core.studies.marks import set_excluded
from hptui.core.studies.settings import StudyError, load_settings
from hptui.core.studies.store import Store
from hptui.core.views.analysis import (
    NARROW_SUFFIX,
    build_view,
    narrow_settings_note,
    plan_enqueue,
    plan_narrow,
    view_options,
)


def test_view_options_follow_the_toggles() -> None:
    assert view_options("all", False, False).metrics == ("f1", "accuracy", "loss")
    options = view_options("loss", True, True)
    assert options.metrics == ("loss",) and options.relative_to == "baseline" and options.raw
    with pytest.raises(HptuiError, match="metric: one of"):
        view_options("bleu", False, False)


def test_parallel_coordinates_flag_the_best_and_leave_out_excluded(tmp_path: Path) -> None:
    url = analysis_data.build(tmp_path / "runs.db")
    set_excluded(url, "quad", [12])  # the best trial by f1 in this study
    analysis = analyze(view_options("all", False, False), study="quad", store=Store(url))
    view = build_view(analysis, "loss")
    assert view.metric == "loss"
    lines = view.parallel["lines"]
    assert 12 not in {line["number"] for line in lines} and len(lines) == 24
    losses = sorted(line["raw"][-1] for line in lines)
    best = [line for line in lines if line["best"]]
    assert sorted(line["raw"][-1] for line in best) == losses[:3]  # lowest loss is best
    assert all(0.0 <= v <= 1.0 for line in lines for v in line["values"])
    assert view.heatmap["n"] == 24 and view.heatmap["columns"][-1] == "loss"
    panel = view.panels[0]
    assert panel["param"] == "learning_rate" and panel["log"]
    assert min(panel["curve"]["x"]) == pytest.approx(-5.0)  # log10 of the observed low


def test_plans_refuse_what_the_core_refuses(tmp_path: Path) -> None:
    good = analysis_data.build(tmp_path / "good.db")
    analysis = analyze(view_options("f1", False, False), study="quad", store=Store(good))
    plan = plan_enqueue(analysis, "f1")
    assert plan.allowed and set(plan.params or {}) == {"learning_rate", "warmup_ratio"}
    thin = analysis_data.build(tmp_path / "thin.db", points=3)
    analysis = analyze(view_options("f1", False, False), study="quad", store=Store(thin))
    plan = plan_narrow(analysis, "f1")
    assert not plan.allowed and plan.forceable and plan.space is not None
    assert "9 trials for 6 terms" in (plan.refusal or "")
    broken = console_data.build(tmp_path / "broken.db")
    analysis = analyze(view_options("f1", False, False), study="mrpc-tpe", store=Store(broken))
    for plan in (plan_enqueue(analysis, "f1"), plan_narrow(analysis, "f1")):
        assert not plan.forceable and plan.params is None and plan.space is None
        assert "breaks down" in (plan.refusal or "")


def test_a_narrow_study_keeps_the_settings_and_never_replaces_one(tmp_path: Path) -> None:
    url = analysis_data.build(tmp_path / "runs.db", sampler="random")
    analysis = analyze(view_options("f1", False, False), study="quad", store=Store(url))
    space = analysis.suggested_space("f1")
    store = Store(url)
    assert store.suggest_name("quad" + NARROW_SUFFIX) == "quad-narrow"
    assert store.create_narrow_study("quad", "quad-narrow", space) == "quad-narrow"
    settings = load_settings("quad-narrow", url)
    assert settings.sampler == "random" and settings.space.to_dict() == space.to_dict()
    assert store.suggest_name("quad" + NARROW_SUFFIX) == "quad-narrow-2"
    with pytest.raises(StudyError, match="already exists"):
        store.create_narrow_study("quad", "quad-narrow", space)
    assert "sampler random" in narrow_settings_note(store.require_settings("quad"))


def test_a_narrowed_float_range_is_short_and_contains_the_fitted_range(tmp_path: Path) -> None:
    """The form showed `7.448259879` for 7.448259879193542e-05: narrowed float bounds are
    rounded outward to 4 significant digits, so they read whole and keep the range."""
    url = analysis_data.build(tmp_path / "runs.db", sampler="random")
    analysis = analyze(view_options("f1", False, False), study="quad", store=Store(url))
    fitted = analysis.actionable_optimum("f1", True).space
    space = analysis.suggested_space("f1", force=True)
    floats = [p for p in space.params if p.type == "float" and p.step is None]
    assert floats
    for param in floats:
        assert param.low is not None and param.high is not None
        for bound in (param.low, param.high):
            assert float(f"{bound:.4g}") == bound  # at most 4 significant digits
        if param.name in fitted:
            assert (
                param.low <= fitted[param.name]["low"] and fitted[param.name]["high"] <= param.high
            )
