"""How values read in the console: numbers to significant digits, never cut.

Presentation only: the values themselves come from `hptui.core` unchanged, and exports keep
full precision.
"""

from __future__ import annotations

import math
from typing import Any

from hptui.core.errors import first_line

# Short column labels for the report's hyperparameters, so a table fits 80 columns.
SHORT_NAMES = {
    "learning_rate": "lr",
    "weight_decay": "wd",
    "train_batch_size": "batch",
    "eval_batch_size": "eval_batch",
    "max_seq_length": "seq_len",
    "warmup_ratio": "warmup",
    "gradient_clip_val": "clip",
    "num_epochs": "epochs",
    "duration_s": "secs",
    "accuracy": "acc",
    "precision": "prec",
}
MISSING = "–"


def short(name: str) -> str:
    return SHORT_NAMES.get(name, name)


def number(value: Any, digits: int = 4) -> str:
    """A number to `digits` significant digits (`0.8512`, `2e-05`, `435`), or a dash."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def cell(value: Any) -> str:
    """Any value as one line of text (control characters made visible)."""
    if isinstance(value, (int, float)) or value is None:
        return number(value)
    text = str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h14m`, or a dash."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def size(num_bytes: float | None) -> str:
    if num_bytes is None:
        return MISSING
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f}{unit}" if unit in ("B", "KB") else f"{value:.1f}{unit}"
        value /= 1024
    return MISSING


def error_line(exc: BaseException) -> str:
    """An unexpected error as one line (its type and first line), never a traceback or SQL."""
    first = first_line(exc)
    return f"{type(exc).__name__}: {first}" if first != type(exc).__name__ else first
