"""The endpoint's API key: every service tailor starts answers only requests that carry it.

vLLM's OpenAI server requires ``Authorization: Bearer <key>`` on every ``/v1`` route when
``VLLM_API_KEY`` is set in its environment (``--api-key`` takes precedence; neither set, every
route is open). ``/health`` stays open, so readiness probes need no key. The key is made at
the run's first serve start, kept in the run's private folder (``api-key``, 0600), and reused
when the service is restarted: clients keep working across a relaunch. It is passed by
environment (a SkyPilot secret on clouds), never on a command line, where ``ps`` would show it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["API_KEY_ENV", "API_KEY_FILE", "endpoint_key"]

API_KEY_ENV = "VLLM_API_KEY"
API_KEY_FILE = "api-key"
_KEY_BYTES = 32  # 256 bits, URL-safe base64: 43 characters


def endpoint_key(run_dir: Path) -> str:
    """The run's key: read from ``run_dir/api-key``, made there (0600, atomically) if absent."""
    path = run_dir / API_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(_KEY_BYTES)
    temp = path.with_name(f".{API_KEY_FILE}.{secrets.token_hex(8)}.tmp")  # one per writer
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    try:
        os.link(temp, path)  # the first writer wins; a concurrent one reads its key
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    finally:
        temp.unlink()
    return key
