"""The remote lock files: what they pin, that they resolve for linux x86_64 against the real
registry (uv, no install), and that the setup script they are installed by really works."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from executor import locks
from executor.render import RenderOptions, render_serve_task, render_train_task, train_lock
from planner.plan import load_plan_file
from tests.conftest import REPO_ROOT

UV = Path(sys.executable).with_name("uv")
PLANS = REPO_ROOT / "tests" / "data" / "plans"


def lock_text(name: str) -> str:
    return (locks.LOCK_DIR / name).read_text(encoding="utf-8")


def _name(requirement: str) -> str:
    return requirement.split("==", maxsplit=1)[0].replace("_", "-").lower()


@pytest.mark.parametrize("name", locks.lock_names())
def test_each_lock_pins_its_inputs_at_their_versions(name: str) -> None:
    pinned = locks.pins(lock_text(name))
    for requirement in locks.lock_inputs(name):
        assert pinned[_name(requirement)] == requirement.split("==")[1], (name, requirement)


def test_training_and_serving_share_one_transformers_and_torch() -> None:
    serve = locks.pins(lock_text("serve.txt"))
    for name in locks.lock_names():
        pinned = locks.pins(lock_text(name))
        assert pinned["transformers"] == serve["transformers"] == "5.17.0", name
        assert pinned["torch"] == serve["torch"], name
    assert serve["vllm"] == "0.32.0" and "bitsandbytes" in serve  # int4/int8 serving


def test_every_rendered_task_installs_a_shipped_lock_into_its_own_python() -> None:
    options = RenderOptions("r", "d.jsonl", "b", "executor/recipes")
    for plan_name in ("financial-p1.json", "multinode-p1.json"):
        plan_file = load_plan_file(PLANS / plan_name)
        train = render_train_task(plan_file, options)
        assert plan_file.plan.training is not None
        lock = train_lock(plan_file.plan.training)
        assert (locks.LOCK_DIR / lock).is_file()
        assert f"~/tailor-recipes/locks/{lock}" in train["setup"]
        assert "--python 3.11 ~/tailor-env" in train["setup"]
        assert 'export PATH="$HOME/tailor-env/bin:$PATH"\n' in train["run"]
    serve = render_serve_task(load_plan_file(PLANS / "financial-p1.json"), options)
    assert serve["file_mounts"]["~/tailor-locks"] == "executor/recipes/locks"
    assert "~/tailor-locks/serve.txt" in serve["setup"] and "pip install vllm" not in serve["setup"]


@pytest.mark.parametrize("name", locks.lock_names())
def test_each_lock_resolves_for_linux_x86_64_against_the_registry(name: str) -> None:
    """uv resolves the whole lock (every pin, and nothing missing) for Python 3.11 on
    manylinux x86_64 — the CUDA wheels included — from the package index; no install."""
    text = lock_text(name)
    requirements = [f"{n}=={v}" for n, v in sorted(locks.pins(text).items())]
    try:
        resolved = locks.compile_lock(requirements, uv=str(UV))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{name} does not resolve:\n{exc.stderr}")
    assert locks.pins(resolved) == locks.pins(text)  # complete: it needs nothing more


def _fake_nvidia_smi(folder: Path, driver: str) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\necho {driver}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _run_setup(tmp_path: Path, driver: str) -> subprocess.CompletedProcess[str]:
    """The serve setup, for real: a fresh python3 (a venv) on PATH, HOME in tmp_path, a lock of
    one small package, and an nvidia-smi that reports ``driver``."""
    bindir, home, lock_dir = tmp_path / "bin", tmp_path / "home", tmp_path / "locks"
    for folder in (bindir, home, lock_dir):
        folder.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "system")], check=True)
    (bindir / "python3").symlink_to(tmp_path / "system" / "bin" / "python3")
    _fake_nvidia_smi(bindir, driver)
    (lock_dir / "serve.txt").write_text("# a lock\nsix==1.17.0\n    # via nothing\n")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env |= {"HOME": str(home), "PATH": f"{bindir}:/usr/bin:/bin"}
    return subprocess.run(
        ["bash", "-c", locks.setup_script("serve.txt", str(lock_dir))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )


def test_the_setup_makes_a_python_311_env_with_exactly_the_lock(tmp_path: Path) -> None:
    result = _run_setup(tmp_path, "580.65.06")
    assert result.returncode == 0, result.stderr[-3000:]
    python = tmp_path / "home" / "tailor-env" / "bin" / "python"
    check = subprocess.run(
        [str(python), "-c", "import sys, six; print(sys.version_info[:2], six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "(3, 11) 1.17.0"


def test_the_setup_stops_on_a_driver_older_than_cuda_13_needs(tmp_path: Path) -> None:
    result = _run_setup(tmp_path, "535.183.01")  # SkyPilot's legacy image (V100, P100)
    assert result.returncode == 1
    assert "NVIDIA driver 535.183.01 is older than 580" in result.stderr
    assert "To fix:" in result.stderr
    assert not (tmp_path / "home" / "tailor-env").exists()  # stopped before installing
