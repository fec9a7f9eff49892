"""Is the Hugging Face Hub reachable? Answered in under 2 s, before `datasets` spends half a minute
retrying, so that a forgotten `--data-dir` is one plain line (issue 14).

Unreachable means: `HF_HUB_OFFLINE` (or `HF_DATASETS_OFFLINE`) is set, or one TCP connection to the
hub endpoint (`HF_ENDPOINT`, default https://huggingface.co) does not open within `PROBE_TIMEOUT_S`.
The answer is kept per endpoint for the life of the process.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 1.5
DEFAULT_ENDPOINT = "https://huggingface.co"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_answers: dict[str, str | None] = {}


def hub_unreachable_reason() -> str | None:
    """None when the hub answers; else why not ("HF_HUB_OFFLINE is set", "no connection to …")."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    if endpoint not in _answers:
        _answers[endpoint] = _probe(endpoint, PROBE_TIMEOUT_S)
    return _answers[endpoint]


def _probe(endpoint: str, timeout_s: float) -> str | None:
    """Open (and close) one TCP connection to the endpoint's host:port, name lookup included, bounded
    by `timeout_s` (a thread, since a stuck DNS lookup ignores socket timeouts)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    port = parts.port or (80 if parts.scheme == "http" else 443)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(f"no connection to {host}:{port} ({err.strerror or type(err).__name__})")

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {timeout_s:g} s"
