"""The CLI's edge: any TailorError (catalog, planner, executor) is one "Error: …" paragraph
ending with "To fix: …" on stderr, exit code 2, never a traceback; other exceptions are bugs
and are not caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CASES = {
    "catalog": ["catalog", "prices", "--gpu", "H1000"],
    "planner": ["plan", "{tmp}/missing-fields.yaml"],
    "executor": ["status", "no-such-run", "--state-dir", "{tmp}/runs"],
}


@pytest.mark.parametrize("package", sorted(CASES))
def test_each_package_error_is_one_paragraph_and_exit_2(package: str, tmp_path: Path) -> None:
    (tmp_path / "missing-fields.yaml").write_text("name: x\n", encoding="utf-8")
    args = [a.format(tmp=tmp_path) for a in CASES[package]]
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("Error: ") and "To fix:" in done.stderr
    assert "Traceback" not in done.stderr
    if package != "planner":  # a goal's problems are one paragraph each
        assert done.stderr.strip().count("\n") == 0, done.stderr
