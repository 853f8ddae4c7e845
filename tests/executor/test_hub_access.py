"""Gated-model access, asked with huggingface_hub itself of a local server speaking the Hub's
auth-check API (GET /api/models/{repo}/auth-check: 200, or 403 X-Error-Code GatedRepo, or 404
X-Error-Code RepoNotFound — the codes huggingface_hub's hf_raise_for_status maps)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from executor.errors import ExecutorError
from executor.hub_access import HfHubAccess

GRANTED, GATED = "meta-llama/Granted-8B", "meta-llama/Gated-8B"


class _Hub(BaseHTTPRequestHandler):
    tokens: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Hub.tokens.append(self.headers.get("authorization", ""))
        repo = self.path.removeprefix("/api/models/").removesuffix("/auth-check")
        if repo == GRANTED:
            status, code = 200, None
        elif repo == GATED:
            status, code = 403, "GatedRepo"
        else:
            status, code = 404, "RepoNotFound"
        body = b"{}" if status == 200 else b'{"error": "no"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if code:
            self.send_header("X-Error-Code", code)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    constants = pytest.importorskip("huggingface_hub.constants")
    # the suite runs with HF_HUB_OFFLINE=1 (read once at import): lift it for this local Hub
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_granted_token_passes_and_is_sent_as_a_bearer(hub: str) -> None:
    pytest.importorskip("huggingface_hub")
    _Hub.tokens.clear()
    HfHubAccess(hub).check(GRANTED, "hf_granted")
    assert _Hub.tokens == ["Bearer hf_granted"]


def test_terms_not_accepted_is_a_clear_error(hub: str) -> None:
    pytest.importorskip("huggingface_hub")
    with pytest.raises(ExecutorError, match=r"not been granted.*To fix: accept the model's terms"):
        HfHubAccess(hub).check(GATED, "hf_other")


def test_an_unknown_repo_or_bad_token_is_a_clear_error(hub: str) -> None:
    pytest.importorskip("huggingface_hub")
    with pytest.raises(ExecutorError, match=r"no model meta-llama/Nope.*To fix"):
        HfHubAccess(hub).check("meta-llama/Nope", "hf_x")


def test_an_unreachable_hub_stops_the_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ExecutorError, match=r"could not ask the Hugging Face Hub.*To fix"):
        HfHubAccess("http://127.0.0.1:9").check(GRANTED, "hf_x")
