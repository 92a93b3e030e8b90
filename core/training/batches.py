"""Batches kept on the device: a split is padded once, copied once, then gathered per step.

Collating every batch on the host and copying it to the GPU costs a Python loop and a
host-to-device transfer per step; at distilbert-base sizes on a GPU that is a visible share
of a step. Here the whole split goes to the device in one pinned, non-blocking copy, each
epoch's batch order goes in one index tensor, and a step is an `index_select` plus a column
slice to the batch's longest pair (rounded up to `pad_to_multiple`, so tensor shapes repeat:
tensor cores like multiples of 8 and `torch.compile` recompiles per new shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .data import TokenizedSplit


@dataclass(frozen=True)
class PlannedBatch:
    """One step's batch: rows to gather (a view on the device), the width, the row count."""

    index: torch.Tensor
    width: int
    size: int


class DeviceSplit:
    """A tokenised split padded to its longest example and held on `device`."""

    def __init__(self, split: TokenizedSplit, device: torch.device, pad_to_multiple: int = 1):
        self.device = device
        self.lengths = split.lengths()
        self.pad_to_multiple = max(1, pad_to_multiple)
        self.tensors = {name: _to(t, device) for name, t in split.padded().items()}
        self.full_width = int(self.tensors["input_ids"].shape[1])

    def __len__(self) -> int:
        return len(self.lengths)

    def width_of(self, indices: list[int]) -> int:
        """The batch's longest pair, rounded up to the padding multiple (at most the split's)."""
        longest = max(self.lengths[i] for i in indices)
        multiple = self.pad_to_multiple
        return min(self.full_width, -(-longest // multiple) * multiple)

    def plan(self, batches: list[list[int]]) -> list[PlannedBatch]:
        """The batches of one epoch, with all their indices moved to the device at once."""
        import torch

        flat = torch.tensor([i for batch in batches for i in batch], dtype=torch.long)
        on_device = _to(flat, self.device)
        planned, start = [], 0
        for batch in batches:
            index = on_device[start : start + len(batch)]
            planned.append(PlannedBatch(index, self.width_of(batch), len(batch)))
            start += len(batch)
        return planned

    def gather(self, batch: PlannedBatch) -> dict[str, torch.Tensor]:
        """The model inputs (and labels) of one planned batch, already on the device."""
        return {
            name: (
                tensor[:, : batch.width].index_select(0, batch.index)
                if tensor.dim() == 2
                else tensor.index_select(0, batch.index)
            )
            for name, tensor in self.tensors.items()
        }


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy to `device` without blocking the host: pinned memory on CUDA, as-is on CPU."""
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)
