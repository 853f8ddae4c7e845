"""No plan value becomes code in a rendered task (issue 10, point 4).

Load refuses hostile values (tests/planner/test_plan_file_hostile.py); these tests hand render
the values directly (``model_copy`` does not validate), so the quoting itself is what is
tested: the rendered scripts are run with bash and a marker file must not appear.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from executor.render import RenderOptions, render_serve_task, render_train_task
from planner.plan import PlanFile, load_plan_file
from tests.conftest import TEST_DATA

FINANCIAL = TEST_DATA / "plans" / "financial-p1.json"


def _hostile(marker: Path) -> list[str]:
    """Hostile run names / repository ids. The first ran ``touch marker`` through the old
    guard script (it pasted values into a Python literal inside a here-document); the others
    broke that script, or would run in a naively quoted one."""
    m = shlex.quote(str(marker))
    return [
        # closes the Python literal; the here-document ends, the rest is shell
        f"x')) if 0 else 0\nTAILOR_CHECK\ntouch {m}\ncat <<'TAILOR_CHECK'\n",
        # closes the Python literal and runs Python
        f"x')) if 0 else 0\nimport os; os.system('touch {m}')\nz=(('",
        f"x\nTAILOR_CHECK\ntouch {m}\n",
        f"x$(touch {m})",
        f"x`touch {m}`",
        f'x"; touch {m}; "',
    ]


def _with(plan_file: PlanFile, *, repo: str) -> PlanFile:
    plan = plan_file.plan.model_copy(update={"hf_repo_id": repo})
    return plan_file.model_copy(update={"plan": plan})


def _bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with bash in ``tmp_path``; ``python3`` is this interpreter and ``vllm``
    and ``timeout`` are stubs that print their arguments as JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    for stub in ("vllm", "timeout"):
        (bin_dir / stub).write_text(
            f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
            '"import json, sys; print(json.dumps(sys.argv[1:]))" "$@"\n'
        )
        (bin_dir / stub).chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SKYPILOT_NUM_GPUS_PER_NODE": "1",  # as SkyPilot sets it on the node
    }
    return subprocess.run(
        ["bash", "-c", script],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def financial() -> PlanFile:
    return load_plan_file(FINANCIAL)


@pytest.mark.parametrize("case", range(6))
def test_serve_guard_runs_no_command_from_the_run_name_or_repo(
    financial: PlanFile, tmp_path: Path, case: int
) -> None:
    marker = tmp_path / "pwned"
    value = _hostile(marker)[case]
    options = RenderOptions(
        run_name=value,
        data_source="train.jsonl",
        checkpoint_bucket="bucket",
        recipe_source="executor/recipes",
    )
    run = render_serve_task(_with(financial, repo=value), options)["run"]
    # the adapter the guard reads: give it one trained on the (hostile) repo, so the guard
    # passes and the vllm stub shows how the repo arrives
    config = f"/adapters/{value}/final/adapter_config.json"
    local = tmp_path / "adapter_config.json"
    local.write_text(json.dumps({"base_model_name_or_path": value}), encoding="utf-8")
    done = _bash(run.replace(shlex.quote(config), shlex.quote(str(local)), 1), tmp_path)
    assert not marker.exists(), f"a plan value ran a command:\n{run}"
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout.splitlines()[-1])
    # the merged weights under the run's folder: one argument, verbatim
    assert argv[:4] == ["serve", f"/adapters/{value}/merged", "--served-model-name", "tailor"]


def test_serve_guard_still_refuses_an_adapter_of_another_model(
    financial: PlanFile, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = _hostile(marker)[1]
    options = RenderOptions("fin-p1", "train.jsonl", "bucket", "executor/recipes")
    run = render_serve_task(_with(financial, repo=value), options)["run"]
    local = tmp_path / "adapter_config.json"
    local.write_text(json.dumps({"base_model_name_or_path": "other/model"}), encoding="utf-8")
    done = _bash(run.replace("/adapters/fin-p1/final/adapter_config.json", str(local)), tmp_path)
    assert done.returncode == 1 and "adapter was trained on other/model" in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize("case", range(6))
def test_train_run_writes_hostile_values_as_json_and_runs_nothing(
    financial: PlanFile, tmp_path: Path, case: int
) -> None:
    marker = tmp_path / "pwned"
    value = _hostile(marker)[case]
    options = RenderOptions("fin-p1", "train.jsonl", "bucket", "executor/recipes")
    run = render_train_task(_with(financial, repo=value), options)["run"]
    config = tmp_path / "train.json"
    run = run.replace("/checkpoints/", f"{tmp_path}/checkpoints/")  # the deadline's file
    done = _bash(run.replace("/tmp/tailor-train.json", str(config)), tmp_path)
    assert not marker.exists(), f"a plan value ran a command:\n{run}"
    assert done.returncode == 0, done.stderr
    assert json.loads(config.read_text(encoding="utf-8"))["model"] == value
    argv = json.loads(done.stdout)
    seconds = math.ceil(financial.plan.training.hours_high * 1.5 * 3600)
    assert seconds - 60 < int(argv[2]) <= seconds  # a first start gets the whole deadline
    assert argv[:2] + argv[3:5] == [
        "--signal=TERM",
        "--kill-after=300",
        "torchrun",
        "--nproc_per_node=1",
    ]


# --- bucket names: valid on every store SkyPilot may create the bucket in --------------------

_RUN_IDS = [
    "financial-report-analysis-p2-sky-1a2b3c",  # the usual form: kept as it is
    "x" * 200,  # the longest run id the store allows
    "a.b_c.d-p1-sky-000000",
    "192.168.5.4",
    "google-sheets-bot-p1-sky-abcdef",
    "goog-p1",
    "xn--p1",
    "ends-with-s3alias",
    "thing--ol-s3",
    "a..b--c__d",
    "..",
    "ümlaut-Ünicode-p1",
]


def _sky_stores() -> tuple:
    """SkyPilot's S3, GCS and Azure stores (their validate_name is what a launch runs)."""
    pytest.importorskip("sky")
    with warnings.catch_warnings():  # its database layer imports a SQLAlchemy 1.x name
        warnings.simplefilter("ignore", DeprecationWarning)
        from sky.data.storage import AzureBlobStore, GcsStore, S3Store
    return S3Store, GcsStore, AzureBlobStore


@pytest.mark.parametrize("run_id", _RUN_IDS)
def test_bucket_names_pass_skypilots_own_checks_on_s3_gcs_and_azure(run_id: str) -> None:
    from executor.render import bucket_name

    name = bucket_name(run_id)
    for store in _sky_stores():
        assert store.validate_name(name) == name  # raises StorageNameError when invalid
    assert name.startswith("tailor")


def test_bucket_names_keep_the_usual_run_id_and_tell_long_ones_apart() -> None:
    from executor.render import bucket_name

    usual = "financial-report-analysis-p2-sky-1a2b3c"
    assert bucket_name(usual) == f"tailor-{usual}"
    long_ids = [f"{'g' * 80}-p1-sky-000000", f"{'g' * 80}-p1-sky-000000-2"]
    assert len({bucket_name(i) for i in long_ids}) == 2  # truncated, told apart by the hash
