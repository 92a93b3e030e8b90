"""Workers: the process that trains a study's trials, its heartbeat and the registry
the console reads and stops workers through.

Import from the modules, or take these names from the wing itself (loaded on first use).
"""

from __future__ import annotations

from hptui.core import lazy_exports

_EXPORTS = {
    "Worker": "runner",
    "WorkerOptions": "runner",
    "fail_stale": "runner",
    "Heartbeat": "heartbeat",
    "WorkerError": "registry",
    "WorkerInfo": "registry",
    "StartedWorker": "registry",
    "list_workers": "registry",
    "start_workers": "registry",
    "spawn_worker": "registry",
    "failure_reason": "faults",
    "spawn_hptui": "registry",
    "FinalTestError": "final",
    "plan_final": "final",
    "run_final": "final",
    "spawn_final": "final",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
