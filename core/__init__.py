"""hptui's headless core: data, models, training, studies and statistics.

Nothing in here imports Textual or rich (a test checks), so every front end — the CLI,
the TUI, a notebook, a worker process — drives the same code. Heavy libraries (torch,
transformers, datasets, statsmodels, optuna) are imported inside the functions that need them.

The core is in wings, each a package whose `__init__` names what it offers:

- `training`: the task data, models, the training loop and its events;
- `studies`: the `Store` (one object per storage: reads and every write), search spaces,
  study settings, marks, filters and export;
- `workers`: the worker process, its heartbeat, failure reasons and the worker registry;
- `analysis`: the degree-2 regressions, findings, advice and plot data;
- `cards`: Hugging Face model cards read into trials;
- `views`: the headless view-models behind the console's tabs (`LiveFeed`, `TrialsFeed`,
  `AnalysisFeed`, the space form).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports a wing's public names from their modules on first
    use, so importing a wing stays cheap and wings can import each other's modules freely
    (optuna's `optuna/importance/__init__.py` re-exports its private modules the same way,
    eagerly)."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
