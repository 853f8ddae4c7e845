"""Rendered SkyPilot tasks: parsed by SkyPilot itself, stable (golden files), no secret values."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from catalog import load_catalog
from executor.render import (
    RenderOptions,
    render_serve_task,
    render_train_task,
    task_yaml,
)
from planner.plan import PlanFile, load_plan_file

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden"
OPTIONS = RenderOptions(
    run_name="fin-p1",
    data_source="./data/train.jsonl",
    checkpoint_bucket="tailor-ckpt-fin",
    recipe_source="executor/recipes",
)


def plan_file(name: str) -> PlanFile:
    """A fixed plan file (tests/data/plans/), so golden files change only when rendering does.

    Regenerate with `tailor plan examples/goals/… --out tests/data/plans/….json`.
    """
    return load_plan_file(ROOT / "tests" / "data" / "plans" / name)


@pytest.fixture(scope="module")
def financial() -> PlanFile:
    return plan_file("financial-p1.json")


@pytest.fixture(scope="module")
def multinode() -> PlanFile:
    return plan_file("multinode-p1.json")


@pytest.mark.parametrize(
    ("name", "render"), [("train", render_train_task), ("serve", render_serve_task)]
)
def test_matches_golden_file(financial: PlanFile, name: str, render) -> None:
    text = task_yaml(render(financial, OPTIONS))
    golden = GOLDEN / f"financial-{name}.yaml"
    if os.environ.get("TAILOR_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        "rendered task changed; if intended, rerun with TAILOR_UPDATE_GOLDEN=1"
    )


def test_skypilot_parses_train_and_serve_tasks(financial: PlanFile, multinode: PlanFile) -> None:
    sky = pytest.importorskip("sky")
    for plan in (financial, multinode):
        train = sky.Task.from_yaml_config(render_train_task(plan, OPTIONS))
        t = plan.plan.training
        assert train.num_nodes == t.nodes
        first = next(iter(train.resources))
        assert first.accelerators == {t.offer.accelerator: t.gpus_per_node}
        assert first.use_spot == t.offer.spot
        serve = sky.Task.from_yaml_config(render_serve_task(plan, OPTIONS))
        assert serve.service is not None
        assert serve.service.readiness_path == "/health"
        s = plan.plan.serving
        assert serve.service.min_replicas == s.min_replicas
        assert serve.service.max_replicas == s.max_replicas >= s.replicas
        assert serve.service.target_qps_per_replica == pytest.approx(
            s.requests_per_s_per_replica, rel=1e-3
        )


def test_multinode_run_uses_skypilot_node_environment(multinode: PlanFile) -> None:
    task = render_train_task(multinode, OPTIONS)
    assert task["num_nodes"] == multinode.plan.training.nodes > 1
    for variable in (
        "SKYPILOT_NODE_IPS",
        "SKYPILOT_NUM_GPUS_PER_NODE",
        "SKYPILOT_NODE_RANK",
        "SKYPILOT_NUM_NODES",
    ):
        assert variable in task["run"]


def test_serving_wires_the_trained_adapter(financial: PlanFile) -> None:
    run = render_serve_task(financial, OPTIONS)["run"]
    # one adapter is served merged (the recipe's merged/), under the name clients send
    assert f"vllm serve /adapters/{OPTIONS.run_name}/merged --served-model-name tailor" in run
    assert "--enable-lora" not in run
    train = render_train_task(financial, OPTIONS)
    assert f'"output_dir": "/checkpoints/{OPTIONS.run_name}"' in train["run"]
    assert '"merge": true' in train["run"]
    s = financial.plan.serving
    assert f"--tensor-parallel-size {s.tensor_parallel}" in run
    assert f"--max-model-len {s.max_model_len}" in run


def test_no_secret_value_in_any_rendered_file(
    financial: PlanFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hf_PLANTED_SECRET_7f3a9c"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("WANDB_API_KEY", secret)
    for name, render in (("train", render_train_task), ("serve", render_serve_task)):
        task = render(financial, OPTIONS)
        (tmp_path / f"{name}.yaml").write_text(task_yaml(task), encoding="utf-8")
    for written in tmp_path.iterdir():
        assert secret not in written.read_text(encoding="utf-8")
    # by name only, and HF_TOKEN only where a task downloads the gated base: training does;
    # the service serves the merged weights training wrote to the bucket, behind its API key
    assert yaml.safe_load((tmp_path / "train.yaml").read_text())["secrets"] == {"HF_TOKEN": None}
    serve = yaml.safe_load((tmp_path / "serve.yaml").read_text())
    assert serve["secrets"] == {"VLLM_API_KEY": None}
    assert "--api-key" not in serve["run"]  # vLLM reads it from the environment, not argv


def test_an_ungated_model_needs_no_secret_and_a_gated_one_only_hf_token(
    financial: PlanFile,
) -> None:
    assert financial.plan.hf_gated  # meta-llama asks users to accept its license
    open_model = financial.model_copy(
        update={"plan": financial.plan.model_copy(update={"hf_gated": False})}
    )
    assert "secrets" not in render_train_task(open_model, OPTIONS)
    serve_untrained = financial.model_copy(
        update={"plan": financial.plan.model_copy(update={"training": None})}
    )
    assert render_serve_task(serve_untrained, OPTIONS)["secrets"] == {
        "HF_TOKEN": None,
        "VLLM_API_KEY": None,
    }


def test_training_is_retried_only_after_preemption_and_its_deadline_spans_restarts(
    financial: PlanFile, tmp_path: Path
) -> None:
    import subprocess

    task = render_train_task(financial, OPTIONS)
    assert task["resources"]["job_recovery"]["max_restarts_on_errors"] == 0
    # run the task's own deadline lines with a stand-in `timeout`, twice: the second start
    # (a recovery) gets what is left, and a start past the deadline exits 124 at once
    bucket = tmp_path / "ckpt"
    lines = task["run"].replace("/checkpoints/", f"{bucket}/").splitlines()
    first_line = next(i for i, line in enumerate(lines) if line.startswith("mkdir -p"))
    launch_line = next(i for i, line in enumerate(lines) if line.startswith("timeout "))
    assert '"$left"' in lines[launch_line]  # the launcher gets what is left of the deadline
    deadline = lines[first_line:launch_line]
    script = "set -euo pipefail\n" + "\n".join(deadline) + '\necho "$left"\n'
    first = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    budget = int(first.stdout)
    assert 0 < budget <= financial.plan.training.hours_high * 1.5 * 3600 + 1
    started = bucket / OPTIONS.run_name / ".tailor-started-at"
    started.write_text(str(int(started.read_text()) - budget - 10))  # the first start, long ago
    late = subprocess.run(["bash", "-c", script], check=False, capture_output=True, text=True)
    assert late.returncode == 124 and "passed its max runtime" in late.stderr


@pytest.mark.slow
def test_dryrun_skypilot_optimizer_agrees_with_plan(financial: PlanFile, tmp_path: Path) -> None:
    pytest.importorskip("sky")
    from executor.backends.sky_dryrun import optimize_offline

    choice = optimize_offline(
        render_train_task(financial, OPTIONS),
        financial.plan.training.offer,
        catalog=load_catalog(),
        work_dir=tmp_path,
    )
    assert choice.agrees, choice
    assert choice.usd_per_hour == pytest.approx(financial.plan.training.offer.usd_per_hour)


def test_serving_refuses_an_adapter_of_another_base_model(
    financial: PlanFile, tmp_path: Path
) -> None:
    import subprocess

    run = render_serve_task(financial, OPTIONS)["run"]
    guard = run.split("vllm serve")[0]
    adapter = tmp_path / "final"
    adapter.mkdir()
    script = guard.replace(f"/adapters/{OPTIONS.run_name}/final", str(adapter))
    base = financial.plan.hf_repo_id  # the checkpoint the plan trains and serves
    for trained_on, expected in ((base, 0), ("mistralai/Mistral-7B-v0.1", 1)):
        (adapter / "adapter_config.json").write_text(
            json.dumps({"base_model_name_or_path": trained_on})
        )
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
        assert proc.returncode == expected, proc.stderr


@pytest.mark.parametrize("name", ["financial-p1.json", "multinode-p1.json"])
def test_the_training_config_loads_in_the_recipe(name: str, tmp_path: Path) -> None:
    """LoRA and full fine-tunes alike: the recipe's own loader accepts what render writes (a
    full fine-tune carries no LoRA keys, which the recipe would refuse as null)."""
    from executor.recipes.train import load_config
    from executor.render import training_config

    plan = plan_file(name)
    config = training_config(plan, OPTIONS, "/checkpoints/x")
    path = tmp_path / "train.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    loaded = load_config(path)
    assert loaded.method == str(plan.plan.training.method)
    assert ("lora_rank" in config) == (plan.plan.training.lora_rank is not None)
