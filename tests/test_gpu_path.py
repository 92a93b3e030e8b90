"""The trainer's GPU path, exercised on the CPU: batches gathered from a split held on the
device, loss and grad norm read every N steps instead of every step, padding to a multiple,
per-phase timings, torch.compile, and MiniLM loaded from an fp16 copy ($HPTUI_MINILM_DIR)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from hptui.core.training import models
from hptui.core.training.batches import DeviceSplit
from hptui.core.training.config import TrainConfig
from hptui.core.training.events import EvalEvent, StepEvent, TrainCallbacks
from hptui.core.training.models import ModelBundle, load_bundle
from hptui.core.training.trainer import Trainer, prepare_data

REPO = Path(__file__).resolve().parent.parent


def _run(settings: dict[str, Any], bundle: ModelBundle | None = None, **knobs: Any) -> Any:
    steps: list[StepEvent] = []
    evals: list[EvalEvent] = []
    callbacks = TrainCallbacks(on_step=steps.append, on_eval=evals.append)
    trainer = Trainer(TrainConfig.from_mapping(settings), callbacks, bundle=bundle, **knobs)
    return trainer.run(), steps, evals


def test_gathered_batches_equal_the_host_collated_ones(tiny_settings: dict[str, Any]) -> None:
    config = TrainConfig.from_mapping(tiny_settings)
    data = prepare_data(config, load_bundle(config.model))
    on_device = DeviceSplit(data.train, torch.device("cpu"))
    batches = [[5, 0, 17], [3], [63, 62, 1, 2]]
    for planned, indices in zip(on_device.plan(batches), batches, strict=True):
        gathered = on_device.gather(planned)
        collated = data.train.collate(indices)
        assert gathered.keys() == collated.keys()
        for name in collated:
            assert torch.equal(gathered[name], collated[name]), name


def test_padding_to_a_multiple_rounds_widths_up_and_keeps_the_tokens(
    tiny_settings: dict[str, Any],
) -> None:
    config = TrainConfig.from_mapping(tiny_settings)
    data = prepare_data(config, load_bundle(config.model))
    on_device = DeviceSplit(data.train, torch.device("cpu"), pad_to_multiple=8)
    lengths = data.train.lengths()
    for indices in ([0, 1, 2], [10], list(range(64))):
        batch = on_device.gather(on_device.plan([indices])[0])
        width = batch["input_ids"].shape[1]
        assert width % 8 == 0 or width == max(lengths)
        assert max(lengths[i] for i in indices) <= width < max(lengths[i] for i in indices) + 8
        assert batch["attention_mask"].sum().item() == sum(lengths[i] for i in indices)


def test_reading_values_every_n_steps_reports_the_same_steps(
    tiny_settings: dict[str, Any],
) -> None:
    settings = {**tiny_settings, "num_epochs": 2, "train_batch_size": 8, "eval_every_steps": 5}
    each, each_steps, each_evals = _run(settings, sync_every=1)
    batched, batched_steps, batched_evals = _run(settings, sync_every=3)
    assert [s.step for s in batched_steps] == list(range(1, 17))
    for one, other in zip(each_steps, batched_steps, strict=True):
        assert (one.step, one.epoch, one.epoch_progress) == (
            other.step,
            other.epoch,
            other.epoch_progress,
        )
        assert one.loss == pytest.approx(other.loss, rel=1e-5)
        assert one.grad_norm == pytest.approx(other.grad_norm, rel=1e-4)
        assert one.learning_rate == other.learning_rate
        assert other.examples_per_s > 0
    # An evaluation comes after every step before it was reported, as with one sync a step.
    assert [e.step for e in batched_evals] == [e.step for e in each_evals] == [5, 8, 10, 15, 16]
    assert batched.metrics == pytest.approx(each.metrics, rel=1e-4)
    assert batched.steps == each.steps == 16
    assert batched.examples_per_s > 0 and batched.train_seconds > 0


class NanFrom(ModelBundle):
    """The real tiny model, its logits turned NaN from the n-th forward pass on."""

    def __init__(self, base: ModelBundle, calls: int) -> None:
        super().__init__(base.name, base.source, base.tokenizer, base.config, None)
        self.calls = calls

    def new_model(self, seed: int, device: Any = None) -> torch.nn.Module:
        model = super().new_model(seed, device)
        count = {"n": 0}

        def poison(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            count["n"] += 1
            return output * float("nan") if count["n"] >= self.calls else output

        model.classifier.register_forward_hook(poison)
        return model


@pytest.mark.parametrize("sync_every", [1, 2, 5, 50])
def test_a_late_read_still_names_the_first_non_finite_step(
    tiny_settings: dict[str, Any], sync_every: int
) -> None:
    """The NaN of step 3 is found at the next read (after step 4, 5 or the epoch end): the
    status names step 3, steps 1-2 are reported, the later ones are not, no eval runs."""
    bundle = NanFrom(load_bundle("tiny-distilbert"), calls=3)
    settings = {**tiny_settings, "num_epochs": 2, "train_batch_size": 8}
    result, steps, evals = _run(settings, bundle=bundle, sync_every=sync_every)
    assert result.status == "non-finite loss at step 3"
    assert [s.step for s in steps] == [1, 2]
    assert all(math.isfinite(s.loss) for s in steps)
    assert result.steps == 2 and result.epochs == 0
    assert evals == [] and result.metrics == {}


def test_stopping_reports_the_pending_steps_first(tiny_settings: dict[str, Any]) -> None:
    seen: list[StepEvent] = []
    calls = {"n": 0}

    def stop_at_fifth_check() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    trainer = Trainer(
        TrainConfig.from_mapping({**tiny_settings, "train_batch_size": 8}),
        TrainCallbacks(on_step=seen.append, should_stop=stop_at_fifth_check),
        sync_every=4,
    )
    result = trainer.run()
    assert result.status == "stopped at step 5"
    assert [s.step for s in seen] == [1, 2, 3, 4, 5]


def test_timings_and_compile_on_the_cpu(tiny_settings: dict[str, Any]) -> None:
    """Per-phase timings add up to the run; a compiled model (dynamo with the eager backend,
    no C++ toolchain needed) trains to the same losses as the plain one."""
    timings: dict[str, float] = {}
    plain, plain_steps, _ = _run(tiny_settings, timings=timings, pad_to_multiple=8)
    assert {"data", "forward", "backward", "optimizer", "sync", "eval"} <= timings.keys()
    assert all(seconds >= 0 for seconds in timings.values())
    assert sum(timings.values()) <= plain.seconds * 1.05
    compiled, compiled_steps, _ = _run(tiny_settings, compile_model="eager", pad_to_multiple=8)
    assert compiled.completed
    assert [s.loss for s in compiled_steps] == pytest.approx(
        [s.loss for s in plain_steps], rel=1e-4
    )


def test_a_model_is_built_on_the_given_device_with_sdpa() -> None:
    bundle = load_bundle("tiny-distilbert")
    model = bundle.new_model(3, torch.device("cpu"))
    assert next(model.parameters()).device.type == "cpu"
    assert model.config._attn_implementation == "sdpa"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    same = bundle.new_model(3)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters(), strict=True)
    )


def test_random_distilbert_base_has_the_base_shape() -> None:
    bundle = models.random_distilbert("distilbert-base-random", {})
    assert (bundle.config.n_layers, bundle.config.dim, bundle.config.n_heads) == (6, 768, 12)
    assert bundle.config.vocab_size == load_bundle("tiny-distilbert").config.vocab_size


@pytest.mark.slow
def test_minilm_from_an_fp16_copy_is_upcast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """device/prepare_carry.py writes MiniLM with fp16 weights; $HPTUI_MINILM_DIR loads it
    as float32 weights equal to the fp16-rounded originals."""
    carry = tmp_path / "carry"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [
            sys.executable,
            str(REPO / "device" / "prepare_carry.py"),
            "--out",
            str(carry),
            "--only-model",
        ],
        check=True,
        env=env,
        timeout=300,
    )
    folder = carry / "minilm"
    assert (folder / "model.safetensors").stat().st_size < 50_000_000
    original = load_bundle("offline-minilm")
    monkeypatch.setenv(models.MINILM_DIR_ENV, str(folder))
    monkeypatch.setattr(models, "_bundles", {})
    copy = load_bundle("offline-minilm")
    assert copy.source == str(folder)
    assert copy.pretrained_state is not None and original.pretrained_state is not None
    for name, tensor in original.pretrained_state.items():
        assert copy.pretrained_state[name].dtype == torch.float32
        assert torch.equal(copy.pretrained_state[name], tensor.half().float()), name


def test_a_minilm_folder_without_config_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(models.MINILM_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(models, "_bundles", {})
    with pytest.raises(models.ModelNotFoundError, match="HPTUI_MINILM_DIR"):
        load_bundle("offline-minilm")
