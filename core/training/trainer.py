"""The one training loop every front end uses: AdamW, linear warmup/decay, clipping, eval.

It follows the Hugging Face Trainer's recipe where it matters for comparable results (no
weight decay on biases and LayerNorm weights, warmup steps = ceil(ratio x total steps), the
grad norm reported before clipping) and drops the rest: progress leaves through plain
callbacks, cancellation enters through `should_stop`, and a non-finite loss ends the run
with a status that says where, instead of being averaged into the figures.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hptui.core.errors import ConfigError

from . import resident
from .batches import DeviceSplit
from .config import TrainConfig
from .data import TokenizedSplit, resolve_data_dir, tokenized_head
from .events import COMPLETED, EvalEvent, StepEvent, TrainCallbacks, TrainResult
from .metrics import classification_metrics
from .models import ModelBundle, check_sequence_length, load_bundle
from .tasks import get_task

if TYPE_CHECKING:
    import torch

log = logging.getLogger("hptui.training")


@dataclass(frozen=True)
class RunData:
    """The tokenised training and validation examples of one run."""

    train: TokenizedSplit
    eval: TokenizedSplit


def prepare_data(config: TrainConfig, bundle: ModelBundle) -> RunData:
    """Tokenised train/validation splits cut to the configured limits, the same objects
    for every trial of a process with the same settings (core/training/resident.py)."""
    task = get_task(config.task)
    check_sequence_length(bundle, config.max_seq_length)
    check_compile(config)  # a worker's preflight: refused once, not per trial
    data_dir = resolve_data_dir(config.data_dir)

    def split(name: str, limit: int | None) -> TokenizedSplit:
        return tokenized_head(
            task, name, data_dir, bundle.tokenizer, bundle.source, config.max_seq_length, limit
        )

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


def check_compile(config: TrainConfig) -> bool:
    """Whether the run captures CUDA graphs (`compile = "reduce-overhead"`); a ConfigError
    where it would not run on CUDA (CUDA graphs exist only there)."""
    if config.compile != "reduce-overhead":
        return False
    device = resolve_device(config.device)
    if device.type != "cuda":
        raise ConfigError(
            "compile",
            f'"reduce-overhead" captures CUDA graphs and needs a CUDA device (this run is '
            f'on {device.type}); set compile = "off" here',
        )
    return True


def build_optimizer(
    model: torch.nn.Module, config: TrainConfig, fused: bool | None = None
) -> torch.optim.AdamW:
    """AdamW with weight decay on every weight except biases and LayerNorm weights; the
    fused kernel (one launch for the whole model's step) unless `fused` is False."""
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
    can_fuse = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    use_fused = can_fuse if fused is None else fused and can_fuse
    return torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        betas=(config.beta1, config.beta2),
        eps=config.adam_epsilon,
        fused=use_fused or None,
        foreach=True if fused is False else None,
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


@dataclass
class _PendingStep:
    """A step whose loss and grad norm are still device tensors (read at the next flush)."""

    step: int
    epoch: int
    epoch_progress: float
    learning_rate: float
    examples: int
    values: torch.Tensor  # [loss, grad norm], float32, on the device


class Trainer:
    """Fine-tunes one model on one task with one config; `run()` returns a `TrainResult`.

    `bundle` and `data` can be injected (tests, a worker reusing them across trials);
    by default they are loaded from the config, from in-process caches when possible.

    GPU knobs (defaults suit the device; tests set them on the CPU):
    * `sync_every`: loss and grad norm stay on the device and are read in one host sync
      every N steps (default 1 on CPU, 32 elsewhere), and at every evaluation, stop and
      the end. `on_step` still gets every step, in order, when they are read; a non-finite
      loss or grad norm still ends the run with the first bad step's number, and the steps
      after it are not reported (they trained on a broken model, and the run is over).
    * `pad_to_multiple`: batch widths rounded up to a multiple (default 1 on CPU, 8 on a
      GPU: tensor cores; 32 with `compile_model`, so few shapes compile).
    * `compile_model`: `torch.compile` the model (off by default; measured in bench/gpu.py);
      True for the default backend (inductor), or a backend name ("eager" in CPU tests).
      The config's `compile = "reduce-overhead"` is the user-facing switch: CUDA graphs
      (torch.compile's reduce-overhead mode) on widths padded to multiples of 32, CUDA only.
    * `fused_optimizer`: False for the multi-tensor (foreach) AdamW instead of the fused
      kernel (the default where every parameter is on the CPU or CUDA): measured on/off.
    * `timings`: a dict that gets seconds per phase (data, forward, backward, optimizer,
      sync, eval), measured with a device sync after each phase: slower, for profiling.
    """

    def __init__(
        self,
        config: TrainConfig,
        callbacks: TrainCallbacks | None = None,
        *,
        bundle: ModelBundle | None = None,
        data: RunData | None = None,
        sync_every: int | None = None,
        pad_to_multiple: int | None = None,
        compile_model: bool | str = False,
        fused_optimizer: bool | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        check_compile(config)  # before anything loads: one line, nothing printed
        self.config = config
        self.callbacks = callbacks or TrainCallbacks()
        self._resident_before = resident.stats.snapshot()
        self.bundle = bundle or load_bundle(config.model, get_task(config.task).num_labels)
        self.data = data or prepare_data(config, self.bundle)
        self.positive_label = get_task(config.task).positive_label
        self.sync_every = sync_every
        self.pad_to_multiple = pad_to_multiple
        self.compile_model = compile_model
        self.fused_optimizer = fused_optimizer
        self.timings = timings
        # The model as `run()` left it, with its device and padding multiple: what
        # `evaluate()` scores another split with (kept only as long as the trainer is).
        self._trained: tuple[Any, torch.device, int] | None = None

    def run(self) -> TrainResult:
        import torch

        config, callbacks = self.config, self.callbacks
        started = time.perf_counter()
        device = resolve_device(config.device)
        on_cpu = device.type == "cpu"
        graphs = check_compile(config)
        compiled = bool(self.compile_model) or graphs
        sync_every = self.sync_every or (1 if on_cpu else 32)
        multiple = self.pad_to_multiple or (1 if on_cpu else 32 if compiled else 8)
        phase = _PhaseClock(self.timings, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        # Built on the device itself (fast); on the CPU the plain call, which bundles
        # subclassed in tests override.
        model = (
            self.bundle.new_model(config.seed)
            if on_cpu
            else self.bundle.new_model(config.seed, device)
        )
        model.train()
        forward: Any = model
        if graphs:
            forward = torch.compile(model, mode="reduce-overhead", dynamic=False)
        elif self.compile_model:
            backend = self.compile_model if isinstance(self.compile_model, str) else "inductor"
            forward = torch.compile(model, backend=backend)
        optimizer = build_optimizer(model, config, self.fused_optimizer)
        steps_per_epoch = math.ceil(len(self.data.train) / config.train_batch_size)
        total_steps = steps_per_epoch * config.num_epochs
        scheduler = build_scheduler(optimizer, warmup_steps_for(config, total_steps), total_steps)
        order_rng = torch.Generator().manual_seed(config.seed)
        clip = config.gradient_clip_val if config.gradient_clip_val > 0 else math.inf
        params = [p for p in model.parameters() if p.requires_grad]
        # Padded and on the device once per process (a worker's later trials reuse them).
        train_split = resident.device_split(self.data.train, device, multiple)
        self._eval_split = resident.device_split(self.data.eval, device, multiple)
        log.info("resident (this trial): %s", resident.stats.since(self._resident_before).line())
        phase.lap("data")

        evals: list[EvalEvent] = []
        pending: list[_PendingStep] = []
        status, step, epoch, reported = COMPLETED, 0, 0, 0
        train_seconds, examples_seen = 0.0, 0
        window_started = time.perf_counter()

        def flush() -> str:
            """Read the pending steps' values in one sync and report them; a non-finite
            value ends the run at that step (the status), else COMPLETED."""
            nonlocal train_seconds, examples_seen, reported, window_started
            if not pending:
                return COMPLETED
            values = torch.stack([p.values for p in pending]).tolist()
            elapsed = time.perf_counter() - window_started
            phase.lap("sync")
            examples = sum(p.examples for p in pending)
            rate = examples / elapsed if elapsed > 0 else 0.0
            train_seconds += elapsed
            outcome = COMPLETED
            for record, (loss, grad_norm) in zip(pending, values, strict=True):
                if not math.isfinite(loss):
                    outcome = f"non-finite loss at step {record.step}"
                elif not math.isfinite(grad_norm):
                    outcome = f"non-finite gradient norm at step {record.step}"
                if outcome != COMPLETED:
                    break
                examples_seen += record.examples
                reported = record.step
                callbacks.on_step(
                    StepEvent(
                        step=record.step,
                        epoch=record.epoch,
                        epoch_progress=record.epoch_progress,
                        loss=loss,
                        learning_rate=record.learning_rate,
                        grad_norm=grad_norm,
                        examples_per_s=rate,
                    )
                )
            pending.clear()
            phase.lap("callbacks")
            window_started = time.perf_counter()
            return outcome

        def evaluate(at_end: bool) -> None:
            nonlocal window_started
            evals.append(self._evaluate(forward, device, step, epoch, at_end))
            phase.lap("eval")
            callbacks.on_eval(evals[-1])
            phase.lap("callbacks")
            window_started = time.perf_counter()

        lengths = self.data.train.lengths()
        for epoch in range(1, config.num_epochs + 1):
            batches = epoch_batches(lengths, config.train_batch_size, config.batching, order_rng)
            planned = train_split.plan(batches)
            for batch_number, planned_batch in enumerate(planned, start=1):
                if callbacks.should_stop():
                    status = flush()
                    if status == COMPLETED:
                        status = f"stopped at step {step}"
                    break
                batch = train_split.gather(planned_batch)
                phase.lap("data")
                with _autocast(device):
                    loss = forward(**batch).loss
                phase.lap("forward")
                loss.backward()
                phase.lap("backward")
                grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
                learning_rate = float(scheduler.get_last_lr()[0])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                phase.lap("optimizer")
                step += 1
                values = torch.stack((loss.detach().float(), grad_norm.detach().float()))
                pending.append(
                    _PendingStep(
                        step=step,
                        epoch=epoch,
                        epoch_progress=epoch - 1 + batch_number / len(planned),
                        learning_rate=learning_rate,
                        examples=planned_batch.size,
                        values=values,
                    )
                )
                at_epoch_end = batch_number == len(planned)
                every = config.eval_every_steps
                wants_eval = bool(every and step % every == 0 and not at_epoch_end)
                if len(pending) >= sync_every or wants_eval or at_epoch_end:
                    status = flush()
                    if status != COMPLETED:
                        break
                if wants_eval:
                    evaluate(False)
            if status != COMPLETED:
                break
            evaluate(True)

        self._trained = (forward, device, multiple)
        steps_done = step if status == COMPLETED or status.startswith("stopped") else reported
        epochs_done = epoch if status == COMPLETED else epoch - 1
        return TrainResult(
            status=status,
            metrics=dict(evals[-1].metrics) if evals else {},
            evals=evals,
            epochs=epochs_done,
            steps=steps_done,
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
        """Loss (mean per example) and classification metrics on the validation split,
        summed on the device and read in one sync."""
        started = time.perf_counter()
        metrics = self._score(model, device, self._eval_split, self.data.eval.labels)
        return EvalEvent(step, epoch, at_end, metrics, time.perf_counter() - started)

    def evaluate(self, split: TokenizedSplit) -> dict[str, float]:
        """The trained model's loss and metrics on another tokenised split, after `run()`:
        the held-out test of `hptui final` (scored once, never used for training or
        selection). Same batching and metrics as the validation evaluations."""
        if self._trained is None:
            raise RuntimeError("Trainer.evaluate() needs a finished run()")
        model, device, multiple = self._trained
        return self._score(model, device, DeviceSplit(split, device, multiple), split.labels)

    def _score(
        self, model: torch.nn.Module, device: torch.device, split: DeviceSplit, labels: list[int]
    ) -> dict[str, float]:
        import torch

        # Length-sorted batches pad less; the metrics do not depend on the order.
        order = sorted(range(len(split)), key=split.lengths.__getitem__)
        size = self.config.eval_batch_size
        planned = split.plan([order[i : i + size] for i in range(0, len(order), size)])
        total_loss = torch.zeros((), dtype=torch.float32, device=device)
        predicted = []
        model.eval()
        with torch.inference_mode(), _autocast(device):
            for batch in planned:
                output = model(**split.gather(batch))
                total_loss += output.loss.float() * batch.size
                predicted.append(output.logits.argmax(dim=-1))
        model.train()
        predictions = [0] * len(split)
        flat_predictions = torch.cat(predicted).tolist()
        for index, prediction in zip(order, flat_predictions, strict=True):
            predictions[index] = prediction
        metrics = {"loss": float(total_loss) / len(split)}
        metrics.update(classification_metrics(labels, predictions, self.positive_label))
        return metrics


class _PhaseClock:
    """Seconds per phase of a step, when asked for (`timings`); a no-op otherwise. Each lap
    synchronises the device first, so the time lands on the phase that queued the work."""

    def __init__(self, timings: dict[str, float] | None, device: torch.device) -> None:
        self.timings = timings
        self.device = device
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is None:
            return
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now


def train(config: TrainConfig, callbacks: TrainCallbacks | None = None) -> TrainResult:
    """Fine-tune once with `config`; the entry point for scripts and the CLI."""
    return Trainer(config, callbacks).run()


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
