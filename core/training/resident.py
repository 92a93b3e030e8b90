"""What a worker keeps resident between trials, and the counters that prove it.

A worker trains trial after trial in one process. Everything a trial needs that does not
depend on its parameters is made once and reused: the model bundle (tokenizer, config,
pretrained weights: core/training/models.py), the tokenised splits and their limited heads
(core/training/data.py), the splits padded and copied to the device (here), and the
pretrained weights themselves on the device (a CUDA worker builds each new model from
tensors already on the GPU: no host-to-device copy of the base weights per trial).

The counters say how each trial got them (hit: reused; miss: made), so a worker's log shows
per trial that nothing was loaded twice, and tests assert it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .batches import DeviceSplit
    from .data import TokenizedSplit

# Padded device copies kept per process: a study whose trials vary max_seq_length or the
# limits needs one per combination; MRPC's largest is a few MB.
MAX_DEVICE_SPLITS = 16


@dataclass
class ResidentStats:
    """Hits (reused) and misses (made) of each per-process cache since the process began."""

    bundle_hits: int = 0
    bundle_misses: int = 0
    split_hits: int = 0  # tokenised splits cut to a trial's limits
    split_misses: int = 0
    device_split_hits: int = 0  # splits padded and copied to the trial's device
    device_split_misses: int = 0
    weight_hits: int = 0  # pretrained weights already on the trial's device
    weight_misses: int = 0

    def snapshot(self) -> ResidentStats:
        return ResidentStats(**asdict(self))

    def since(self, before: ResidentStats) -> ResidentStats:
        now, then = asdict(self), asdict(before)
        return ResidentStats(**{name: now[name] - then[name] for name in now})

    def line(self) -> str:
        """One log line: what a trial reused and what it had to make."""
        parts = []
        for label, hits, misses in (
            ("model", self.bundle_hits, self.bundle_misses),
            ("tokenised splits", self.split_hits, self.split_misses),
            ("device splits", self.device_split_hits, self.device_split_misses),
            ("base weights", self.weight_hits, self.weight_misses),
        ):
            if hits or misses:
                parts.append(f"{label} {hits} hit / {misses} loaded")
        return ", ".join(parts) or "nothing cached"


stats = ResidentStats()
_lock = threading.Lock()
_device_splits: OrderedDict[tuple[int, str, int], tuple[TokenizedSplit, DeviceSplit]] = (
    OrderedDict()
)


def count(name: str) -> None:
    """Add one to a counter of `stats` (thread-safe)."""
    with _lock:
        setattr(stats, name, getattr(stats, name) + 1)


def device_split(split: TokenizedSplit, device: torch.device, multiple: int) -> DeviceSplit:
    """`split` padded and on `device` with batch widths rounded to `multiple`: made once per
    process, then shared by every trial (a DeviceSplit is only read while training). Keyed
    by the split object itself, which data.py caches, and kept alive beside it."""
    from .batches import DeviceSplit

    key = (id(split), str(device), multiple)
    with _lock:
        found = _device_splits.get(key)
        if found is not None and found[0] is split:
            _device_splits.move_to_end(key)
            stats.device_split_hits += 1
            return found[1]
    made = DeviceSplit(split, device, multiple)
    with _lock:
        _device_splits[key] = (split, made)
        stats.device_split_misses += 1
        while len(_device_splits) > MAX_DEVICE_SPLITS:
            _device_splits.popitem(last=False)
    return made


def clear() -> None:
    """Forget the device splits and reset the counters (tests; data.clear_caches)."""
    with _lock:
        _device_splits.clear()
        for name in asdict(stats):
            setattr(stats, name, 0)
