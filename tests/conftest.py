"""Shared fixtures: every test gets its own empty TAILOR_HOME, offline Hugging Face."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def tailor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty user data dir, so no test reads or writes the developer's own."""
    home = tmp_path / "tailor-home"
    monkeypatch.setenv("TAILOR_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home
