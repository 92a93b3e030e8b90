"""Training: task data, models and the one training loop every front end uses.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "TrainConfig": "config",
    "load_config": "config",
    "parse_overrides": "config",
    "TaskSpec": "tasks",
    "get_task": "tasks",
    "load_split": "data",
    "tokenized_split": "data",
    "ModelBundle": "models",
    "load_bundle": "models",
    "describe_model": "models",
    "Trainer": "trainer",
    "train": "trainer",
    "StepEvent": "events",
    "EvalEvent": "events",
    "TrainResult": "events",
    "TrainCallbacks": "events",
    "classification_metrics": "metrics",
    "quiet_hf_libraries": "quiet",
    "go_offline_if_unreachable": "hub",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
