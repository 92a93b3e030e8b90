"""Keep transformers, datasets and the hub client from writing progress bars and load
reports to stderr, where they would garble a full-screen UI or a JSON-lines stream."""

from __future__ import annotations

import os
import warnings

_done = False


def quiet_hf_libraries() -> None:
    """Silence Hugging Face progress bars, load reports and advisory warnings (idempotent)."""
    global _done
    if _done:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore", module="transformers")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import datasets

        datasets.logging.set_verbosity_error()
        datasets.utils.logging.disable_progress_bar()
    except ImportError:  # datasets is only needed for the hub path
        pass
    _done = True
