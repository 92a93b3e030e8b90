"""Task data: read from a GLUE-format folder or the hub, tokenise once, batch with dynamic padding.

Tokenised splits are cached per (tokenizer, max_seq_length, task, source, split) for the life
of the process, so a worker's second trial with the same settings does not tokenise again.
"""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hptui.core.errors import DataNotFoundError, first_line

from .tasks import TaskSpec

if TYPE_CHECKING:
    import torch

DATA_DIR_ENV = "HPTUI_DATA_DIR"

Columns = dict[str, list[Any]]


def resolve_data_dir(configured: str | None) -> Path | None:
    """The folder to read from: the config's `data_dir`, else $HPTUI_DATA_DIR, else None (hub)."""
    chosen = configured or os.environ.get(DATA_DIR_ENV) or None
    return Path(chosen).expanduser() if chosen else None


def load_split(task: TaskSpec, split: str, data_dir: Path | None) -> Columns:
    """The raw columns of one split: the task's text fields and integer labels."""
    key = (task.name, str(data_dir) if data_dir else "hub", split)
    with _lock:
        cached = _raw_cache.get(key)
    if cached is not None:
        return cached
    columns = _read_folder(task, split, data_dir) if data_dir else _read_hub(task, split)
    with _lock:
        _raw_cache[key] = columns
    return columns


def _missing_data_message(task: TaskSpec, detail: str) -> str:
    return (
        f"{task.name.upper()} data not found: {detail}\n"
        f"Fix it one of two ways:\n"
        f"  * point hptui at a GLUE-format folder: --data-dir PATH (or set {DATA_DIR_ENV}=PATH);\n"
        f"    it needs {', '.join(task.glue_files.values())}, tab separated, quoting off;\n"
        f"  * or give this machine access to the Hugging Face hub so that "
        f"datasets.load_dataset{task.hub_path!r} works."
    )


def _read_folder(task: TaskSpec, split: str, data_dir: Path) -> Columns:
    if split not in task.glue_files:
        raise DataNotFoundError(f"task {task.name!r} has no split {split!r}")
    path = data_dir / task.glue_files[split]
    if not path.is_file():
        raise DataNotFoundError(_missing_data_message(task, f"no file {path}"))
    columns: Columns = {name: [] for name in task.glue_columns.values()}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in task.glue_columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataNotFoundError(
                f"{path} lacks the column(s) {missing}; expected a GLUE-format "
                f"{task.name.upper()} file with header {list(task.glue_columns)}"
            )
        for line_number, row in enumerate(reader, start=2):
            for source, target in task.glue_columns.items():
                value = row[source]
                if target == task.label_field:
                    try:
                        columns[target].append(int(value))
                    except (TypeError, ValueError):
                        raise DataNotFoundError(
                            f"{path}, line {line_number}: label {value!r} is not an integer "
                            "(is the file tab separated, with quoting off?)"
                        ) from None
                else:
                    columns[target].append(value)
    return columns


def _read_hub(task: TaskSpec, split: str) -> Columns:
    from .quiet import quiet_hf_libraries

    quiet_hf_libraries()
    import datasets

    try:
        dataset = datasets.load_dataset(*task.hub_path, split=split)
    except Exception as exc:  # the hub raises many types: connection, auth, missing files
        raise DataNotFoundError(
            _missing_data_message(
                task,
                f"datasets.load_dataset{task.hub_path!r} failed "
                f"({type(exc).__name__}: {first_line(exc)})",
            )
        ) from exc
    wanted = [*task.text_fields, task.label_field]
    return {name: list(dataset[name]) for name in wanted}


@dataclass(frozen=True)
class TokenizedSplit:
    """Token ids per example (no padding) and labels; batches are padded on the fly."""

    features: dict[str, list[list[int]]]
    labels: list[int]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, limit: int | None) -> TokenizedSplit:
        """The first `limit` examples (all when None), sharing the cached lists."""
        if limit is None or limit >= len(self):
            return self
        return TokenizedSplit(
            {name: ids[:limit] for name, ids in self.features.items()},
            self.labels[:limit],
            self.pad_token_id,
        )

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.features["input_ids"]]

    def batches(
        self, batch_size: int, order: list[int] | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of tensors in `order` (default: as stored), padded to the longest in each."""
        indices = order if order is not None else list(range(len(self)))
        for start in range(0, len(indices), batch_size):
            yield self.collate(indices[start : start + batch_size])

    def padded(self) -> dict[str, torch.Tensor]:
        """The whole split as tensors padded to its longest example (plus `attention_mask`
        and `labels`): built once per run and moved to the device in one copy, so a training
        step only gathers rows and slices columns (see `hptui.core.training.batches`)."""
        import torch

        lengths = self.lengths()
        width = max(lengths, default=1)
        mask = torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        batch: dict[str, torch.Tensor] = {}
        for name, rows in self.features.items():
            fill = self.pad_token_id if name == "input_ids" else 0
            tensor = torch.full((len(rows), width), fill, dtype=torch.long)
            tensor[mask] = torch.tensor([i for ids in rows for i in ids], dtype=torch.long)
            batch[name] = tensor
        batch["attention_mask"] = mask.long()
        batch["labels"] = torch.tensor(self.labels, dtype=torch.long)
        return batch

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        import torch

        input_ids = self.features["input_ids"]
        width = max(len(input_ids[i]) for i in indices)
        batch: dict[str, torch.Tensor] = {}
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for name, rows in self.features.items():
            fill = self.pad_token_id if name == "input_ids" else 0
            tensor = torch.full((len(indices), width), fill, dtype=torch.long)
            for row, i in enumerate(indices):
                ids = rows[i]
                tensor[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                if name == "input_ids":
                    mask[row, : len(ids)] = 1
            batch[name] = tensor
        batch["attention_mask"] = mask
        batch["labels"] = torch.tensor([self.labels[i] for i in indices], dtype=torch.long)
        return batch


@dataclass
class CacheStats:
    """How often tokenised splits came from the cache; tests and the worker log read it."""

    hits: int = 0
    misses: int = 0


cache_stats = CacheStats()
_lock = threading.Lock()
_raw_cache: dict[tuple[str, str, str], Columns] = {}
_token_cache: dict[tuple[str, int, str, str, str], TokenizedSplit] = {}
_head_cache: dict[tuple[str, int, str, str, str, int | None], TokenizedSplit] = {}


def tokenized_split(
    task: TaskSpec,
    split: str,
    data_dir: Path | None,
    tokenizer: Any,
    tokenizer_key: str,
    max_seq_length: int,
) -> TokenizedSplit:
    """Tokenise a whole split once per process; later calls with the same key reuse it."""
    key = (tokenizer_key, max_seq_length, task.name, str(data_dir) if data_dir else "hub", split)
    with _lock:
        cached = _token_cache.get(key)
        if cached is not None:
            cache_stats.hits += 1
            return cached
    columns = load_split(task, split, data_dir)
    texts = [columns[name] for name in task.text_fields]
    encoded = tokenizer(
        *texts, truncation=True, max_length=max_seq_length, padding=False, verbose=False
    )
    wanted = [n for n in tokenizer.model_input_names if n != "attention_mask" and n in encoded]
    result = TokenizedSplit(
        features={name: list(encoded[name]) for name in wanted},
        labels=list(columns[task.label_field]),
        pad_token_id=int(tokenizer.pad_token_id or 0),
    )
    with _lock:
        _token_cache[key] = result
        cache_stats.misses += 1
    return result


def tokenized_head(
    task: TaskSpec,
    split: str,
    data_dir: Path | None,
    tokenizer: Any,
    tokenizer_key: str,
    max_seq_length: int,
    limit: int | None,
) -> TokenizedSplit:
    """The first `limit` examples of a tokenised split, the same object for every trial
    with the same settings: what the device copies of a worker are keyed by (see
    core/training/resident.py), so a trial reuses the padded split already on its device."""
    from . import resident

    key = (tokenizer_key, max_seq_length, task.name, str(data_dir) if data_dir else "hub", split)
    with _lock:
        cached = _head_cache.get((*key, limit))
    if cached is not None:
        resident.count("split_hits")
        return cached
    head = tokenized_split(task, split, data_dir, tokenizer, tokenizer_key, max_seq_length)
    head = head.head(limit)
    with _lock:
        head = _head_cache.setdefault((*key, limit), head)
    resident.count("split_misses")
    return head


def clear_caches() -> None:
    """Forget raw and tokenised splits and their device copies (tests; a long-lived process
    switching tasks)."""
    from . import resident

    with _lock:
        _raw_cache.clear()
        _token_cache.clear()
        _head_cache.clear()
        cache_stats.hits = cache_stats.misses = 0
    resident.clear()
