"""`hptui analyze` on a real study of the tiny model, and on its CSV export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_space

from hptui.cli import main
from hptui.core.studies.settings import StudySettings, create_study
from hptui.core.studies.space import load_space
from hptui.core.workers.runner import Worker, WorkerOptions

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
    from hptui.core.studies.reader import StudyReader

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


# --- every option the README shows, on synthetic trials with a known answer ----------------


def known_csv(path: Path, n: int = 48, seed: int = 0) -> Path:
    """lr (1e-5..1e-4, log-uniform), batch {8, 16, 32, 64}, epochs {2, 3, 4}; f1 and accuracy
    peak at lr 3e-5 and rise with batch; loss is the mirror image (lower is better)."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, -4, n)
    bs = rng.choice([8.0, 16.0, 32.0, 64.0], n)
    ep = rng.choice([2.0, 3.0, 4.0], n)
    shape = -0.05 * (np.log10(lr) + 4.5) ** 2 + 0.0008 * bs
    frame = pd.DataFrame(
        {"number": range(n), "state": "COMPLETE", "learning_rate": lr, "train_batch_size": bs,
         "num_epochs": ep, "f1": 0.85 + shape + rng.normal(0, 0.003, n),
         "accuracy": 0.80 + shape + rng.normal(0, 0.003, n),
         "loss": 0.40 - 2 * shape + rng.normal(0, 0.006, n)}
    )  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("kind", "title"),
    [("scatter", "f1 vs learning_rate"), ("heatmap", "correlation of parameters and metrics"),
     ("parallel", "parallel coordinates"), ("residuals", "residual vs fitted")],
)  # fmt: skip
def test_each_plot_draws_through_the_cli(
    kind: str, title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = known_csv(tmp_path / "t.csv")
    code, out, err = _run(capsys, "--from-csv", str(csv), "--metric", "f1", "--metric", "loss",
                          "--plot", kind)  # fmt: skip
    assert code == 0, err
    assert title in out
    if kind == "scatter":  # the fitted curve and its confidence band are drawn with the points
        assert "fit (others at centre)" in out and "95% CI" in out
        assert "loss vs train_batch_size" in out
    if kind == "heatmap":
        assert "learning_rate" in out and "loss" in out


def test_findings_in_json_are_objects_whose_words_follow_their_signs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = known_csv(tmp_path / "t.csv")
    # lr spans 10x, too little to guess a log scale: force it, as the data were drawn.
    code, out, _ = _run(capsys, "--from-csv", str(csv), "--format", "json", "--log",
                        "learning_rate")  # fmt: skip
    assert code == 0
    fits = {fit["metric"]: fit for fit in json.loads(out)}
    for metric, fit in fits.items():
        lower = metric == "loss"
        for f in fit["findings"]:
            assert {"parameter", "from", "to", "change", "std_err", "p", "p_holm",
                    "direction", "stated"} <= set(f)  # fmt: skip
            if f["kind"] == "change" and f["change"]:
                assert f["direction"] == ("better" if (f["change"] > 0) != lower else "worse")
            if f["stated"]:
                assert f["text"] in fit["advice"] and f["p"] < 0.05
    batch = {m: next(f for f in fits[m]["findings"] if f["term"] == "train_batch_size")
             for m in fits}  # fmt: skip
    assert batch["f1"]["change"] > 0 and batch["loss"]["change"] < 0
    assert batch["f1"]["direction"] == batch["loss"]["direction"] == "better"
    assert (batch["f1"]["from"], batch["f1"]["to"]) == (8, 64)
    curvature = next(f for f in fits["loss"]["findings"] if f["term"] == "learning_rate^2")
    assert curvature["direction"] == "best there" and curvature["turning_inside"]
    assert curvature["turning_point"] == pytest.approx(10**-4.5, rel=0.2)
    # The table: the same numbers and words.
    code, text, _ = _run(capsys, "--from-csv", str(csv))
    assert "better" in text.split("where the metrics agree")[1]
    assert "train_batch_size 8 → 64: loss −" in text and "p (Holm)" in text
    assert "contrasts tested at once" in text


def test_robust_alpha_and_exclude(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = known_csv(tmp_path / "t.csv")
    base = ["--from-csv", str(csv), "--metric", "f1"]
    code, out, _ = _run(capsys, *base, "--robust", "--format", "json")
    (robust,) = json.loads(out)
    (plain,) = json.loads(_run(capsys, *base, "--format", "json")[1])
    assert code == 0 and robust["robust"] and not plain["robust"]
    assert [t["coef"] for t in robust["terms"]] == pytest.approx(
        [t["coef"] for t in plain["terms"]]
    )
    assert [t["std_err"] for t in robust["terms"]] != [t["std_err"] for t in plain["terms"]]
    assert "HC3" in _run(capsys, *base, "--robust")[1]
    strict = json.loads(_run(capsys, *base, "--alpha", "0.0001", "--format", "json")[1])[0]
    loose = json.loads(_run(capsys, *base, "--alpha", "0.3", "--format", "json")[1])[0]
    assert len(strict["advice"]) < len(loose["advice"])
    (excluded,) = json.loads(_run(capsys, *base, "--exclude", "3,4", "--format", "json")[1])
    assert excluded["n"] == 46 and excluded["left_out"] == {"excluded": 2}
    assert _run(capsys, *base, "--alpha", "2")[0] == 2
    code, _, err = _run(capsys, *base, "--exclude", "three")
    assert code == 2 and "--exclude" in err


def test_log_scaling_can_be_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = known_csv(tmp_path / "t.csv")
    frame = pd.read_csv(csv)
    frame["learning_rate"] = frame["learning_rate"].clip(2e-5, 1e-4)  # a 5x span: not guessed
    frame.to_csv(csv, index=False)
    base = ["--from-csv", str(csv), "--metric", "f1", "--format", "json"]
    assert json.loads(_run(capsys, *base)[1])[0]["log_params"] == []
    forced = json.loads(_run(capsys, *base, "--log", "learning_rate")[1])[0]
    assert forced["log_params"] == ["learning_rate"]
    code, _, err = _run(capsys, *base, "--log", "momentum")
    assert code == 2 and "--log momentum" in err


def test_the_optimum_stays_inside_the_data_when_the_truth_lies_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    n = 40
    bs = rng.choice([8.0, 16.0, 24.0, 32.0], n)
    lr = rng.uniform(1e-5, 5e-5, n)
    # The true optimum: batch 128, lr 1e-4, far outside the sampled box.
    acc = 0.99 - 2e-5 * (bs - 128) ** 2 - 4e7 * (lr - 1e-4) ** 2 + rng.normal(0, 0.002, n)
    csv = tmp_path / "outside.csv"
    frame = pd.DataFrame({"train_batch_size": bs, "learning_rate": lr, "accuracy": acc})
    frame.to_csv(csv, index=False)
    target = tmp_path / "space.toml"
    code, out, err = _run(capsys, "--from-csv", str(csv), "--metric", "accuracy", "--format",
                          "json", "--suggest-space", str(target))  # fmt: skip
    assert code == 0, err
    optimum = json.loads(out)[0]["optimum"]
    assert 8 <= optimum["values"]["train_batch_size"] <= 32
    assert optimum["values"]["train_batch_size"] == round(optimum["values"]["train_batch_size"])
    assert 1e-5 <= optimum["values"]["learning_rate"] <= 5e-5
    assert optimum["at_edge"] == {"train_batch_size": "high", "learning_rate": "high"}
    assert 0 <= optimum["prediction"]["mean"] <= 1 and optimum["breaks_down"] is None
    from hptui.core.studies.space import load_space

    narrow = {p.name: p for p in load_space(target).params}
    assert 8 <= narrow["train_batch_size"].low < narrow["train_batch_size"].high <= 32
    assert 1e-5 <= narrow["learning_rate"].low < narrow["learning_rate"].high <= 5e-5


def test_a_relative_fit_skips_only_the_metrics_the_baseline_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = known_csv(tmp_path / "t.csv")
    frame = pd.read_csv(csv)
    frame.loc[0, "accuracy"] = np.nan
    frame.to_csv(csv, index=False)
    code, out, err = _run(capsys, "--from-csv", str(csv), "--relative-to", "0", "--format", "json")
    assert code == 0, err
    fits = {f["metric"]: f for f in json.loads(out)}
    assert fits["f1"]["relative_to"] == 0 and fits["f1"]["n_terms"] > 0
    assert fits["loss"]["n_terms"] > 0
    assert fits["accuracy"]["n_terms"] == 0
    assert "baseline trial 0 has no value for accuracy" in fits["accuracy"]["warnings"][0]
    code, _, err = _run(capsys, "--from-csv", str(csv), "--relative-to", "baseline")
    assert code == 2 and "no marked baseline" in err


def test_resolution_of_the_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = known_csv(tmp_path / "t.csv")
    frame = pd.read_csv(csv)
    rng = np.random.default_rng(1)
    frame["accuracy"] = 0.8 + 2e-5 * frame["train_batch_size"] + rng.normal(0, 1e-5, len(frame))
    frame.to_csv(csv, index=False)
    base = ["--from-csv", str(csv), "--metric", "accuracy", "--params", "train_batch_size"]
    (plain,) = json.loads(_run(capsys, *base, "--format", "json")[1])
    assert plain["advice"]  # +0.0011 over 8 → 64, p tiny
    code, out, _ = _run(capsys, *base, "--n-eval", "408")
    assert code == 0 and "smaller than one validation example (0.00245 = 1/408)" in out
    advice = out.split("\nadvice\n")[-1].splitlines()
    assert all(line.strip().startswith("not established: ")
               for line in advice if "train_batch_size 8 → 64" in line)  # fmt: skip
    assert _run(capsys, *base, "--n-eval", "0")[0] == 2


BAD_CSVS = {
    "empty": "",
    "header only": "learning_rate,f1\n",
    "binary": "\x00\x01\x02\xff\xfe",
    "ragged": "learning_rate,f1\n1e-5,0.8,9,9\n2e-5\n",
    "text in a number": "learning_rate,f1\n1e-5,0.8\nfast,0.7\n2e-5,0.9\n",
    "inf metric": "learning_rate,f1\n1e-5,0.8\n2e-5,inf\n3e-5,0.9\n4e-5,0.7\n",
    "-inf param": "num_epochs,f1\n1,0.8\n-inf,0.7\n3,0.9\n2,0.6\n",
    "nan everywhere": "learning_rate,f1\nnan,nan\nnan,nan\n",
    "duplicate numbers": "number,learning_rate,f1\n1,1e-5,0.8\n1,2e-5,0.7\n",
    "fractional numbers": "number,learning_rate,f1\n1.5,1e-5,0.8\n2,2e-5,0.7\n",
    "one row": "learning_rate,f1\n1e-5,0.8\n",
    "constant": "learning_rate,f1\n1e-5,0.8\n2e-5,0.8\n3e-5,0.8\n",
    "huge": "learning_rate,f1\n1e300,0.8\n-1e300,0.7\n1,0.9\n2,0.1\n",
    "negative log": "learning_rate,f1\n-1e-5,0.8\n1e-4,0.7\n1e-3,0.9\n1e-2,0.1\n",
    "quotes": 'learning_rate,f1\n"1e-5,0.8\n',
    "bool column": "flag,f1\nTrue,0.8\nFalse,0.7\nTrue,0.9\nFalse,0.6\n",
    "state junk": "state,learning_rate,f1\n???,1e-5,0.8\nCOMPLETE,2e-5,0.7\n",
}


@pytest.mark.parametrize("name", sorted(BAD_CSVS))
def test_no_csv_gives_a_traceback(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSVS[name].encode("latin-1"))
    for extra in ([], ["--metric", "f1"], ["--log", "learning_rate", "--metric", "f1"]):
        code, _, err = _run(capsys, "--from-csv", str(path), *extra)
        assert code in (0, 2), err
        if code == 2:
            assert err.count("\n") == 1 and "error:" in err  # one line


def test_non_finite_values_are_refused_naming_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inf.csv"
    path.write_text(BAD_CSVS["inf metric"])
    code, _, err = _run(capsys, "--from-csv", str(path), "--metric", "f1")
    assert code == 2 and "column 'f1': trial 1 has" in err and "not a finite number" in err
    path.write_text(BAD_CSVS["-inf param"])
    code, _, err = _run(capsys, "--from-csv", str(path), "--metric", "f1")
    assert code == 2 and "column 'num_epochs': trial 1" in err


@pytest.fixture
def marked_study(tmp_path: Path, mrpc_dir: Path) -> str:
    """A study of 30 finished trials written through Optuna (no training), lr on a log scale
    in its space although its values span only 5x."""
    import optuna

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    toml = tmp_path / "space.toml"
    toml.write_text(
        f'[fixed]\nmodel = "tiny-distilbert"\ndata_dir = "{mrpc_dir}"\nnum_epochs = 1\n'
        '[params.learning_rate]\ntype = "float"\nlow = 2e-5\nhigh = 1e-4\nlog = true\n'
        '[params.train_batch_size]\ntype = "int"\nlow = 8\nhigh = 64\n'
    )
    space = load_space(toml)
    create_study("m", StudySettings(space, sampler="random", seed=0), url)
    study = optuna.load_study(study_name="m", storage=url)
    rng = np.random.default_rng(0)
    distributions = space.distributions()
    for _ in range(30):
        lr, bs = float(10 ** rng.uniform(np.log10(2e-5), -4)), int(rng.choice([8, 16, 32, 64]))
        f1 = 0.8 + 0.001 * bs - 0.05 * (np.log10(lr) + 4.3) ** 2 + rng.normal(0, 0.002)
        metrics = {"f1": f1, "accuracy": f1 - 0.05, "loss": 1 - f1}
        study.add_trial(optuna.trial.create_trial(
            params={"learning_rate": lr, "train_batch_size": bs},
            distributions={k: distributions[k] for k in ("learning_rate", "train_batch_size")},
            value=f1, user_attrs={"hptui.metrics": metrics},
        ))  # fmt: skip
    return url


def test_study_marks_exclude_trials_and_name_the_baseline(
    marked_study: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hptui.core.studies.marks import set_baseline, set_excluded

    url = marked_study
    base = ["m", "--storage", url, "--metric", "f1", "--format", "json"]
    (plain,) = json.loads(_run(capsys, *base)[1])
    assert plain["n"] == 30 and plain["log_params"] == ["learning_rate"]  # from the space
    set_excluded(url, "m", [3, 7])
    (marked,) = json.loads(_run(capsys, *base)[1])
    assert marked["n"] == 28 and marked["left_out"] == {"excluded": 2}
    assert marked["excluded"] == [3, 7]
    (everything,) = json.loads(_run(capsys, *base, "--include-excluded")[1])
    assert everything["n"] == 30 and everything["excluded"] == []
    (more,) = json.loads(_run(capsys, *base, "--exclude", "4")[1])
    assert more["left_out"] == {"excluded": 3}
    code, _, err = _run(capsys, *base, "--relative-to", "baseline")
    assert code == 2 and "no marked baseline" in err
    set_baseline(url, "m", 5)
    (relative,) = json.loads(_run(capsys, *base, "--relative-to", "baseline")[1])
    assert relative["relative_to"] == 5 and relative["n"] == 27  # baseline and 2 excluded out
    (numbered,) = json.loads(_run(capsys, *base, "--relative-to", "5")[1])
    assert [t["coef"] for t in numbered["terms"]] == pytest.approx(
        [t["coef"] for t in relative["terms"]])  # fmt: skip
    code, _, err = _run(capsys, *base, "--relative-to", "first")
    assert code == 2 and "--relative-to" in err
    # The space decides the scale; --log can only add to it.
    (forced,) = json.loads(_run(capsys, *base, "--log", "train_batch_size")[1])
    assert forced["log_params"] == ["learning_rate", "train_batch_size"]
    # 28 trials for 6 terms, significant: the optimum may be queued without --force.
    code, _, err = _run(capsys, "m", "--storage", url, "--metric", "f1", "--enqueue-optimum")
    assert code == 0, err
    from hptui.core.studies.reader import StudyReader

    (queued,) = [t for t in StudyReader(url).trials("m") if t.state == "WAITING"]
    assert isinstance(queued.params["train_batch_size"], int)
    assert 2e-5 <= queued.params["learning_rate"] <= 1e-4
