"""Packing workers onto GPUs: `hptui worker NAME --per-gpu N` and the console's "N per GPU".

One trial of a distilbert-size model uses a few GiB of a 141 GB card and a sliver of its
compute, so a host runs trials fastest with several resident workers per GPU, each process
seeing only its own card (`CUDA_VISIBLE_DEVICES`). How many fit comes from what the study
has measured: the largest per-trial peak GPU memory any of its CUDA trials recorded
(`hptui.peak_memory_bytes`), plus a CUDA context and allocator slack per process. An N that
does not fit in a card's free memory is refused before anything starts; a study with no
measured CUDA trial gets one worker per GPU (which measures it) and no more.

CUDA MPS (Multi-Process Service) lets the workers of one card share it without time-slicing
their contexts; whether its daemon runs is said beside every packing, never assumed.

`plan_placements` and `mps_status` are pure (a fake GPU list and a fake environment in
tests); `visible_gpus` and `study_peak_bytes` read the machine and the storage.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hptui.core.errors import ConfigError

GIB = 2**30
# Per worker process beyond its trial's allocated peak: the CUDA context (~0.3-0.5 GiB on a
# Hopper card, not counted by torch.cuda.max_memory_allocated) and the caching allocator's
# reserved-but-free blocks (a quarter of the peak, as a margin).
CONTEXT_BYTES = GIB // 2
ALLOCATOR_SLACK = 0.25
MPS_PIPE_ENV = "CUDA_MPS_PIPE_DIRECTORY"
MPS_DEFAULT_PIPE = "/tmp/nvidia-mps"
OPTION = "--per-gpu"


@dataclass(frozen=True)
class Gpu:
    """One GPU this process may use: `visible_id` is what a worker's CUDA_VISIBLE_DEVICES
    gets (the index or UUID as this process's own CUDA_VISIBLE_DEVICES names it)."""

    index: int  # position among the visible GPUs: cuda:INDEX here
    visible_id: str
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Placement:
    """One worker slot: which GPU, and the how-many-th worker on it (0-based)."""

    gpu: Gpu
    slot: int

    @property
    def env(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": self.gpu.visible_id}

    def describe(self) -> str:
        return f"GPU {self.gpu.index} ({self.gpu.name}) slot {self.slot + 1}"


def worker_bytes(peak_bytes: int) -> int:
    """The memory one packed worker is counted for: its trial's peak plus slack and context."""
    return int(peak_bytes * (1 + ALLOCATOR_SLACK)) + CONTEXT_BYTES


def gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


def plan_placements(
    gpus: list[Gpu], per_gpu: int, peak_bytes: int | None, *, study: str = "NAME"
) -> list[Placement]:
    """`per_gpu` workers on every GPU of `gpus`, or a ConfigError naming --per-gpu and the
    fix: no GPU, an N below 1, an N above 1 with no measured trial, or N workers that do not
    fit in some GPU's free memory (the largest N that fits is named)."""
    if per_gpu < 1:
        raise ConfigError(OPTION, f"must be at least 1 (got {per_gpu})")
    if not gpus:
        raise ConfigError(
            OPTION,
            "this host has no visible CUDA GPU (nvidia-ml-py and torch see none); run "
            f"workers without {OPTION}, e.g. `hptui worker {study} --trials N --detach`",
        )
    if peak_bytes is None:
        if per_gpu == 1:
            return [Placement(gpu, 0) for gpu in gpus]
        raise ConfigError(
            OPTION,
            f"{per_gpu} needs the study's memory per trial, and study {study!r} has no trial "
            f"measured on a CUDA GPU yet; measure one first with {OPTION} 1 (one worker per "
            "GPU), then pack more",
        )
    need = worker_bytes(peak_bytes)
    for gpu in gpus:
        if per_gpu * need > gpu.free_bytes:
            fits = gpu.free_bytes // need
            fix = (
                f"use {OPTION} {fits} or less"
                if fits
                else "not even one fits: free memory on it first (nvidia-smi shows what uses it)"
            )
            raise ConfigError(
                OPTION,
                f"{per_gpu} workers x {gib(need)} (the study's largest recorded trial peak "
                f"{gib(peak_bytes)}, plus CUDA context and allocator slack) need "
                f"{gib(per_gpu * need)}, but GPU {gpu.index} ({gpu.name}) has "
                f"{gib(gpu.free_bytes)} free; {fix}",
            )
    return [Placement(gpu, slot) for gpu in gpus for slot in range(per_gpu)]


def visible_ids(env: Mapping[str, str]) -> list[str] | None:
    """The GPUs CUDA_VISIBLE_DEVICES names, in order (None: unset, every GPU). As CUDA
    reads it: an empty value or a "-1" hides the GPUs from that entry on."""
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    ids = []
    for token in (t.strip() for t in raw.split(",")):
        if not token or token.startswith("-"):
            break
        ids.append(token)
    return ids


def visible_gpus(env: Mapping[str, str] | None = None) -> list[Gpu]:
    """The GPUs workers started from here can use, with their free memory now: read with
    nvidia-ml-py (no CUDA context in this process), else torch; honours an existing
    CUDA_VISIBLE_DEVICES (indices or UUIDs). [] on a host without NVIDIA GPUs."""
    env = os.environ if env is None else env
    wanted = visible_ids(env)
    if wanted == []:
        return []
    found = _nvml_gpus()
    if found is None:
        return _torch_gpus(wanted)
    if wanted is None:
        chosen = found
    else:
        chosen = []
        for token in wanted:
            match = [g for g in found if token in (str(g[0]), g[1]) or g[1].startswith(token)]
            if not match:  # a MIG instance or an id nvml does not list: let torch say
                return _torch_gpus(wanted)
            chosen.append(match[0])
    ids = wanted if wanted is not None else [str(g[0]) for g in chosen]
    return [
        Gpu(index, ids[index], name, total, free)
        for index, (_physical, _uuid, name, total, free) in enumerate(chosen)
    ]


def _nvml_gpus() -> list[tuple[int, str, str, int, int]] | None:
    """(physical index, UUID, name, total, free) of every GPU; [] without an NVIDIA
    driver; None when NVML cannot say (then torch is asked)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        # No NVIDIA driver (NVML ships with it, as does the libcuda torch needs): no GPU
        # here, said without importing torch. Anything else: let torch look.
        absent = (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
        return [] if getattr(exc, "value", None) in absent else None
    except Exception:
        return None
    try:
        gpus = []
        for physical in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(physical)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            gpus.append(
                (
                    physical,
                    uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    name.decode() if isinstance(name, bytes) else str(name),
                    int(memory.total),
                    int(memory.free),
                )
            )
        return gpus
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _torch_gpus(wanted: list[str] | None) -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        visible_id = wanted[index] if wanted is not None and index < len(wanted) else str(index)
        gpus.append(Gpu(index, visible_id, torch.cuda.get_device_name(index), total, free))
    return gpus


@dataclass(frozen=True)
class MpsStatus:
    """Whether the CUDA MPS control daemon runs for the pipe directory workers would use."""

    active: bool
    installed: bool
    pipe_dir: str

    def line(self) -> str:
        if self.active:
            return f"CUDA MPS: in use (daemon at {self.pipe_dir}): workers share each GPU"
        if self.installed:
            return (
                f"CUDA MPS: not in use (no daemon at {self.pipe_dir}; start one with "
                "`nvidia-cuda-mps-control -d`)"
            )
        return "CUDA MPS: not available on this host; workers time-slice each GPU"


def mps_status(
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    exists: Callable[[Path], bool] = Path.exists,
) -> MpsStatus:
    """MPS is in use when its control daemon's pipe exists in CUDA_MPS_PIPE_DIRECTORY
    (default /tmp/nvidia-mps): every CUDA process started with that directory joins it."""
    env = os.environ if env is None else env
    pipe_dir = env.get(MPS_PIPE_ENV) or MPS_DEFAULT_PIPE
    active = exists(Path(pipe_dir) / "control")
    installed = which("nvidia-cuda-mps-control") is not None
    return MpsStatus(active, installed or active, pipe_dir)


def study_peak_bytes(storage_url: str, study: str) -> int | None:
    """The largest `hptui.peak_memory_bytes` of the study's trials that ran on a CUDA GPU
    (their `hptui.device` is a GPU's name, not "cpu (...)" or "mps"); None if none did."""
    import sqlalchemy as sa

    from hptui.core.studies import attrs
    from hptui.core.studies.storage import engine

    keys = (attrs.PEAK_MEMORY_BYTES, attrs.DEVICE)
    query = sa.text(
        "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a "
        "JOIN trials t ON t.trial_id = a.trial_id JOIN studies s ON s.study_id = t.study_id "
        "WHERE s.study_name = :name AND a.key IN :keys"
    ).bindparams(sa.bindparam("keys", expanding=True))
    with engine(storage_url, read_only=True).connect() as c:
        rows = c.execute(query, {"name": study, "keys": list(keys)}).all()
    by_trial: dict[int, dict[str, object]] = {}
    for trial_id, key, value in rows:
        try:
            by_trial.setdefault(trial_id, {})[key] = json.loads(value)
        except (TypeError, ValueError):
            continue
    peaks = []
    for values in by_trial.values():
        device, peak = values.get(attrs.DEVICE), values.get(attrs.PEAK_MEMORY_BYTES)
        on_gpu = isinstance(device, str) and not device.startswith(("cpu", "mps"))
        if on_gpu and isinstance(peak, int) and not isinstance(peak, bool) and peak > 0:
            peaks.append(peak)
    return max(peaks) if peaks else None


def host_line(gpus: list[Gpu], mps: MpsStatus) -> str:
    """What the start-workers dialog and the CLI say about this host's GPUs."""
    if not gpus:
        return "No CUDA GPU here: per-GPU packing is off"
    cards = "; ".join(
        f"GPU {g.index} {g.name}: {g.free_bytes / GIB:.1f} of {gib(g.total_bytes)} free"
        for g in gpus
    )
    return f"{len(gpus)} GPU(s): {cards}. {mps.line()}"
