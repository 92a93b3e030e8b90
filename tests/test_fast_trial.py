"""The faster-trial options on the CPU: the fused optimizer is the default and can be
switched off (same training, other kernel), and `compile = "reduce-overhead"` (CUDA graphs)
is refused with one line where there is no CUDA device, from the API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import hptui_env

from hptui.core.errors import ConfigError
from hptui.core.training.config import TrainConfig
from hptui.core.training.models import load_bundle
from hptui.core.training.trainer import Trainer, build_optimizer


def test_the_optimizer_is_fused_unless_switched_off() -> None:
    model = load_bundle("tiny-distilbert").new_model(0)
    config = TrainConfig(model="tiny-distilbert")
    assert build_optimizer(model, config).defaults["fused"] is True  # CPU: unchanged
    unfused = build_optimizer(model, config, fused=False)
    assert not unfused.defaults["fused"] and unfused.defaults["foreach"] is True


def test_foreach_adamw_trains_to_the_same_figures(tiny_settings: dict[str, Any]) -> None:
    config = TrainConfig(**tiny_settings)
    fused = Trainer(config).run()
    plain = Trainer(config, fused_optimizer=False).run()
    assert fused.completed and plain.completed
    for name, value in fused.metrics.items():
        assert plain.metrics[name] == pytest.approx(value, rel=1e-3, abs=1e-3), name


def test_cuda_graphs_are_refused_on_the_cpu(tiny_settings: dict[str, Any]) -> None:
    config = TrainConfig(**{**tiny_settings, "compile": "reduce-overhead", "device": "cpu"})
    with pytest.raises(ConfigError, match=r'compile: "reduce-overhead".*needs a CUDA device'):
        Trainer(config).run()
    with pytest.raises(ConfigError, match="compile: must be one of off, reduce-overhead"):
        TrainConfig(compile="max-autotune")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for hosts without CUDA")
def test_the_cli_refuses_cuda_graphs_in_one_line(tmp_path: Path, mrpc_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hptui", "train", "--data-dir", str(mrpc_dir),
         "--set", "model=tiny-distilbert", "--set", "train_limit=16", "--set", "eval_limit=16",
         "--set", "compile=reduce-overhead"],
        env=hptui_env(OMP_NUM_THREADS="1"), text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "compile" in lines[0] and "needs a CUDA device" in lines[0]
    assert "Traceback" not in done.stderr
