"""Search spaces: every validation error names the parameter and the fix."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from hptui.core.errors import ConfigError
from hptui.core.studies.space import SpaceError, load_space, parse_space

REPO = Path(__file__).resolve().parent.parent


def _param(name: str, **spec: object) -> dict[str, object]:
    return {"params": {name: spec}}


@pytest.mark.parametrize(
    ("raw", "key", "phrase"),
    [
        (_param("learning_rate", type="float", low=1e-3, high=1e-5), "learning_rate", "swap them"),
        (_param("learning_rate", type="float", low=0.0, high=1e-3, log=True), "learning_rate", "low > 0"),
        (_param("weight_decay", type="float", low=0.0, high=0.1, step=0), "weight_decay", "step must be > 0"),
        (_param("weight_decay", type="float", low=float("nan"), high=0.1), "weight_decay", "finite"),
        (_param("weight_decay", type="float", low=0.0, high=float("inf")), "weight_decay", "finite"),
        (_param("max_seq_length", type="int", low=64.5, high=128), "max_seq_length", "whole number"),
        (_param("train_batch_size", type="categorical", choices=[]), "train_batch_size", "non-empty"),
        (_param("train_batch_size", type="categorical", choices=[16, 16]), "train_batch_size", "twice"),
        (_param("train_batch_size", type="categorical", choices=[16, 0]), "train_batch_size", "positive integer"),
        (_param("train_batch_size", type="categorical", choices=[16, 8.5]), "train_batch_size", "integer"),
        (_param("train_batch_size", type="float", low=8, high=32), "train_batch_size", 'type = "int"'),
        (_param("learning_rat", type="float", low=1e-5, high=1e-4), "learning_rat", "did you mean 'learning_rate'"),
        (_param("learning_rate", type="normal", low=1e-5, high=1e-4), "learning_rate", "type must be one of"),
        (_param("learning_rate", type="float", low=1e-5), "learning_rate", "needs high"),
        (_param("learning_rate", type="float", low=1e-5, high=1e-4, lg=True), "learning_rate", "unknown key"),
        (_param("beta1", type="float", low=0.5, high=1.0), "beta1", "[0, 1)"),
        ({"fixed": {"num_epochs": 0}}, "num_epochs", "positive integer"),
        ({"fixed": {"epochs": 3}}, "epochs", "unknown setting"),
        ({"fixed": {"seed": 1}, **_param("seed", type="int", low=0, high=3)}, "seed", "both fixed and searched"),
        ({"search": {}}, "search", "unknown section"),
    ],
)  # fmt: skip
def test_invalid_spaces_name_the_parameter(raw: dict[str, object], key: str, phrase: str) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space(raw)
    assert caught.value.key == key
    assert phrase in str(caught.value)


def test_grid_enumerates_every_point_once() -> None:
    space = load_space(REPO / "examples" / "report-grid.toml")
    grid = space.grid()
    assert len(grid) == 18
    assert len({tuple(sorted(p.items())) for p in grid}) == 18
    assert {p["train_batch_size"] for p in grid} == {16, 32}


def test_a_continuous_range_is_no_grid() -> None:
    space = parse_space(_param("learning_rate", type="float", low=1e-5, high=1e-4, log=True))
    with pytest.raises(SpaceError, match="learning_rate: a grid needs a finite set"):
        space.grid()
    stepped = parse_space(_param("warmup_ratio", type="float", low=0.0, high=0.2, step=0.1))
    assert [p["warmup_ratio"] for p in stepped.grid()] == pytest.approx([0.0, 0.1, 0.2])


@pytest.mark.parametrize("name", ["grid", "report-grid", "report-explore", "report-tpe"])
def test_example_spaces_load_and_round_trip(name: str) -> None:
    space = load_space(REPO / "examples" / f"{name}.toml")
    again = parse_space(tomllib.loads(space.to_toml()))
    assert again == space
    assert again.differences(space) == []


def test_the_exploration_space_covers_the_reports_seven() -> None:
    space = load_space(REPO / "examples" / "report-explore.toml")
    assert set(space.names) == {
        "learning_rate", "weight_decay", "train_batch_size", "max_seq_length",
        "warmup_ratio", "beta1", "gradient_clip_val",
    }  # fmt: skip
    config = space.config_for({"learning_rate": 3e-5}, data_dir="/data")
    assert config.learning_rate == 3e-5 and config.data_dir == "/data" and config.num_epochs == 3


def test_differences_are_readable() -> None:
    before = parse_space(_param("learning_rate", type="float", low=1e-5, high=1e-4))
    after = parse_space(_param("learning_rate", type="float", low=1e-5, high=5e-4))
    (change,) = before.differences(after)
    assert change.startswith("params.learning_rate:") and "0.0005" in change


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ({"low": -0.5, "high": 0.9}, "low -0.5 is not a valid value"),
        ({"low": 0.5, "high": 1.0}, "high 1.0 is not a valid value"),
        ({"low": 0.1, "high": 0.9, "log": True, "step": 0.1}, "step and log cannot be combined"),
        ({"low": 0.1, "high": 0.9, "log": "yes"}, "log must be true or false"),
        ({"low": 0.1, "high": 0.9, "log": 1}, "log must be true or false"),
        ({"low": "0.1", "high": 0.9}, "low must be a number"),
        ({"low": 0.1, "high": "0.9"}, "high must be a number"),
        ({"low": 0.9, "high": 0.1}, "low (0.9) > high (0.1); swap them"),
    ],
)
def test_each_range_check_has_its_own_case(spec: dict[str, object], phrase: str) -> None:
    """One case per check, so removing or loosening any one of them fails here."""
    with pytest.raises(SpaceError, match=re.escape(phrase)) as caught:
        parse_space(_param("beta1", type="float", **spec))
    assert caught.value.key == "beta1"


def test_a_range_of_one_value_is_allowed() -> None:
    """low == high is a legal (if dull) range: only low > high is refused."""
    space = parse_space(_param("beta1", type="float", low=0.9, high=0.9))
    assert space.params[0].low == space.params[0].high == 0.9
    ints = parse_space(_param("num_epochs", type="int", low=2, high=2, step=1))
    assert ints.grid() == [{"num_epochs": 2}]


@pytest.mark.parametrize("fixed", [5, "model", [1, 2]])
def test_a_fixed_section_that_is_not_a_table_is_one_message(fixed: object) -> None:
    with pytest.raises(SpaceError, match="fixed: must be a table"):
        parse_space({"fixed": fixed})


def test_a_relative_data_dir_is_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolved against the space file's folder, so a worker started anywhere finds it;
    a worker's $HPTUI_DATA_DIR still overrides it on that host."""
    folder = tmp_path / "spaces"
    folder.mkdir()
    (folder / "s.toml").write_text('[fixed]\ndata_dir = "../data/mrpc"\n')
    monkeypatch.chdir(tmp_path / "spaces")
    space = load_space(folder / "s.toml")
    assert space.fixed["data_dir"] == str(tmp_path / "data" / "mrpc")
    assert space.config_for({}, data_dir=None, device=None).data_dir == str(
        tmp_path / "data" / "mrpc"
    )
    monkeypatch.setenv("HPTUI_DATA_DIR", "/elsewhere/mrpc")
    assert space.config_for({}, data_dir=None, device=None).data_dir == "/elsewhere/mrpc"
    assert space.config_for({}, data_dir="/flag/mrpc", device=None).data_dir == "/flag/mrpc"


def test_a_worker_host_without_the_device_fails_before_any_trial() -> None:
    import torch

    space = parse_space({"fixed": {"device": "cuda:99"}})  # creating it anywhere is fine
    if torch.cuda.device_count() > 99:
        pytest.skip("this host has 100 GPUs")
    with pytest.raises(ConfigError, match="device: cuda:99"):
        space.config_for({}, data_dir=None, device=None)  # what a worker's preflight calls
    assert space.config_for({}).device == "cuda:99"  # enqueue-time validation does not need it


def test_a_relative_data_dir_is_read_from_the_folder_the_file_was_named_in(
    tmp_path: Path,
) -> None:
    """examples/grid.toml is a link into the package's presets: its data_dir is relative to
    examples/, where the link is, not to where the file lies."""
    space = load_space(REPO / "examples" / "grid.toml")
    assert space.fixed_values()["data_dir"] == str((REPO.parent / "shared/data/mrpc").resolve())
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "s.toml").write_text(
        '[fixed]\ndata_dir = "data"\n[params.learning_rate]\ntype = "float"\nlow = 1e-5\nhigh = 1e-4\n'
    )
    (tmp_path / "link.toml").symlink_to(tmp_path / "spaces" / "s.toml")
    assert load_space(tmp_path / "link.toml").fixed_values()["data_dir"] == str(tmp_path / "data")
    dropped = load_space(tmp_path / "link.toml", relative_data_dir=False)
    assert "data_dir" not in dropped.fixed_values()


def test_the_flat_landscape_space_in_the_readme_is_a_four_point_grid() -> None:
    from hptui.core.studies.settings import grid_size

    space = load_space(REPO / "bench" / "flat" / "report-grid-cpu.toml")
    assert grid_size(space) == 4 and space.fixed_values()["model"] == "offline-minilm"
    assert {p.name for p in space.params if p.type != "fixed"} == {"learning_rate", "weight_decay"}
