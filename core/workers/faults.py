"""How a worker names what went wrong: a trial's failure reason, a storage it cannot write,
a trial taken from it, and the few helpers a trial needs from Optuna and torch."""

from __future__ import annotations

import gc
import logging
import os
import platform
from typing import TYPE_CHECKING

from hptui.core.errors import HptuiError, first_line

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("hptui.worker")


class StorageUnwritable(HptuiError):
    """The database cannot be written (full disk, read-only file): the worker stops."""


def failure_reason(exc: Exception) -> str:
    """`out of memory: ...` or `error: Type: message`, logged as one line (no traceback)."""
    import torch

    text = first_line(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return f"out of memory: {text}"
    log.error("trial failed: %s: %s", type(exc).__name__, text)
    log.debug("trial failure", exc_info=exc)
    return f"error: {type(exc).__name__}: {text}"


def unwritable(exc: BaseException, storage_url: str | None = None) -> StorageUnwritable | None:
    """A full disk or a read-only database, told apart from other errors by SQLite's and
    PostgreSQL's messages (and, for SQLite's bare "disk I/O error", by the free space left
    beside the file); None for anything else."""
    text = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e).lower()
    if "disk i/o error" in text and storage_url and _nearly_full(storage_url):
        return StorageUnwritable(f"disk full: cannot write to the storage ({first_line(exc)})")
    if any(s in text for s in ("disk is full", "no space left", "disk full")):
        return StorageUnwritable(f"disk full: cannot write to the storage ({first_line(exc)})")
    if any(s in text for s in ("readonly", "read-only", "read only")):
        return StorageUnwritable(
            f"database is read-only: cannot write to the storage ({first_line(exc)})"
        )
    return None


def _nearly_full(storage_url: str) -> bool:
    import shutil

    from hptui.core.studies.storage import sqlite_path

    path = sqlite_path(storage_url)
    try:
        return path is not None and shutil.disk_usage(path.resolve().parent).free < 1 << 20
    except OSError:
        return False


def is_taken_error(exc: BaseException) -> bool:
    """Optuna's answer to a write on a trial someone else already finished (failed it lost)."""
    import optuna

    return isinstance(exc, optuna.exceptions.UpdateFinishedTrialError)


def metrics_text(metrics: dict[str, float]) -> str:
    names = ("loss", "accuracy", "f1", "precision", "recall")
    return " ".join(f"{k}={metrics[k]:.4f}" for k in names if k in metrics)


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def state(name: str) -> optuna.trial.TrialState:
    import optuna

    return optuna.trial.TrialState[name]


def free_memory() -> None:
    """Give the failed trial's GPU memory back before the next trial starts."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("hptui", "torch", "transformers", "optuna"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "unknown"
    return versions
