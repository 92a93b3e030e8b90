"""hptui's trainer against `transformers.Trainer`, side by side in one process.

Same model (built from the same bundle and seed), same tokenised MRPC slice, batch size,
epochs, optimiser settings and epoch-end evaluation; the two run alternately, so machine
load drifts hit both. Prints examples/s of each (training examples x epochs / wall time of
the training call, evaluation included), their ratio, and the final validation loss and F1.

    python bench/trainer_vs_hf.py --data-dir ../shared/data/mrpc
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", default="../shared/data/mrpc")
    parser.add_argument("--model", default="tiny-distilbert")
    parser.add_argument("--train-limit", type=int, default=1024)
    parser.add_argument("--eval-limit", type=int, default=408)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of runs")
    return parser.parse_args()


def run_hptui(config: Any, bundle: Any, data: Any) -> dict[str, float]:
    from hptui.core.training.trainer import Trainer

    trainer = Trainer(config, bundle=bundle, data=data)
    started = time.perf_counter()
    result = trainer.run()
    seconds = time.perf_counter() - started
    examples = len(data.train) * config.num_epochs
    return {"examples_per_s": examples / seconds, **result.metrics}


def run_hf(config: Any, bundle: Any, data: Any) -> dict[str, float]:
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from hptui.core.training.metrics import classification_metrics

    class Examples(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, split: Any) -> None:
            self.split = split

        def __len__(self) -> int:
            return len(self.split)

        def __getitem__(self, index: int) -> dict[str, Any]:
            row = {name: ids[index] for name, ids in self.split.features.items()}
            row["labels"] = self.split.labels[index]
            return row

    def compute_metrics(prediction: Any) -> dict[str, float]:
        predicted = prediction.predictions.argmax(axis=-1).tolist()
        return classification_metrics(prediction.label_ids.tolist(), predicted)

    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=config.train_batch_size,
            per_device_eval_batch_size=config.eval_batch_size,
            num_train_epochs=config.num_epochs,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            adam_beta1=config.beta1,
            adam_beta2=config.beta2,
            adam_epsilon=config.adam_epsilon,
            max_grad_norm=config.gradient_clip_val,
            warmup_steps=config.warmup_ratio,
            lr_scheduler_type="linear",
            eval_strategy="epoch",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=config.seed,
            use_cpu=not torch.cuda.is_available(),
            bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        )
        trainer = Trainer(
            model=bundle.new_model(config.seed),
            args=arguments,
            train_dataset=Examples(data.train),
            eval_dataset=Examples(data.eval),
            data_collator=DataCollatorWithPadding(bundle.tokenizer),
            compute_metrics=compute_metrics,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a dict per evaluation
            started = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - started
            final = trainer.evaluate()
    examples = len(data.train) * config.num_epochs
    return {
        "examples_per_s": examples / seconds,
        "loss": final["eval_loss"],
        "f1": final["eval_f1"],
        "accuracy": final["eval_accuracy"],
    }


def main() -> None:
    args = parse_args()
    import torch

    from hptui.core.training.config import TrainConfig
    from hptui.core.training.models import load_bundle
    from hptui.core.training.quiet import quiet_hf_libraries
    from hptui.core.training.trainer import prepare_data

    quiet_hf_libraries()
    config = TrainConfig(
        model=args.model,
        data_dir=args.data_dir,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        num_epochs=args.epochs,
        train_batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_ratio=0.1,
    )
    bundle = load_bundle(config.model)
    data = prepare_data(config, bundle)
    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    print(
        f"{config.model}, {len(data.train)} MRPC train pairs x {config.num_epochs} epochs, "
        f"batch {config.train_batch_size}, max_seq_length {config.max_seq_length}, "
        f"eval on {len(data.eval)} pairs each epoch; {device}; torch {torch.__version__}"
    )
    runners: dict[str, Any] = {
        "hptui": lambda c, b, d: run_hptui(c, b, d),
        "hptui batching=random": lambda c, b, d: run_hptui(c.replace(batching="random"), b, d),
        "transformers.Trainer": run_hf,
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for runner in runners.values():  # untimed: first-call allocations and lazy imports
        runner(config.replace(train_limit=64, eval_limit=32, num_epochs=1), bundle, data)
    for round_number in range(args.rounds):
        # Alternate the order each round, so drift in machine load hits every runner alike.
        names = list(runners) if round_number % 2 == 0 else list(reversed(runners))
        # Each round has its own seed (init and order), so the spread across rounds is the
        # seed noise that "equal loss/F1" is judged against.
        seeded = config.replace(seed=config.seed + round_number)
        for name in names:
            outcome = runners[name](seeded, bundle, data)
            results[name].append(outcome)
            print(
                f"  round {round_number + 1} {name:>22}: {outcome['examples_per_s']:7.1f} ex/s  "
                f"val loss {outcome['loss']:.4f}  F1 {outcome['f1']:.4f}"
            )
    print()
    medians = {}
    for name, outcomes in results.items():
        medians[name] = statistics.median(o["examples_per_s"] for o in outcomes)
        f1s = [o["f1"] for o in outcomes]
        losses = [o["loss"] for o in outcomes]
        print(
            f"{name:>22}: median {medians[name]:7.1f} ex/s; final val loss "
            f"{statistics.mean(losses):.4f} (sd {statistics.pstdev(losses):.4f}), F1 "
            f"{statistics.mean(f1s):.4f} (sd {statistics.pstdev(f1s):.4f})"
        )
    print("(hptui batches pairs of similar length by default; 'batching=random' is the same")
    print(" padding work as transformers.Trainer's default random batches)")
    for name in ("hptui", "hptui batching=random"):
        ratio = medians[name] / medians["transformers.Trainer"]
        print(f"ratio {name} / transformers.Trainer: {ratio:.2f}x")


if __name__ == "__main__":
    main()
