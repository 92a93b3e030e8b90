"""Seed replicates without training: group statistics against numpy and scipy, the seeds
chosen, the refusals, the flat rows' new columns, settings, and the CLI on a real study."""

from __future__ import annotations

import json
import math
from pathlib import Path

import console_data
import numpy as np
import pytest
from conftest import write_space
from scipy import stats

from hptui.cli import main
from hptui.core.errors import ConfigError
from hptui.core.studies.replicates import (
    best_by_mean,
    check_seed_count,
    config_ids,
    group_rows,
    next_seeds,
    parse_trial_numbers,
    sort_groups,
    summarize,
)
from hptui.core.studies.settings import StudyError, StudySettings, create_study, load_settings
from hptui.core.studies.space import load_space
from hptui.core.studies.store import Store
from hptui.core.views.groups import grouped_view

STUDY = "mrpc-tpe"
PARAMS = ["learning_rate", "train_batch_size", "weight_decay"]


@pytest.fixture
def fixed_url(tmp_path: Path) -> str:
    return console_data.build(tmp_path / "runs.db")


def _row(number: int, lr: float, f1: float | None, state: str = "COMPLETE", seed: int = 42):
    return {"number": number, "state": state, "learning_rate": lr, "f1": f1,
            "accuracy": None if f1 is None else f1 - 0.1, "loss": 0.5, "seed": seed}  # fmt: skip


# -- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [[0.88, 0.89, 0.87], [0.5, 0.9], [0.8123, 0.8124, 0.8125, 0.9, 0.1]]
)
def test_summary_matches_numpy_and_the_t_interval(values: list[float]) -> None:
    summary = summarize(values)
    data = np.array(values)
    sd = data.std(ddof=1)
    half = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    assert summary.n == len(values)
    assert summary.mean == pytest.approx(data.mean(), rel=1e-12)
    assert summary.sd == pytest.approx(sd, rel=1e-12)
    assert (summary.low, summary.high) == pytest.approx((data.mean() - half, data.mean() + half))
    low, high = stats.t.interval(0.95, len(values) - 1, loc=data.mean(), scale=stats.sem(data))
    assert (summary.low, summary.high) == pytest.approx((low, high), rel=1e-10)


def test_one_value_has_no_sd_or_interval_and_none_has_no_mean() -> None:
    assert summarize([0.9]).mean == 0.9 and summarize([0.9]).sd is None
    assert summarize([0.9]).describe() == "0.9 (n=1)"
    assert summarize([]).describe() == "-"
    assert summarize([0.884, 0.878, 0.890]).describe() == "0.884 ± 0.006 (n=3)"


def test_groups_count_complete_finite_values_and_leave_out_exclusions() -> None:
    rows = [
        _row(0, 1e-4, 0.80), _row(1, 2e-4, 0.70), _row(2, 1e-4, 0.84, seed=43),
        _row(3, 1e-4, None, state="FAIL", seed=44), _row(4, 1e-4, float("nan"), seed=45),
        _row(5, 2e-4, 0.90, seed=43), _row(6, 1e-4, 0.99, seed=46),
    ]  # fmt: skip
    groups = {g.config: g for g in group_rows(rows, ["learning_rate"], exclude={6})}
    assert set(groups) == {0, 1}
    first = groups[0]
    assert first.numbers == (0, 2, 3, 4, 6)
    assert first.complete == (0, 2, 4) and first.excluded == 1
    assert first.summary("f1").n == 2  # NaN and the FAIL trial carry no value
    assert first.summary("f1").mean == pytest.approx(0.82)
    assert first.summary("f1").sd == pytest.approx(np.std([0.80, 0.84], ddof=1))
    assert groups[1].summary("f1").mean == pytest.approx(0.80)
    assert config_ids(rows, ["learning_rate"]) == {0: 0, 1: 1, 2: 0, 3: 0, 4: 0, 5: 1, 6: 0}


def test_a_queued_whole_number_is_the_same_configuration_as_a_stored_float() -> None:
    rows = [{"number": 0, "state": "COMPLETE", "train_batch_size": 16.0, "seed": 42},
            {"number": 1, "state": "WAITING", "train_batch_size": 16, "seed": 43}]  # fmt: skip
    assert config_ids(rows, ["train_batch_size"]) == {0: 0, 1: 0}


def test_sorting_and_best_by_mean_follow_the_direction_not_the_luckiest_seed() -> None:
    rows = [
        _row(0, 1e-4, 0.70), _row(1, 1e-4, 0.71, seed=43), _row(2, 1e-4, 0.72, seed=44),
        _row(3, 2e-4, 0.86), _row(4, 2e-4, 0.87, seed=43), _row(5, 2e-4, 0.85, seed=44),
        _row(6, 3e-4, 0.99),  # one seed only: never "best by mean"
    ]  # fmt: skip
    groups = group_rows(rows, ["learning_rate"])
    ordered = [g.config for g in sort_groups(groups, "f1", "maximize")]
    assert ordered == [6, 3, 0]
    assert [g.config for g in sort_groups(groups, "f1", "minimize")] == [0, 3, 6]
    best = best_by_mean(groups, "f1", "maximize")
    assert best is not None and best.group.config == 3 and best.runner_up is not None
    assert best.runner_up.config == 0
    assert best.overlap is False  # 0.86 ± 0.01 and 0.71 ± 0.01, three seeds each
    sentence = best.sentence()
    assert sentence.startswith("best by mean f1: #3, 0.86 ± 0.01 (n=3), 95% CI [")
    assert "clear of the runner-up #0" in sentence
    assert best_by_mean(groups, "f1", "minimize").group.config == 0  # type: ignore[union-attr]
    assert best_by_mean(groups[2:], "f1", "maximize") is None


def test_overlapping_intervals_are_said_to_be_possibly_seed_noise() -> None:
    rows = [_row(0, 1e-4, 0.86), _row(1, 1e-4, 0.88, seed=43),
            _row(2, 2e-4, 0.85), _row(3, 2e-4, 0.88, seed=43)]  # fmt: skip
    best = best_by_mean(group_rows(rows, ["learning_rate"]), "f1", "maximize")
    assert best is not None and best.overlap is True
    assert best.sentence().endswith("the difference may be seed noise")


# -- seeds and refusals ---------------------------------------------------------------------


def test_next_seeds_never_repeat_a_used_one() -> None:
    assert next_seeds({42}, 42, 3) == [43, 44, 45]
    assert next_seeds({42, 44, 46}, 42, 4) == [43, 45, 47, 48]
    assert next_seeds(set(), 7, 2) == [7, 8]
    for used in ({1, 2, 3}, {5, 9, 10, 11}, set(range(0, 50, 3))):
        chosen = next_seeds(used, 0, 20)
        assert len(set(chosen)) == 20 and not set(chosen) & used


def test_seed_counts_and_trial_lists_are_checked() -> None:
    assert check_seed_count("5") == 5 and check_seed_count(100) == 100
    for bad in ("0", "101", "-1", "x", "2.5", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            check_seed_count(bad)
    assert parse_trial_numbers("3,7, 3 9") == [3, 7, 9]
    for bad in ("", "3,x", "-1"):
        with pytest.raises(ConfigError, match="--trials"):
            parse_trial_numbers(bad)


def test_replicating_queues_the_same_params_with_unused_seeds(fixed_url: str) -> None:
    store = Store(fixed_url)
    plans = store.replicate(STUDY, [3, 1, 3], 2)
    assert [(p.number, p.seeds) for p in plans] == [(3, (43, 44)), (1, (43, 44))]
    again = store.replicate(STUDY, [3], 3)  # the group's seeds are read: none repeats
    assert again[0].seeds == (45, 46, 47)
    rows = {r.number: r for r in store.trials(STUDY)}
    queued = [rows[n] for n in range(7, 14)]
    assert [r.state for r in queued] == ["WAITING"] * 7
    for row in queued:
        original = rows[row.user_attrs["hptui.replicate_of"]]
        assert row.params == original.params
        assert row.user_attrs["hptui.source"] == "replicate"
    three = [r.user_attrs["hptui.replicate_seed"] for r in queued
             if r.user_attrs["hptui.replicate_of"] == 3]  # fmt: skip
    assert three == [43, 44, 45, 46, 47]


@pytest.mark.parametrize(
    ("numbers", "seeds", "error", "match"),
    [
        ([4], 3, StudyError, "trial 4 is FAIL: only a trial that finished COMPLETE"),
        ([6], 3, StudyError, "trial 6 is RUNNING"),
        ([99], 3, StudyError, r"no trial 99 in study 'mrpc-tpe' \(its trials: numbered 0 to 6\)"),
        ([3, 4], 3, StudyError, "trial 4 is FAIL"),  # nothing queued, not even 3's
        ([3], 0, ConfigError, "--seeds: must be from 1 to 100"),
        ([3], 101, ConfigError, "--seeds: must be from 1 to 100"),
        ([], 3, ConfigError, "name at least one trial"),
    ],
)
def test_refusals_name_the_trial_and_queue_nothing(
    fixed_url: str, numbers: list[int], seeds: int, error: type[Exception], match: str
) -> None:
    store = Store(fixed_url)
    with pytest.raises(error, match=match):
        store.replicate(STUDY, numbers, seeds)
    assert len(store.trials(STUDY)) == 7


def test_a_study_that_searches_the_seed_is_refused(tmp_path: Path, mrpc_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    params = '[params.seed]\ntype = "int"\nlow = 0\nhigh = 9'
    space = load_space(write_space(tmp_path / "s.toml", mrpc_dir, params=params))
    create_study("s", StudySettings(space, sampler="random"), url)
    with pytest.raises(StudyError, match="searches the seed itself"):
        Store(url).replicate("s", [0], 2)


def test_the_top_trials_are_one_per_configuration(fixed_url: str) -> None:
    console_data.add_replicates(fixed_url)
    # by f1: 3 (#3), 9 (#5), 10 and 5 (#5 again), then 1
    assert Store(fixed_url).best_trials(STUDY, 3) == [3, 9, 1]
    with pytest.raises(ConfigError, match="--top"):
        Store(fixed_url).best_trials(STUDY, 0)


# -- settings ---------------------------------------------------------------------------------


def test_seeds_per_config_round_trips_and_old_settings_read_as_one(
    tmp_path: Path, mrpc_dir: Path
) -> None:
    space = load_space(write_space(tmp_path / "s.toml", mrpc_dir))
    old = StudySettings(space)
    assert "seeds_per_config" not in json.loads(old.to_json())  # older studies' JSON as it was
    assert StudySettings.from_json(old.to_json()).seeds_per_config == 1
    three = StudySettings(space, seeds_per_config=3)
    assert StudySettings.from_json(three.to_json()) == three
    for bad in (0, 101, 2.5, True):
        with pytest.raises(ConfigError, match="--seeds-per-config"):
            StudySettings(space, seeds_per_config=bad)  # type: ignore[arg-type]
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    create_study("s", old, url)
    with pytest.raises(StudyError, match="seeds_per_config: 1 -> 3"):
        create_study("s", three, url)


def test_study_create_takes_seeds_per_config(
    tmp_path: Path, mrpc_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    space = write_space(tmp_path / "s.toml", mrpc_dir)
    args = ["study", "create", "s", "--space", str(space), "--storage", url]
    assert main([*args, "--seeds-per-config", "3"]) == 0
    assert "3 seeds per configuration" in capsys.readouterr().out
    assert load_settings("s", url).seeds_per_config == 3
    assert main(["study", "create", "t", "--space", str(space), "--storage", url,
                 "--seeds-per-config", "0"]) == 2  # fmt: skip
    assert "--seeds-per-config: must be a whole number from 1 to 100" in capsys.readouterr().err


# -- the flat rows, the CLI -------------------------------------------------------------------


def test_flat_rows_gain_seed_and_config_after_the_old_columns(fixed_url: str) -> None:
    console_data.add_replicates(fixed_url)
    rows = Store(fixed_url).flat_rows(STUDY)
    assert list(rows[0])[-2:] == ["seed", "config"]
    assert [(r["number"], r["seed"], r["config"]) for r in rows if r["config"] in ("#3", "#5")] == [
        (3, 42, "#3"), (5, 42, "#5"), (7, 43, "#3"), (8, 44, "#3"), (9, 43, "#5"), (10, 44, "#5"),
    ]  # fmt: skip
    assert rows[0]["config"] == "#0" and rows[6]["config"] == "#6"


def test_cli_replicate_prints_what_was_queued(
    fixed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "replicate", STUDY, "--trials", "3,1", "--seeds", "2",
                 "--storage", fixed_url]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "queued 4 seed replicate(s) in 'mrpc-tpe':" in out
    assert "  trial 3: seeds 43, 44\n  trial 1: seeds 43, 44\n" in out
    assert "(N counts every trial of the study: 11 with these)" in out
    assert main(["study", "replicate", STUDY, "--top", "1", "--storage", fixed_url]) == 0
    assert "  trial 3: seeds 45, 46, 47\n" in capsys.readouterr().out  # default: 3 seeds
    assert main(["study", "replicate", STUDY, "--trials", "4", "--storage", fixed_url]) == 2
    err = capsys.readouterr().err
    assert "hptui study replicate: error: trial 4 is FAIL" in err
    assert main(["study", "replicate", STUDY, "--trials", "3", "--seeds", "500",
                 "--storage", fixed_url]) == 2  # fmt: skip
    assert "--seeds: must be from 1 to 100 (got 500)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:  # neither --trials nor --top: argparse says
        main(["study", "replicate", STUDY, "--seeds", "2", "--storage", fixed_url])
    assert missing.value.code == 2
    assert "one of the arguments --trials --top is required" in capsys.readouterr().err
    assert len(Store(fixed_url).trials(STUDY)) == 14


def test_cli_trials_group_lists_configurations_by_mean(
    fixed_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    console_data.add_replicates(fixed_url)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["trials", STUDY, "--group", "--storage", fixed_url]) == 0
    out = capsys.readouterr().out
    assert "mrpc-tpe: 7 configuration(s) of 11 trial(s), by mean f1 (maximize)" in out
    lines = [line.split() for line in out.splitlines() if line.strip().startswith("#")]
    assert [line[0] for line in lines] == ["#5", "#3", "#1", "#0", "#2", "#4", "#6"]
    assert lines[0][1] == "3" and "0.8964" in lines[0] and lines[0][-3:] == ["5", "9", "10"]
    assert "best by mean f1: #5, 0.8964 ± 0.0025 (n=3), 95% CI [" in out
    assert "overlaps the runner-up #3 (0.8887 ± 0.011 (n=3)" in out

    assert main(["trials", STUDY, "--group", "--format", "json", "--storage", fixed_url]) == 0
    groups = json.loads(capsys.readouterr().out)
    five = groups[0]
    assert (five["config"], five["n"], five["trials"], five["seeds"]) == ("#5", 3, "5 9 10",
                                                                          "42 43 44")  # fmt: skip
    f1 = [0.8941, 0.8990, 0.8960]
    assert five["f1_mean"] == pytest.approx(np.mean(f1))
    assert five["f1_sd"] == pytest.approx(np.std(f1, ddof=1))
    low, high = stats.t.interval(0.95, 2, loc=np.mean(f1), scale=stats.sem(f1))
    assert (five["f1_low"], five["f1_high"]) == pytest.approx((low, high))
    assert groups[-1]["config"] == "#6" and groups[-1]["n"] == 0  # no value: last

    assert main(["trials", STUDY, "--group", "--format", "csv", "--sort", "n", "--desc",
                 "--storage", fixed_url]) == 0  # fmt: skip
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0].startswith("config,n,trials,seeds,learning_rate,train_batch_size,")
    assert [line.split(",")[1] for line in csv_lines[1:3]] == ["3", "3"]


def test_the_grouped_view_is_built_without_the_console(fixed_url: str) -> None:
    console_data.add_replicates(fixed_url)
    rows = Store(fixed_url).flat_rows(STUDY)
    view = grouped_view(STUDY, rows, PARAMS, objective="f1", direction="maximize", exclude={9})
    assert view.numbers[:2] == (5, 3)  # 9 left out: #5 is still ahead, over two seeds
    assert view.rows[5]["n"] == 2 and view.rows[5]["f1"] == "0.8951 ± 0.0013"
    assert view.rows[3]["trials"] == "3 7 8"
    assert [c.key for c in view.columns] == ["config", "n", *PARAMS, "f1", "accuracy", "loss",
                                             "trials"]  # fmt: skip
    assert view.replicable(5) == 5 and view.replicable(99) is None
    assert view.status().startswith("7 configuration(s) of 11 trial(s), by mean f1; best by")
    assert [r["config"] for r in view.export_rows([5, 3])] == ["#5", "#3"]
