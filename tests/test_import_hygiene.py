"""The core packages import no UI, cloud or ML library; public surfaces are explicit.

Every module of catalog, planner and executor (the GPU-side recipes aside: they run on the
training machine and import transformers/peft/trl/vllm by design) is imported for real in a
fresh interpreter, so a heavy import anywhere in the core fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "click", "sky", "torch", "transformers", "peft", "trl", "vllm")
CORE = ("catalog", "planner", "executor")
GPU_SIDE = "executor.recipes"


def _modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not info.name.startswith(GPU_SIDE):
            names.append(info.name)
    return names


@pytest.mark.parametrize("package", CORE)
def test_every_core_module_stays_light(package: str) -> None:
    modules = _modules(package)
    assert len(modules) > 3, modules  # the walk found the package's modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from catalog import load_catalog\n"
        "load_catalog().model('llama-3.1-8b')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{package} loaded {out}"


@pytest.mark.parametrize("package", CORE)
def test_public_surface_is_explicit(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), "a name is exported twice"
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but not defined"
    public = {n for n in vars(module) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - submodules - set(names) == set(), "public names missing from __all__"


def test_plan_goal_is_reachable_from_the_planner_face() -> None:
    import planner
    from planner.rank import plan_goal

    assert planner.plan_goal is plan_goal
