"""Shared fixtures. The hub is never contacted from tests: offline flags are set before any
Hugging Face library is imported, and data comes from ../shared/data/mrpc."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("HPTUI_DATA_DIR", None)

import pytest

REPO = Path(__file__).resolve().parent.parent
MRPC_DIR = Path(os.environ.get("HPTUI_TEST_MRPC", REPO.parent / "shared" / "data" / "mrpc"))


@pytest.fixture(scope="session")
def mrpc_dir() -> Path:
    if not (MRPC_DIR / "train.tsv").is_file():
        pytest.fail(
            f"MRPC test data not found at {MRPC_DIR}: clone hptui beside shared/ "
            "or set HPTUI_TEST_MRPC to a GLUE-format MRPC folder"
        )
    return MRPC_DIR


@pytest.fixture
def tiny_settings(mrpc_dir: Path) -> dict[str, object]:
    """Settings for a seconds-long real run of the tiny model on an MRPC slice."""
    return {
        "model": "tiny-distilbert",
        "data_dir": str(mrpc_dir),
        "train_limit": 64,
        "eval_limit": 32,
        "num_epochs": 1,
        "train_batch_size": 16,
        "eval_batch_size": 32,
        "max_seq_length": 64,
        "learning_rate": 1e-3,
    }


def hptui_env(**extra: str) -> dict[str, str]:
    """Environment for `hptui` subprocesses: offline, quiet, deterministic."""
    env = dict(os.environ)
    env.update(extra)
    return env


def wait_until(condition: Callable[[], bool], timeout: float = 300, what: str = "") -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds (an
    upper bound for a broken run, never a speed claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def write_space(path: Path, mrpc_dir: Path, params: str | None = None, **fixed: object) -> Path:
    """A TOML space on the tiny model and a real MRPC slice; `fixed` overrides settings."""
    settings: dict[str, object] = {
        "model": "tiny-distilbert",
        "data_dir": str(mrpc_dir),
        "num_epochs": 1,
        "train_limit": 64,
        "eval_limit": 32,
        "max_seq_length": 64,
        "train_batch_size": 16,
    }
    settings.update(fixed)
    lines = ["[fixed]"]
    for key, value in settings.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    lines.append(
        params
        if params is not None
        else '[params.learning_rate]\ntype = "float"\nlow = 1e-4\nhigh = 1e-3\nlog = true'
    )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"
