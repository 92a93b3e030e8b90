"""What the trainer reports: plain frozen dataclasses, so any front end can consume them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepEvent:
    """One optimiser step. `epoch` counts from 1; `epoch_progress` is fractional epochs done."""

    step: int
    epoch: int
    epoch_progress: float
    loss: float
    learning_rate: float
    grad_norm: float
    examples_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"event": "step", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class EvalEvent:
    """Validation metrics after `step`; `end_of_epoch` tells epoch-end from mid-epoch evals."""

    step: int
    epoch: int
    end_of_epoch: bool
    metrics: dict[str, float]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"event": "eval", **dataclasses.asdict(self)}


COMPLETED = "completed"


@dataclass(frozen=True)
class TrainResult:
    """The outcome of one run. `status` is 'completed', 'stopped at step N' or
    'non-finite loss at step N'; `metrics` are the last evaluation's, if any."""

    status: str
    metrics: dict[str, float]
    evals: list[EvalEvent]
    epochs: int
    steps: int
    seconds: float
    train_seconds: float
    examples_per_s: float
    device: str
    peak_memory_bytes: int | None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "result",
            "status": self.status,
            **self.metrics,
            "epochs": self.epochs,
            "steps": self.steps,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "examples_per_s": self.examples_per_s,
            "device": self.device,
            "peak_memory_bytes": self.peak_memory_bytes,
            "evals": [e.to_dict() for e in self.evals],
            "config": self.config,
        }


def _never() -> bool:
    return False


def _ignore(_event: Any) -> None:
    return None


@dataclass(frozen=True)
class TrainCallbacks:
    """Progress out, cancellation in: plain callables, called on the training thread."""

    on_step: Callable[[StepEvent], None] = _ignore
    on_eval: Callable[[EvalEvent], None] = _ignore
    should_stop: Callable[[], bool] = _never
