"""The one training loop every front end uses: AdamW, linear warmup/decay, clipping, eval.

It follows the Hugging Face Trainer's recipe where it matters for comparable results (no
weight decay on biases and LayerNorm weights, warmup steps = ceil(ratio x total steps), the
grad norm reported before clipping) and drops the rest: progress leaves through plain
callbacks, cancellation enters through `should_stop`, and a non-finite loss ends the run
with a status that says where, instead of being averaged into the figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import TrainConfig
from .data import TokenizedSplit, resolve_data_dir, tokenized_split
from .events import COMPLETED, EvalEvent, StepEvent, TrainCallbacks, TrainResult
from .metrics import classification_metrics
from .models import ModelBundle, check_sequence_length, load_bundle
from .tasks import get_task

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class RunData:
    """The tokenised training and validation examples of one run."""

    train: TokenizedSplit
    eval: TokenizedSplit


def prepare_data(config: TrainConfig, bundle: ModelBundle) -> RunData:
    """Tokenised train/validation splits (cached per process), cut to the configured limits."""
    task = get_task(config.task)
    check_sequence_length(bundle, config.max_seq_length)
    data_dir = resolve_data_dir(config.data_dir)

    def split(name: str, limit: int | None) -> TokenizedSplit:
        full = tokenized_split(
            task, name, data_dir, bundle.tokenizer, bundle.source, config.max_seq_length
        )
        return full.head(limit)

    return RunData(
        train=split(task.train_split, config.train_limit),
        eval=split(task.eval_split, config.eval_limit),
    )


def resolve_device(setting: str) -> torch.device:
    import torch

    if setting != "auto":
        return torch.device(setting)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on every weight except biases and LayerNorm weights."""
    import torch

    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if isinstance(module, torch.nn.LayerNorm) or name == "bias":
                no_decay.append(param)
            else:
                decay.append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # The fused kernel is several times faster (CPU and CUDA) and what transformers uses.
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        betas=(config.beta1, config.beta2),
        eps=config.adam_epsilon,
        fused=fused or None,
    )


def epoch_batches(
    lengths: list[int], batch_size: int, batching: str, generator: torch.Generator
) -> list[list[int]]:
    """The batches of one epoch, as lists of example indices.

    'random' cuts a shuffled order into batches. 'length-grouped' sorts each run of 50
    batches of a shuffled order by length, so a batch holds pairs of similar length and
    dynamic padding pads little, then shuffles the batches and puts the longest first (an
    out-of-memory error shows on the first step, not at the end of an epoch).
    """
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    if batching == "random":
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    group = 50 * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lengths.__getitem__, reverse=True)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    longest = max(range(len(shuffled)), key=lambda i: max(lengths[j] for j in shuffled[i]))
    shuffled[0], shuffled[longest] = shuffled[longest], shuffled[0]
    return shuffled


def warmup_steps_for(config: TrainConfig, total_steps: int) -> int:
    return math.ceil(config.warmup_ratio * total_steps)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate for optimiser step `step` (0-based):
    linear from 0 to 1 over the warmup, then linear down to 0 at `total_steps`."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup_steps, total_steps)
    )


class Trainer:
    """Fine-tunes one model on one task with one config; `run()` returns a `TrainResult`.

    `bundle` and `data` can be injected (tests, a worker reusing them across trials);
    by default they are loaded from the config, from in-process caches when possible.
    """

    def __init__(
        self,
        config: TrainConfig,
        callbacks: TrainCallbacks | None = None,
        *,
        bundle: ModelBundle | None = None,
        data: RunData | None = None,
    ) -> None:
        self.config = config
        self.callbacks = callbacks or TrainCallbacks()
        self.bundle = bundle or load_bundle(config.model, get_task(config.task).num_labels)
        self.data = data or prepare_data(config, self.bundle)
        self.positive_label = get_task(config.task).positive_label

    def run(self) -> TrainResult:
        import torch

        config, callbacks = self.config, self.callbacks
        started = time.perf_counter()
        device = resolve_device(config.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        model = self.bundle.new_model(config.seed).to(device)
        model.train()
        optimizer = build_optimizer(model, config)
        steps_per_epoch = math.ceil(len(self.data.train) / config.train_batch_size)
        total_steps = steps_per_epoch * config.num_epochs
        scheduler = build_scheduler(optimizer, warmup_steps_for(config, total_steps), total_steps)
        order_rng = torch.Generator().manual_seed(config.seed)
        clip = config.gradient_clip_val if config.gradient_clip_val > 0 else math.inf
        params = [p for p in model.parameters() if p.requires_grad]

        evals: list[EvalEvent] = []
        status, step, epoch, train_seconds, examples_seen = COMPLETED, 0, 0, 0.0, 0
        lengths = self.data.train.lengths()
        for epoch in range(1, config.num_epochs + 1):
            batches = epoch_batches(lengths, config.train_batch_size, config.batching, order_rng)
            for batch_number, indices in enumerate(batches, start=1):
                if callbacks.should_stop():
                    status = f"stopped at step {step}"
                    break
                step_started = time.perf_counter()
                batch = _to_device(self.data.train.collate(indices), device)
                with _autocast(device):
                    loss = model(**batch).loss
                loss_value = float(loss.item())
                if not math.isfinite(loss_value):
                    status = f"non-finite loss at step {step + 1}"
                    break
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
                if not math.isfinite(grad_norm):
                    status = f"non-finite gradient norm at step {step + 1}"
                    break
                learning_rate = float(scheduler.get_last_lr()[0])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                elapsed = time.perf_counter() - step_started
                train_seconds += elapsed
                examples_seen += len(indices)
                callbacks.on_step(
                    StepEvent(
                        step=step,
                        epoch=epoch,
                        epoch_progress=epoch - 1 + batch_number / len(batches),
                        loss=loss_value,
                        learning_rate=learning_rate,
                        grad_norm=grad_norm,
                        examples_per_s=len(indices) / elapsed if elapsed > 0 else 0.0,
                    )
                )
                at_epoch_end = batch_number == len(batches)
                every = config.eval_every_steps
                if every and step % every == 0 and not at_epoch_end:
                    evals.append(self._evaluate(model, device, step, epoch, False))
                    callbacks.on_eval(evals[-1])
            if status != COMPLETED:
                break
            evals.append(self._evaluate(model, device, step, epoch, True))
            callbacks.on_eval(evals[-1])

        epochs_done = epoch if status == COMPLETED else epoch - 1
        return TrainResult(
            status=status,
            metrics=dict(evals[-1].metrics) if evals else {},
            evals=evals,
            epochs=epochs_done,
            steps=step,
            seconds=time.perf_counter() - started,
            train_seconds=train_seconds,
            examples_per_s=examples_seen / train_seconds if train_seconds > 0 else 0.0,
            device=_device_name(device),
            peak_memory_bytes=_peak_memory(device),
            config=config.to_dict(),
        )

    def _evaluate(
        self, model: torch.nn.Module, device: torch.device, step: int, epoch: int, at_end: bool
    ) -> EvalEvent:
        """Loss (mean per example) and classification metrics on the validation split."""
        import torch

        started = time.perf_counter()
        data = self.data.eval
        # Length-sorted batches pad less; the metrics do not depend on the order.
        lengths = data.lengths()
        order = sorted(range(len(data)), key=lengths.__getitem__)
        predictions = [0] * len(data)
        total_loss = 0.0
        model.eval()
        with torch.inference_mode(), _autocast(device):
            for start in range(0, len(order), self.config.eval_batch_size):
                indices = order[start : start + self.config.eval_batch_size]
                batch = _to_device(data.collate(indices), device)
                output = model(**batch)
                total_loss += float(output.loss.float()) * len(indices)
                for index, predicted in zip(
                    indices, output.logits.argmax(dim=-1).tolist(), strict=True
                ):
                    predictions[index] = predicted
        model.train()
        metrics = {"loss": total_loss / len(data)}
        metrics.update(classification_metrics(data.labels, predictions, self.positive_label))
        return EvalEvent(step, epoch, at_end, metrics, time.perf_counter() - started)


def train(config: TrainConfig, callbacks: TrainCallbacks | None = None) -> TrainResult:
    """Fine-tune once with `config`; the entry point for scripts and the CLI."""
    return Trainer(config, callbacks).run()


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}


def _autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (where supported); plain fp32 elsewhere."""
    import torch

    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _device_name(device: torch.device) -> str:
    import platform

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _peak_memory(device: torch.device) -> int | None:
    """Peak GPU memory allocated on CUDA; the process's peak resident set size elsewhere."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:  # Windows
        return None
