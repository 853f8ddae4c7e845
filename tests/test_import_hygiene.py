"""The core packages import no UI, cloud or ML library; public surfaces are explicit."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "click", "sky", "torch", "transformers", "peft", "trl", "vllm")


@pytest.mark.parametrize("package", ["catalog", "planner", "executor"])
def test_core_package_stays_light(package: str) -> None:
    code = (
        f"import sys, {package}\n"
        f"from catalog import load_catalog\n"
        f"load_catalog().model('llama-3.1-8b')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{package} loaded {out}"


def test_catalog_public_api_is_explicit() -> None:
    import catalog

    assert sorted(catalog.__all__) == catalog.__all__
    for name in catalog.__all__:
        assert hasattr(catalog, name), name
