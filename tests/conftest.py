"""Shared fixtures: every test gets its own empty TAILOR_HOME, offline Hugging Face, and the
frozen test catalog.

The catalog: ``TAILOR_CATALOG_DIR`` points at tests/data/catalog (a small frozen copy of
catalog/data, see tests/data/catalog/build.py) from ``pytest_configure`` on, so module-level
``load_catalog()`` calls, parametrizations and subprocesses read it too, and the autouse
``fixed_catalog`` fixture sets it again for every test. Refreshing the shipped prices therefore
changes no test's prices, plans or SVG snapshots. Tests of the shipped data itself read
``load_base_catalog(shipped_data_dir())``, or are marked ``shipped_catalog`` to have
``load_catalog()`` read catalog/data.

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

from catalog.loaders import CATALOG_DIR_ENV, catalog_data_dir
from planner.lifecycle import PLANNING_DATE_ENV

FIXED_PLANNING_DATE = "2026-12-03"
"""The planning day of every test (hosted-model lifecycle is judged on it), so the calendar
moves no plan."""

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"
FIXED_CATALOG = TEST_DATA / "catalog"

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


_catalog_dir_before: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The fixed catalog from collection on (see the module docstring)."""
    global _catalog_dir_before  # noqa: PLW0603 - restored in pytest_unconfigure
    _catalog_dir_before = os.environ.get(CATALOG_DIR_ENV)
    os.environ[CATALOG_DIR_ENV] = str(FIXED_CATALOG)
    os.environ.setdefault(PLANNING_DATE_ENV, FIXED_PLANNING_DATE)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The environment as it was before the run."""
    if _catalog_dir_before is None:
        os.environ.pop(CATALOG_DIR_ENV, None)
    else:
        os.environ[CATALOG_DIR_ENV] = _catalog_dir_before


@pytest.fixture(autouse=True)
def fixed_catalog(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The base catalog folder this test reads: tests/data/catalog, or catalog/data for a test
    marked ``shipped_catalog``."""
    if request.node.get_closest_marker("shipped_catalog"):
        monkeypatch.delenv(CATALOG_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(CATALOG_DIR_ENV, str(FIXED_CATALOG))
    return catalog_data_dir()
