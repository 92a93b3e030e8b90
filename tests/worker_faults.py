"""Faults injected into real training for worker tests."""

from __future__ import annotations

from typing import Any

import pytest


def first_trial_runs_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first model built from now on raises CUDA's out-of-memory error inside its real
    forward pass (a hook on the classifier); later models train normally."""
    import torch

    from hptui.core.training import models

    base = models.load_bundle("tiny-distilbert")
    calls = {"n": 0}

    class FailsFirstTrial(models.ModelBundle):
        def new_model(self, seed: int) -> torch.nn.Module:
            model = super().new_model(seed)
            calls["n"] += 1
            if calls["n"] == 1:

                def oom(*_: Any) -> None:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

                model.classifier.register_forward_hook(oom)
            return model

    bundle = FailsFirstTrial(base.name, base.source, base.tokenizer, base.config, None)
    monkeypatch.setitem(models._bundles, ("tiny-distilbert", 2), bundle)
