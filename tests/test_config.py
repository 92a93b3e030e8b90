"""Config errors name the key and the fix; layering is defaults < TOML < --set."""

from __future__ import annotations

from pathlib import Path

import pytest

from hptui.core.errors import ConfigError
from hptui.core.training.config import TrainConfig, load_config, parse_overrides


def test_defaults_are_the_product_defaults() -> None:
    config = TrainConfig()
    assert config.model == "distilbert-base-uncased"
    assert config.task == "mrpc"
    assert config.gradient_clip_val == 1.0


def test_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_mapping({"learning_rat": 1e-4})
    assert caught.value.key == "learning_rat"
    assert "did you mean 'learning_rate'" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("learning_rate", 0.0, "finite number > 0"),
        ("learning_rate", float("nan"), "finite number > 0"),
        ("learning_rate", float("inf"), "finite number > 0"),
        ("weight_decay", -0.1, ">= 0"),
        ("beta1", 1.0, "[0, 1)"),
        ("warmup_ratio", -0.1, "[0, 1)"),
        ("train_batch_size", 0, "positive integer"),
        ("train_batch_size", 8.5, "must be an integer"),
        ("train_batch_size", "32", "must be an integer"),
        ("num_epochs", True, "boolean"),
        ("max_seq_length", 4, "between 8 and 8192"),
        ("gradient_clip_val", -1.0, ">= 0"),
        ("device", "gpu", "'auto', 'cpu'"),
        ("model", None, "must be set"),
    ],
)
def test_bad_values_name_the_key(key: str, value: object, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_mapping({key: value})
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
    assert phrase in str(caught.value)


def test_integral_floats_become_ints_and_ints_become_floats() -> None:
    config = TrainConfig.from_mapping({"train_batch_size": 16.0, "learning_rate": 1})
    assert config.train_batch_size == 16 and isinstance(config.train_batch_size, int)
    assert isinstance(config.learning_rate, float)


def test_config_is_frozen_and_hashable() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.learning_rate = 1.0  # type: ignore[misc]
    assert hash(config) == hash(TrainConfig())


def test_overrides_are_typed_by_field() -> None:
    parsed = parse_overrides(["learning_rate=3e-5", "train_limit=none", "model=offline-minilm"])
    assert parsed == {"learning_rate": 3e-5, "train_limit": None, "model": "offline-minilm"}
    with pytest.raises(ConfigError, match="num_epochs: must be an integer"):
        parse_overrides(["num_epochs=three"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["learning_rate"])


def test_toml_then_cli_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('model = "tiny-distilbert"\nlearning_rate = 1e-4\nnum_epochs = 2\n')
    config = load_config(path, ["learning_rate=5e-5"])
    assert (config.model, config.learning_rate, config.num_epochs) == ("tiny-distilbert", 5e-5, 2)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("learning_rate = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_replace_validates() -> None:
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig().replace(seed=-1)
