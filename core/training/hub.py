"""Fail fast without the Hugging Face hub: when it cannot be reached, say so to the
Hugging Face libraries (HF_HUB_OFFLINE=1) before they are imported, so a missing model is
one message at once instead of half a minute of retries and duplicated warnings. Models
in the local cache, in folders and the built-in ones load as before."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub (or $HF_ENDPOINT) opens within `timeout`
    seconds, name lookup included (which a socket timeout alone does not bound)."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def go_offline_if_unreachable(timeout: float = 3.0) -> bool:
    """Set the offline flags when the hub cannot be reached and no flag is set already;
    returns True when it did. Call before transformers or huggingface_hub is imported."""
    if any(os.environ.get(flag) for flag in OFFLINE_FLAGS):
        return False
    if hub_reachable(timeout):
        return False
    for flag in OFFLINE_FLAGS:
        os.environ[flag] = "1"
    return True
