"""One backend factory (`executor.backends.make_backend`) and one launch context
(`executor.launch.launch_context`), used by the CLI and the app alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from executor.backends import BACKEND_NAMES, default_backends, make_backend
from executor.errors import ExecutorError
from executor.launch import launch_context
from executor.state import RunStore


def test_every_backend_name_makes_the_backend_of_that_name() -> None:
    assert BACKEND_NAMES == ("sky", "local")
    assert {name: backend.name for name, backend in default_backends().items()} == {
        "sky": "sky",
        "local": "local",
    }
    assert make_backend("local").name == "local"


def test_an_unknown_backend_name_says_which_exist() -> None:
    with pytest.raises(ExecutorError, match=r"'gce'.*To fix: use one of: sky, local"):
        make_backend("gce")


def test_making_the_backends_imports_no_skypilot() -> None:
    code = (
        "import sys\n"
        "from executor.backends import default_backends, make_backend\n"
        "make_backend('local'); default_backends()\n"
        "print('sky' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_launch_context_puts_the_run_folders_beside_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs" / "state.db")
    extra = {"max_steps": 5}
    try:
        ctx = launch_context(
            store, data_path=tmp_path / "d.jsonl", data_format="instruction", extra=extra
        )
        assert ctx.store is store and ctx.runs_dir == tmp_path / "runs"
        assert ctx.run_dir("r1") == tmp_path / "runs" / "r1"
        assert (ctx.data_path, ctx.data_format, ctx.extra) == (
            tmp_path / "d.jsonl",
            "instruction",
            {"max_steps": 5},
        )
        assert ctx.extra is not extra  # a copy: the caller's dict may change later
        bare = launch_context(store)
        assert (bare.data_path, bare.data_format, bare.extra) == (None, "chat", {})
    finally:
        store.close()
