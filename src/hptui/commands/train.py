"""`hptui train`: one run, shown as a rich progress bar and a per-epoch table, or as JSON lines."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from hptui.core.training.config import TrainConfig, field_help, load_config
from hptui.core.training.events import EvalEvent, StepEvent, TrainCallbacks, TrainResult


def run_train(args: argparse.Namespace) -> int:
    if args.list_settings:
        _list_settings()
        return 0
    base: dict[str, Any] = {"data_dir": args.data_dir} if args.data_dir else {}
    config = load_config(args.config, args.overrides, base=base)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = _train_json(config, stop) if args.json else _train_rich(config, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0 if result.completed else 1


def _list_settings() -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    defaults = TrainConfig().to_dict()
    table = Table("setting", "default", "meaning", box=None)
    for name, help_text in field_help().items():
        table.add_row(name, Text(repr(defaults[name])), Text(help_text))
    Console().print(table)


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def _train_json(config: TrainConfig, stop: threading.Event) -> TrainResult:
    from hptui.core.training.trainer import Trainer

    callbacks = TrainCallbacks(
        on_step=lambda event: _emit(event.to_dict()),
        on_eval=lambda event: _emit(event.to_dict()),
        should_stop=stop.is_set,
    )
    result = Trainer(config, callbacks).run()
    _emit(result.to_dict())
    return result


def _train_rich(config: TrainConfig, stop: threading.Event) -> TrainResult:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from hptui.core.training.models import describe_model
    from hptui.core.training.trainer import Trainer

    console = Console(stderr=True)
    with console.status(Text(f"loading {config.model} ({describe_model(config.model)}) and data")):
        trainer = Trainer(config)
    steps_per_epoch = -(-len(trainer.data.train) // config.train_batch_size)
    console.print(
        f"[bold]{escape(config.model)}[/] on {escape(config.task.upper())}: "
        f"{len(trainer.data.train)} training "
        f"and {len(trainer.data.eval)} validation pairs, {config.num_epochs} epoch(s) of "
        f"{steps_per_epoch} steps"
    )
    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  {task.fields[speed]:.0f} ex/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task_id = progress.add_task(
        "train", total=steps_per_epoch * config.num_epochs, epoch=1, loss=float("nan"), speed=0.0
    )

    def on_step(event: StepEvent) -> None:
        progress.update(
            task_id,
            completed=event.step,
            epoch=event.epoch,
            loss=event.loss,
            speed=event.examples_per_s,
        )

    def on_eval(event: EvalEvent) -> None:
        m = event.metrics
        progress.console.print(
            f"epoch {event.epoch} step {event.step}: val loss {m['loss']:.4f}  "
            f"accuracy {m['accuracy']:.4f}  F1 {m['f1']:.4f}"
        )

    trainer.callbacks = TrainCallbacks(on_step=on_step, on_eval=on_eval, should_stop=stop.is_set)
    with progress:
        result = trainer.run()
    _print_summary(result)
    return result


def _print_summary(result: TrainResult) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="validation metrics")
    for column in ("epoch", "step", "loss", "accuracy", "F1", "precision", "recall"):
        table.add_column(column, justify="right")
    for event in result.evals:
        m = event.metrics
        table.add_row(
            str(event.epoch) + ("" if event.end_of_epoch else "*"),
            str(event.step),
            *(f"{m[k]:.4f}" for k in ("loss", "accuracy", "f1", "precision", "recall")),
        )
    console.print(table)
    from hptui.core.training.metrics import one_class_note

    note = one_class_note(result.metrics)
    if note:
        console.print(f"[yellow]warning: {note}[/]")
    style = "green" if result.completed else "red"
    console.print(
        f"[{style}]{escape(result.status)}[/]: {result.epochs} epoch(s), {result.steps} steps in "
        f"{result.seconds:.1f} s, {result.examples_per_s:.1f} training examples/s on "
        f"{escape(result.device)}"
    )
