"""hptui's trainer against `transformers.Trainer` on a GPU, side by side, alternating rounds.

The report's trial: distilbert-base (here with random weights: DistilBertConfig's default
sizes and the uncased BERT vocabulary, the same FLOPs as distilbert-base-uncased without a
download), all 3,668 MRPC training pairs, 3 epochs, max_seq_length 128, batch 32, bf16
autocast on CUDA, evaluation on the 408 validation pairs after each epoch.

A trial's seconds run from building the model to the end of the last evaluation (device
synchronised), for both trainers. Model FLOP utilisation counts

    FLOPs = 6 x P x T_train + 2 x P x T_eval

with P the parameters outside the embedding tables (token and position embeddings are
lookups, not matmuls; 43.1M of distilbert-base's 67.0M) and T the REAL (non-pad) tokens
processed, attention's seq^2 terms left out (small at these lengths). Pad tokens are work
a trainer chose to do, so they do not count as useful FLOPs. MFU = FLOPs / seconds / peak
dense bf16 FLOP/s of the card (H100 SXM and H200: 989 TFLOP/s; --peak-tflops overrides).

    python bench/gpu.py --rounds 2 --out bench.json             # on the GPU machine
    python bench/gpu.py --model-size tiny --train-limit 64      # a CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BASE_NAME = "distilbert-base-random"
# Dense bf16 tensor-core peaks (no sparsity), by a substring of the device name.
PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--data-dir", default=os.environ.get("HPTUI_DATA_DIR", "../shared/data/mrpc")
    )
    parser.add_argument("--model-size", choices=("base", "tiny"), default="base")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of trials")
    parser.add_argument("--train-limit", type=int, default=None, help="first N train pairs")
    parser.add_argument("--eval-limit", type=int, default=None, help="first N validation pairs")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--compile", action="store_true", help="also time hptui compiled")
    parser.add_argument("--compile-only", action="store_true", help="only hptui compiled")
    parser.add_argument("--skip-hf", action="store_true", help="hptui only")
    parser.add_argument("--profile", action="store_true", help="one more hptui trial, per phase")
    parser.add_argument("--peak-tflops", type=float, default=None, help="card's bf16 peak")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def load_model_bundle(size: str) -> Any:
    from hptui.core.training.models import load_bundle, random_distilbert

    return random_distilbert(BASE_NAME, {}) if size == "base" else load_bundle("tiny-distilbert")


def matmul_params(model: Any) -> int:
    """Parameters outside the embedding tables: those that multiply every token."""
    return sum(
        p.numel() for name, p in model.named_parameters() if ".embeddings." not in f".{name}"
    )


def synchronise() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory() -> int | None:
    import torch

    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def run_hptui(config: Any, bundle: Any, data: Any, **knobs: Any) -> dict[str, Any]:
    from hptui.core.training.trainer import Trainer

    reset_peak()
    synchronise()
    started = time.perf_counter()
    result = Trainer(config, bundle=bundle, data=data, **knobs).run()
    synchronise()
    seconds = time.perf_counter() - started
    if not result.completed:
        raise RuntimeError(f"hptui run ended: {result.status}")
    return {"seconds": seconds, "peak_memory_bytes": peak_memory(), **result.metrics}


def run_hf(config: Any, bundle: Any, data: Any) -> dict[str, Any]:
    """transformers.Trainer with the same model, data, optimiser settings and evaluations."""
    import contextlib
    import io

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

    cuda = torch.cuda.is_available() and config.device != "cpu"
    reset_peak()
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
            # As hptui: ceil(ratio x total steps), given as a count (every version takes it).
            warmup_steps=math.ceil(
                config.warmup_ratio
                * math.ceil(len(data.train) / config.train_batch_size)
                * config.num_epochs
            ),
            lr_scheduler_type="linear",
            eval_strategy="epoch",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=config.seed,
            use_cpu=not cuda,
            bf16=cuda and torch.cuda.is_bf16_supported(),
        )
        synchronise()
        started = time.perf_counter()
        model = bundle.new_model(config.seed)  # on the CPU, as from_config builds it
        build_seconds = time.perf_counter() - started
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=Examples(data.train),
            eval_dataset=Examples(data.eval),
            data_collator=DataCollatorWithPadding(bundle.tokenizer),
            compute_metrics=compute_metrics,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a dict per evaluation
            trainer.train()
        synchronise()
        seconds = time.perf_counter() - started
        evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    last = evals[-1] if evals else {}
    return {
        "seconds": seconds,
        "model_build_seconds": build_seconds,
        "peak_memory_bytes": peak_memory(),
        "loss": last.get("eval_loss"),
        "f1": last.get("eval_f1"),
        "accuracy": last.get("eval_accuracy"),
    }


def device_facts() -> dict[str, Any]:
    import torch
    import transformers

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if torch.cuda.is_available():
        facts["device"] = torch.cuda.get_device_name()
        facts["cuda_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    else:
        facts["device"] = f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
    return facts


def peak_flops(device_name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment in device_name:
            return tflops * 1e12
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)

    from hptui.core.training.config import TrainConfig
    from hptui.core.training.quiet import quiet_hf_libraries
    from hptui.core.training.trainer import prepare_data

    quiet_hf_libraries()
    bundle = load_model_bundle(args.model_size)
    config = TrainConfig(
        model=bundle.name,
        data_dir=args.data_dir,
        train_limit=args.train_limit,
        eval_limit=args.eval_limit,
        num_epochs=args.epochs,
        train_batch_size=args.batch_size,
        eval_batch_size=64,
        max_seq_length=args.max_seq_length,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_ratio=0.1,
        device=args.device,
    )
    data = prepare_data(config, bundle)
    facts = device_facts()
    peak = peak_flops(facts["device"], args.peak_tflops)
    params = matmul_params(bundle.new_model(0))
    train_tokens = sum(data.train.lengths()) * config.num_epochs
    eval_tokens = sum(data.eval.lengths()) * config.num_epochs
    flops = 6 * params * train_tokens + 2 * params * eval_tokens
    examples = len(data.train) * config.num_epochs
    report: dict[str, Any] = {
        "benchmark": "bench/gpu.py",
        "argv": sys.argv[1:] if argv is None else argv,
        **facts,
        "model": f"{bundle.name} ({args.model_size}, random weights)",
        "train_pairs": len(data.train),
        "eval_pairs": len(data.eval),
        "epochs": config.num_epochs,
        "batch_size": config.train_batch_size,
        "max_seq_length": config.max_seq_length,
        "matmul_params": params,
        "flop_formula": "6 x P x real train tokens + 2 x P x real eval tokens; "
        "P = parameters outside the embedding tables; attention seq^2 terms left out",
        "flops_per_trial": flops,
        "peak_bf16_flops": peak,
        "trials": [],
        "summary": {},
    }
    print(
        f"{report['model']}: {len(data.train)} MRPC train pairs x {config.num_epochs} epochs, "
        f"batch {config.train_batch_size}, max_seq_length {config.max_seq_length}, eval on "
        f"{len(data.eval)} pairs each epoch; {facts['device']}; torch {facts['torch']}, "
        f"transformers {facts['transformers']}; {flops / 1e12:.2f} TFLOP per trial",
        flush=True,
    )

    runners: dict[str, Any] = {}
    if not args.compile_only:
        runners["hptui"] = lambda c: run_hptui(c, bundle, data)
    if args.compile or args.compile_only:
        runners["hptui compiled"] = lambda c: run_hptui(c, bundle, data, compile_model=True)
    if not args.skip_hf and not args.compile_only:
        runners["transformers.Trainer"] = lambda c: run_hf(c, bundle, data)

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    warm = config.replace(train_limit=min(64, len(data.train)), eval_limit=32, num_epochs=1)
    for name, runner in runners.items():  # untimed: CUDA context, kernels, lazy imports, compile
        started = time.perf_counter()
        try:
            runner(warm)
        except Exception as exc:
            print(f"  warm-up {name}: FAILED {exc!r}", flush=True)
        print(f"  warm-up {name}: {time.perf_counter() - started:.1f} s", flush=True)
    for round_number in range(args.rounds):
        names = list(runners) if round_number % 2 == 0 else list(reversed(runners))
        seeded = config.replace(seed=config.seed + round_number)
        for name in names:
            try:
                outcome = runners[name](seeded)
            except Exception as exc:  # one trainer failing must not lose the other's figures
                print(f"  round {round_number + 1} {name}: FAILED {exc!r}", flush=True)
                report["trials"].append({"runner": name, "error": repr(exc)})
                save()
                continue
            outcome.update(
                runner=name,
                round=round_number + 1,
                examples_per_s=examples / outcome["seconds"],
                mfu=flops / outcome["seconds"] / peak if peak else None,
            )
            report["trials"].append(outcome)
            memory = outcome["peak_memory_bytes"]
            print(
                f"  round {round_number + 1} {name:>22}: {outcome['seconds']:7.2f} s/trial "
                f"{outcome['examples_per_s']:8.1f} ex/s"
                + (f"  MFU {outcome['mfu']:.1%}" if outcome["mfu"] is not None else "")
                + (f"  peak {memory / 2**30:.2f} GiB" if memory else "")
                + f"  val loss {outcome['loss']:.4f} F1 {outcome['f1']:.4f}",
                flush=True,
            )
            save()
    summarise(report, list(runners))
    if args.profile:
        report["profile"] = profile_phases(config, bundle, data)
    save()
    return report


def summarise(report: dict[str, Any], names: list[str]) -> None:
    for name in names:
        trials = [t for t in report["trials"] if t["runner"] == name and "seconds" in t]
        if not trials:
            continue
        seconds = statistics.median(t["seconds"] for t in trials)
        memories = [t["peak_memory_bytes"] for t in trials if t["peak_memory_bytes"]]
        report["summary"][name] = {
            "median_seconds": seconds,
            "median_examples_per_s": statistics.median(t["examples_per_s"] for t in trials),
            "mfu": report["flops_per_trial"] / seconds / report["peak_bf16_flops"]
            if report["peak_bf16_flops"]
            else None,
            "peak_memory_bytes": max(memories) if memories else None,
            "trials": len(trials),
        }
    summary = report["summary"]
    print()
    for name, figures in summary.items():
        mfu = f", MFU {figures['mfu']:.1%}" if figures["mfu"] is not None else ""
        print(
            f"{name:>22}: median {figures['median_seconds']:.2f} s/trial, "
            f"{figures['median_examples_per_s']:.1f} ex/s{mfu}"
        )
    if "transformers.Trainer" in summary:
        hf = summary["transformers.Trainer"]["median_seconds"]
        for name in (n for n in summary if n.startswith("hptui")):
            ratio = hf / summary[name]["median_seconds"]
            report[f"ratio {name} / transformers.Trainer"] = ratio
            print(f"ratio {name} / transformers.Trainer (examples/s): {ratio:.2f}x")
    report["goals"] = {"seconds_per_trial": 5.0, "ratio_vs_hf": 3.0}


def profile_phases(config: Any, bundle: Any, data: Any) -> dict[str, Any]:
    """One more hptui trial with a device sync after each phase (so it is slower than the
    timed ones): seconds per phase, and what one sync per step would have cost."""
    from hptui.core.training.trainer import Trainer

    timings: dict[str, float] = {}
    started = time.perf_counter()
    result = Trainer(config, bundle=bundle, data=data, timings=timings).run()
    total = time.perf_counter() - started
    started = time.perf_counter()
    Trainer(config, bundle=bundle, data=data, sync_every=1).run()
    one_sync_per_step = time.perf_counter() - started
    print("\nper phase (one profiled trial, a device sync after each phase):")
    for name, seconds in sorted(timings.items(), key=lambda item: -item[1]):
        print(f"  {name:>10}: {seconds:7.3f} s  ({seconds / total:.0%})")
    print(f"  a trial reading loss/grad norm every step (sync_every=1): {one_sync_per_step:.2f} s")
    return {
        "phases_seconds": timings,
        "profiled_trial_seconds": total,
        "steps": result.steps,
        "trial_seconds_with_sync_every_step": one_sync_per_step,
    }


if __name__ == "__main__":
    main()
