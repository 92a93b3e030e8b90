"""The training engine, on real steps of the tiny model over real MRPC pairs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from hptui.core.training.config import TrainConfig
from hptui.core.training.events import EvalEvent, StepEvent, TrainCallbacks
from hptui.core.training.models import ModelBundle, load_bundle
from hptui.core.training.trainer import (
    Trainer,
    build_optimizer,
    epoch_batches,
    lr_factor,
    warmup_steps_for,
)


def _run(
    settings: dict[str, Any], **callbacks: Any
) -> tuple[Any, list[StepEvent], list[EvalEvent]]:
    steps: list[StepEvent] = []
    evals: list[EvalEvent] = []
    hooks = TrainCallbacks(
        on_step=callbacks.get("on_step", steps.append),
        on_eval=callbacks.get("on_eval", evals.append),
        should_stop=callbacks.get("should_stop", lambda: False),
    )
    result = Trainer(
        TrainConfig.from_mapping(settings), hooks, bundle=callbacks.get("bundle")
    ).run()
    return result, steps, evals


def test_overfitting_one_fixed_batch_drives_the_loss_down(tiny_settings: dict[str, Any]) -> None:
    settings = {**tiny_settings, "train_limit": 16, "eval_limit": 8, "num_epochs": 40}
    result, steps, _ = _run(settings)
    assert result.completed and len(steps) == 40
    first, last = steps[0].loss, steps[-1].loss
    assert math.isclose(first, math.log(2), abs_tol=0.1)  # a fresh head guesses
    assert last < 0.2 * first, [round(s.loss, 3) for s in steps]


def test_one_epoch_reports_every_step_and_the_epoch_eval(tiny_settings: dict[str, Any]) -> None:
    result, steps, evals = _run(tiny_settings)
    assert [s.step for s in steps] == [1, 2, 3, 4]  # 64 pairs / batch 16
    assert steps[-1].epoch_progress == pytest.approx(1.0)
    assert all(s.examples_per_s > 0 and s.grad_norm > 0 for s in steps)
    assert len(evals) == 1 and evals[0].end_of_epoch
    assert set(evals[0].metrics) == {"loss", "accuracy", "f1", "precision", "recall"}
    assert result.metrics == evals[0].metrics
    assert (result.epochs, result.steps, result.status) == (1, 4, "completed")
    assert result.examples_per_s > 0 and result.config["train_limit"] == 64


def test_the_same_seed_reproduces_the_run(tiny_settings: dict[str, Any]) -> None:
    first, _, _ = _run(tiny_settings)
    again, _, _ = _run(tiny_settings)
    other, _, _ = _run({**tiny_settings, "seed": 7})
    assert first.metrics == again.metrics
    assert first.metrics["loss"] != other.metrics["loss"]


def test_warmup_then_linear_decay_as_the_hf_trainer() -> None:
    assert [lr_factor(s, 4, 10) for s in range(11)] == pytest.approx(
        [0, 0.25, 0.5, 0.75, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0]
    )
    config = TrainConfig(warmup_ratio=0.1)
    assert warmup_steps_for(config, 115) == 12  # ceil, as transformers does


def test_learning_rates_reported_follow_the_schedule(tiny_settings: dict[str, Any]) -> None:
    settings = {**tiny_settings, "num_epochs": 2, "warmup_ratio": 0.25}  # 8 steps, 2 warmup
    _, steps, _ = _run(settings)
    peak = settings["learning_rate"]
    expected = [peak * lr_factor(s, 2, 8) for s in range(8)]
    assert [s.learning_rate for s in steps] == pytest.approx(expected)


def test_no_weight_decay_on_biases_and_layernorm() -> None:
    model = load_bundle("tiny-distilbert").new_model(0)
    optimizer = build_optimizer(model, TrainConfig(weight_decay=0.01))
    decayed, exempt = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and exempt["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    exempt_names = {names[id(p)] for p in exempt["params"]}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert all(
        n.endswith("bias") or "layernorm" in n.lower().replace("_", "") for n in exempt_names
    )
    assert "distilbert.embeddings.LayerNorm.weight" in exempt_names
    assert "distilbert.transformer.layer.0.sa_layer_norm.weight" in exempt_names
    assert "distilbert.transformer.layer.0.attention.q_lin.weight" in decayed_names
    assert "distilbert.embeddings.word_embeddings.weight" in decayed_names
    assert len(exempt_names) + len(decayed_names) == len(names)


def test_clipping_bounds_the_gradient_norm(tiny_settings: dict[str, Any]) -> None:
    seen: list[float] = []

    def measure(optimizer: torch.optim.Optimizer, *_: Any) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(measure)
    try:
        _, steps, _ = _run({**tiny_settings, "gradient_clip_val": 0.05})
        clipped = list(seen)
        seen.clear()
        _, unclipped_steps, _ = _run({**tiny_settings, "gradient_clip_val": 0})
    finally:
        handle.remove()
    assert len(clipped) == 4
    assert all(norm <= 0.05 * 1.001 for norm in clipped), clipped
    assert all(s.grad_norm > 0.05 for s in steps)  # the reported norm is the pre-clip one
    assert max(seen) > 0.05  # without clipping the same run goes past the bound
    assert [s.grad_norm for s in unclipped_steps] == pytest.approx(seen, rel=1e-4)


class NanAfter(ModelBundle):
    """A real tiny model whose logits turn NaN from the n-th forward pass on."""

    def __init__(self, base: ModelBundle, calls: int) -> None:
        super().__init__(base.name, base.source, base.tokenizer, base.config, None)
        self.calls = calls

    def new_model(self, seed: int) -> torch.nn.Module:
        model = super().new_model(seed)
        count = {"n": 0}

        def poison(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            count["n"] += 1
            return output * float("nan") if count["n"] >= self.calls else output

        model.classifier.register_forward_hook(poison)
        return model


def test_non_finite_loss_stops_with_the_step(tiny_settings: dict[str, Any]) -> None:
    bundle = NanAfter(load_bundle("tiny-distilbert"), calls=3)
    result, steps, evals = _run({**tiny_settings, "num_epochs": 2}, bundle=bundle)
    assert result.status == "non-finite loss at step 3"
    assert not result.completed
    assert [s.step for s in steps] == [1, 2]
    assert all(math.isfinite(s.loss) for s in steps)
    assert evals == [] and result.metrics == {}  # nothing averaged over the NaN


def test_should_stop_cancels_between_steps(tiny_settings: dict[str, Any]) -> None:
    seen: list[StepEvent] = []
    result, _, _ = _run(
        {**tiny_settings, "num_epochs": 3},
        on_step=seen.append,
        should_stop=lambda: len(seen) >= 2,
    )
    assert result.status == "stopped at step 2"
    assert result.steps == 2 and result.epochs == 0


def test_eval_every_n_steps_adds_mid_epoch_evals(tiny_settings: dict[str, Any]) -> None:
    _, _, evals = _run({**tiny_settings, "eval_every_steps": 2})
    assert [(e.step, e.end_of_epoch) for e in evals] == [(2, False), (4, True)]


@pytest.mark.parametrize("batching", ["length-grouped", "random"])
def test_every_example_once_per_epoch(batching: str) -> None:
    lengths = [(i * 37) % 101 + 5 for i in range(1000)]
    batches = epoch_batches(lengths, 32, batching, torch.Generator().manual_seed(0))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert sorted(len(b) for b in batches)[1:] == [32] * 31  # one short batch of 8


def test_length_grouping_pads_less_and_leads_with_the_longest() -> None:
    lengths = [(i * 37) % 101 + 5 for i in range(3200)]

    def padded_tokens(batches: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    grouped = epoch_batches(lengths, 32, "length-grouped", torch.Generator().manual_seed(0))
    plain = epoch_batches(lengths, 32, "random", torch.Generator().manual_seed(0))
    assert padded_tokens(grouped) < 0.7 * padded_tokens(plain)
    assert max(lengths[i] for i in grouped[0]) == max(lengths)
    # Batches are shuffled: the epoch is not a long-to-short curriculum.
    widths = [max(lengths[i] for i in b) for b in grouped[1:]]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)


def test_a_size_that_does_not_divide_the_batch_trains_every_example(
    tiny_settings: dict[str, Any],
) -> None:
    """70 pairs in batches of 16: 5 steps per epoch (the last of 6 pairs), not 4, and the
    learning-rate schedule spans all 10 steps of 2 epochs (rounded down, it reached 0 early)."""
    seen: list[int] = []

    def count(_optimizer: torch.optim.Optimizer, *_: Any) -> None:
        seen.append(1)

    settings = {**tiny_settings, "train_limit": 70, "num_epochs": 2, "warmup_ratio": 0.0}
    handle = register_optimizer_step_pre_hook(count)
    try:
        result, steps, evals = _run(settings)
    finally:
        handle.remove()
    assert result.completed and result.steps == 10 and len(seen) == 10
    assert [s.epoch for s in steps] == [1] * 5 + [2] * 5
    assert [round(s.epoch_progress, 3) for s in steps[:5]] == [0.2, 0.4, 0.6, 0.8, 1.0]
    rates = [s.learning_rate for s in steps]
    assert all(rate > 0 for rate in rates), rates
    assert rates[-1] == pytest.approx(tiny_settings["learning_rate"] / 10)  # 1 of 10 left
    assert [e.step for e in evals] == [5, 10]


class GradientsAtForward(ModelBundle):
    """A real tiny model that records, at each training forward pass, the largest gradient
    left on any parameter (a step must start from zero gradients)."""

    def __init__(self, base: ModelBundle) -> None:
        super().__init__(base.name, base.source, base.tokenizer, base.config, None)
        self.left: list[float] = []

    def new_model(self, seed: int) -> torch.nn.Module:
        model = super().new_model(seed)

        def check(module: torch.nn.Module, _inputs: Any) -> None:
            if module.training and torch.is_grad_enabled():
                grads = [p.grad.abs().max() for p in module.parameters() if p.grad is not None]
                self.left.append(float(max(grads)) if grads else 0.0)

        model.register_forward_pre_hook(check)
        return model


def test_each_step_starts_from_zero_gradients(tiny_settings: dict[str, Any]) -> None:
    """Gradients of one step never leak into the next (optimizer.zero_grad after each step)."""
    bundle = GradientsAtForward(load_bundle("tiny-distilbert"))
    result, steps, _ = _run({**tiny_settings, "num_epochs": 2}, bundle=bundle)
    assert result.steps == 8 and len(bundle.left) == 8
    assert bundle.left == [0.0] * 8
    assert all(s.grad_norm > 0 for s in steps)  # there were gradients to leak
