"""Shared fixtures: every test gets its own empty TAILOR_HOME, offline Hugging Face.

Hypothesis profiles: ``ci`` (selected when ``CI=true``, as .ci/run sets it) is derandomized, keeps
no example database and allows a slow step on a loaded 2-core machine, so a run is the same run
every time; ``dev`` (the default elsewhere) keeps exploring new inputs. A counterexample found
with ``dev`` becomes an ``@example`` on its test. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=timedelta(seconds=5), print_blob=True
)
settings.register_profile("dev", deadline=timedelta(seconds=2), print_blob=True)
_ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _ON_CI else "dev"))


@pytest.fixture(autouse=True)
def tailor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty user data dir, so no test reads or writes the developer's own."""
    home = tmp_path / "tailor-home"
    monkeypatch.setenv("TAILOR_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home
