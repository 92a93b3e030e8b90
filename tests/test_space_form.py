"""The space form's core: rows as typed, checked by the CLI's own validator; saving and
loading TOML; changing a study's space into a new study without touching the old one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import console_data
import pytest

from hptui.core.errors import ConfigError
from hptui.core.studies.settings import StudySettings, check_point, create_study, load_study
from hptui.core.studies.space import load_space, parse_space
from hptui.core.studies.space_change import create_changed_study, suggest_name
from hptui.core.views.space_form import (
    FORM_ORDER,
    RowFields,
    check_rows,
    check_study_fields,
    estimate_trial_seconds,
    parse_choices,
    rows_from_space,
    save_space,
    validate_row,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
R = RowFields


@pytest.mark.parametrize(
    ("name", "row", "message"),
    [
        ("learning_rate", R("float", low="0", high="1e-4", log=True),
         "learning_rate: a log range needs low > 0"),
        ("learning_rate", R("float", low="NaN", high="1"), "learning_rate: low must be finite"),
        ("learning_rate", R("float", low="1e400", high="1"), "low must be finite (got inf)"),
        ("learning_rate", R("float", low="abc", high="1"), "low must be a number (got 'abc')"),
        ("learning_rate", R("float", low="1e-3", high="1e-4"), "low (0.001) > high (0.0001)"),
        ("train_batch_size", R("int", low="8.7", high="32.2"),
         "low of an int range must be a whole number (got 8.7)"),
        ("train_batch_size", R("categorical", choices=""), "choices must be a non-empty list"),
        ("train_batch_size", R("categorical", choices="16, 16"), "choice 16 is listed twice"),
        ("num_epochs", R("fixed", value="abc"), "num_epochs: fixed value invalid"),
        ("learning_rate", R("float", high="1"), "a float range needs low = ..."),
    ],
)  # fmt: skip
def test_a_wrong_row_gets_the_clis_message(name: str, row: RowFields, message: str) -> None:
    spec, problem = validate_row(name, row)
    assert spec is None and problem is not None and message in problem
    table = {"type": row.kind, "low": row.low, "high": row.high}
    if row.kind == "float" and row.low == "abc":  # the same TOML gives the same line
        with pytest.raises(ConfigError) as caught:
            parse_space({"params": {name: {**table, "high": 1.0}}})
        assert str(caught.value) == problem


def test_right_rows_give_specs_and_default_rows_nothing() -> None:
    spec, problem = validate_row("train_batch_size", R("categorical", choices="16, 32"))
    assert problem is None and spec is not None and spec.choices == (16, 32)
    assert validate_row("model", R("fixed", value="tiny-distilbert"))[0].value == "tiny-distilbert"  # type: ignore[union-attr]
    assert validate_row("seed", R()) == (None, None)
    assert parse_choices("[2e-5, 3e-5]") == [2e-5, 3e-5]
    assert parse_choices("length-grouped, random") == ["length-grouped", "random"]


def test_one_wrong_row_means_no_space() -> None:
    rows = {n: R() for n in FORM_ORDER}
    rows["learning_rate"] = R("float", low="0", high="1e-4", log=True)
    rows["weight_decay"] = R("categorical", choices="0.0, 0.1")
    check = check_rows(rows)
    assert not check.ok and check.space is None and list(check.errors) == ["learning_rate"]
    rows["learning_rate"] = R("float", low="1e-5", high="1e-4", log=True)
    check = check_rows(rows)
    assert check.ok and check.space is not None
    assert check.space.names == ["learning_rate", "weight_decay"]


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_examples_round_trip_through_the_form_and_a_saved_file(
    example: str, tmp_path: Path
) -> None:
    space = load_space(EXAMPLES / example)
    rows, order = rows_from_space(space)
    check = check_rows(rows, order)
    assert check.space == space
    saved = save_space(check.space, tmp_path / "saved.toml")
    assert saved.read_text() == space.to_toml()
    assert load_space(saved) == space
    with pytest.raises(ConfigError, match="exists; confirm"):
        save_space(space, saved)


def test_study_name_and_seed_fields() -> None:
    assert check_study_fields("grid-1", "7") == {}
    errors = check_study_fields("a/b", "x")
    assert "must not be a path" in errors["name"] and "whole number" in errors["seed"]
    assert "2**32" in check_study_fields("ok", str(2**40))["seed"]


def test_trial_time_estimate_scales_with_the_work() -> None:
    space = parse_space({"fixed": {"model": "m", "num_epochs": 2, "train_limit": 100}})
    finished = [({"model": "m", "num_epochs": 1, "train_limit": 100}, 10.0),
                ({"model": "other", "num_epochs": 1}, 999.0)]  # fmt: skip
    seconds, based_on = estimate_trial_seconds(space, finished)  # type: ignore[misc]
    assert seconds == pytest.approx(20.0) and based_on == 1
    assert estimate_trial_seconds(space, finished[1:]) is None


def test_suggested_names() -> None:
    assert suggest_name("lr", []) == "lr-2"
    assert suggest_name("lr", ["lr-2"]) == "lr-3"
    assert suggest_name("lr-2", ["lr-3"]) == "lr-4"


def test_check_point_is_enqueues_check(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")
    from hptui.core.studies.settings import load_settings

    settings = load_settings("mrpc-tpe", url)
    check_point(settings, "mrpc-tpe", {"learning_rate": 3e-5, "train_batch_size": 16})
    with pytest.raises(ConfigError, match="outside the study's space"):
        check_point(settings, "mrpc-tpe", {"learning_rate": 1.0})


def test_a_changed_space_makes_a_new_study_seeded_with_what_fits(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")
    db = Path(url.removeprefix("sqlite:///"))
    old_trials = [(t.number, t.state, t.params, t.value)
                  for t in load_study("mrpc-tpe", url).get_trials()]  # fmt: skip
    space = parse_space({
        "fixed": dict(console_data.SPACE["fixed"]),  # type: ignore[call-overload]
        "params": {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 6e-5, "log": True},
            "train_batch_size": {"type": "categorical", "choices": [16, 32]},
            "weight_decay": {"type": "categorical", "choices": [0.0, 0.01]},
        },
    })  # fmt: skip
    settings = StudySettings(space=space, sampler="tpe", seed=1)
    change = create_changed_study("mrpc-tpe", "mrpc-tpe-2", settings, url)
    # complete trials 0, 1, 2, 5 fit (lr <= 6e-5); 3 has lr 8e-5; 4 failed, 6 runs
    assert (change.copied, change.left_out) == (4, 1)
    assert change.reasons == {"outside the new learning_rate range": 1}
    assert "'mrpc-tpe' is unchanged" in change.summary()
    new = load_study("mrpc-tpe-2", url)
    assert sorted(t.value for t in new.trials) == sorted(  # type: ignore[type-var]
        v for n, _, _, v in old_trials if n in (0, 1, 2, 5)
    )
    assert all(t.user_attrs["hptui.source"] == "history" for t in new.trials)
    after = [
        (t.number, t.state, t.params, t.value) for t in load_study("mrpc-tpe", url).get_trials()
    ]
    assert after == old_trials
    with pytest.raises(Exception, match="exists"):
        create_changed_study("mrpc-tpe", "mrpc-tpe-2", settings, url)
    assert hashlib.sha256(db.read_bytes()).hexdigest()  # the file is still readable


def test_a_changed_grid_queues_only_points_not_in_the_history(tmp_path: Path) -> None:
    url = console_data.build(tmp_path / "runs.db")
    space = parse_space({
        "fixed": dict(console_data.SPACE["fixed"]),  # type: ignore[call-overload]
        "params": {
            "learning_rate": {"type": "categorical", "choices": [2e-5, 5e-5]},
            "train_batch_size": {"type": "categorical", "choices": [16, 32]},
            "weight_decay": {"type": "categorical", "choices": [0.0, 0.01]},
        },
    })  # fmt: skip
    settings = StudySettings(space=space, sampler="grid")
    change = create_changed_study("mrpc-tpe", "grid-2", settings, url)
    assert change.copied == 2  # trials 0 (2e-5, 16, 0.0) and 1 (5e-5, 32, 0.01)
    assert change.queued == 8 - 2
    _, created = create_study("grid-2", settings, url)  # same settings: the same study
    assert not created
