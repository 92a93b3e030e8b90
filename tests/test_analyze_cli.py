"""`hptui analyze` on a real study of the tiny model, and on its CSV export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_space

from hptui.cli import main
from hptui.core.space import load_space
from hptui.core.study import StudySettings, create_study
from hptui.core.worker import Worker, WorkerOptions

PARAMS = "\n".join(
    [
        '[params.learning_rate]\ntype = "float"\nlow = 1e-4\nhigh = 3e-3\nlog = true',
        '[params.weight_decay]\ntype = "float"\nlow = 0.0\nhigh = 0.2',
    ]
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, mrpc_dir: Path) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("analyze")
    url = f"sqlite:///{folder / 'runs.db'}"
    space = load_space(write_space(folder / "space.toml", mrpc_dir, params=PARAMS, eval_limit=64))
    create_study("s", StudySettings(space, sampler="random", seed=0), url)
    Worker(WorkerOptions("s", url, trials=10)).run()
    csv = folder / "trials.csv"
    assert main(["export", "s", "--storage", url, "--csv", str(csv)]) == 0
    return url, csv


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["analyze", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_one_object_per_metric_with_named_terms(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = study
    out = _json(capsys, "s", "--storage", url)
    assert [m["metric"] for m in out] == ["f1", "accuracy", "loss"]
    loss = out[2]
    assert loss["n"] == 10
    names = [t["term"] for t in loss["terms"]]
    assert names == [
        "const", "learning_rate", "weight_decay", "learning_rate^2", "weight_decay^2",
        "learning_rate*weight_decay",
    ]  # fmt: skip
    for term in loss["terms"]:
        assert set(term) >= {"term", "coef", "std_err", "t", "p", "ci_low", "ci_high"}
    assert {"r2", "adj_r2", "warnings"} <= set(loss)


def test_raw_coefficients_equal_least_squares_on_the_export(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, csv = study
    (fit,) = _json(capsys, "--from-csv", str(csv), "--metric", "loss", "--raw")
    table = pd.read_csv(csv)
    lr, wd = table["learning_rate"].to_numpy(), table["weight_decay"].to_numpy()
    design = np.column_stack([np.ones_like(lr), lr, wd, lr**2, wd**2, lr * wd])
    expected, *_ = np.linalg.lstsq(design, table["loss"].to_numpy(), rcond=None)
    got = [t["coef"] for t in fit["terms"]]  # type: ignore[union-attr]
    # The raw design is badly conditioned (lr^2 ~ 1e-8): compare fitted values instead of
    # coefficients one by one, and the intercept directly.
    assert design @ np.array(got) == pytest.approx(design @ expected, rel=1e-6)
    from_study = _json(capsys, "s", "--storage", url, "--metric", "loss", "--raw")[0]
    assert [t["coef"] for t in from_study["terms"]] == pytest.approx(got, rel=1e-9)  # type: ignore[union-attr]


def test_relative_to_a_baseline_trial(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = study
    (fit,) = _json(capsys, "s", "--storage", url, "--metric", "loss", "--relative-to", "0")
    assert fit["relative_to"] == 0 and fit["n"] == 9  # the baseline itself is not fitted
    assert main(["analyze", "s", "--storage", url, "--relative-to", "999"]) == 2
    assert "baseline trial 999" in capsys.readouterr().err


def test_table_and_markdown_show_tables_trade_offs_and_advice(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, csv = study
    assert main(["analyze", "--from-csv", str(csv), "--metric", "f1", "--metric", "accuracy",
                 "--metric", "loss", "--format", "table"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert text.count("95% CI low") == sum(
        1 for m in ("f1", "accuracy", "loss") if f"{m} ~ quadratic" in text
    )
    assert "where the metrics agree" in text and "advice" in text
    assert main(["analyze", "s", "--storage", url, "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| term | coef | std err | t | p | p (Holm) | 95% CI low | 95% CI high |" in text
    assert "## Advice" in text


def test_suggested_space_is_a_loadable_narrower_space(
    study: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = study
    target = tmp_path / "narrow.toml"
    command = ["analyze", "s", "--storage", url, "--metric", "loss", "--format", "json",
               "--suggest-space", str(target)]  # fmt: skip
    # 10 trials for 6 terms: too thin to act on unforced; refused, and nothing written.
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "per term" in err and "--force" in err and not target.exists()
    assert main([*command, "--force"]) == 0
    narrow = load_space(target)
    bounds = {p.name: (p.low, p.high) for p in narrow.params}
    assert 1e-4 <= bounds["learning_rate"][0] < bounds["learning_rate"][1] <= 3e-3
    assert narrow.fixed["model"] == "tiny-distilbert"
    create_study("narrow", StudySettings(narrow), url)  # usable as the next study's space


def test_the_fitted_optimum_can_be_queued(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = study
    analysis = _json(capsys, "s", "--storage", url, "--metric", "loss")
    optimum = analysis[0]["optimum"]
    assert optimum["refusals"]  # 10 trials for 6 terms
    command = ["analyze", "s", "--storage", url, "--metric", "loss", "--format", "json",
               "--enqueue-optimum"]  # fmt: skip
    assert main(command) == 2
    assert "not reliable" in capsys.readouterr().err
    assert main([*command, "--force"]) == 0
    from hptui.core.read import StudyReader

    waiting = [r for r in StudyReader(url).trials("s") if r.state == "WAITING"]
    assert len(waiting) == 1
    assert waiting[0].params["learning_rate"] == pytest.approx(optimum["values"]["learning_rate"])  # type: ignore[index]


def test_bad_input_names_the_problem(
    study: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, csv = study
    assert main(["analyze", "--from-csv", str(csv), "--metric", "bleu"]) == 2
    assert "bleu" in capsys.readouterr().err
    assert main(["analyze", "s", "--from-csv", str(csv)]) == 2
    assert "not both" in capsys.readouterr().err
