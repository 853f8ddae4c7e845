"""A batch plan's launch: the rendered managed job (parsed by SkyPilot itself, its sharding
script run here), the input file checked before anything is created, the cost ceiling of one
job, and the run's life through the SkyPilot backend (fake at the cloud boundary only)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog import load_catalog
from executor.backends.base import LaunchContext
from executor.backends.local import LocalBackend
from executor.errors import ExecutorError
from executor.launch import check_batch_input, cost_ceiling_usd, launch, preview
from executor.render import RenderOptions, bucket_name, render_batch_task, task_yaml
from executor.state import Phase, RunStore
from planner.plan import PlanFile, load_plan_file
from tests.executor.test_sky_backend import FakeSky, sky_backend

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "tests" / "data" / "plans" / "batch-p1.json"
GOLDEN = ROOT / "tests" / "data" / "golden" / "batch-job.yaml"
OPTIONS = RenderOptions(
    run_name="contracts-p1",
    data_source="./data/train.jsonl",
    checkpoint_bucket="tailor-ckpt-contracts",
    recipe_source="executor/recipes",
    batch_input="./contracts.jsonl",
)


@pytest.fixture(scope="module")
def plan_file() -> PlanFile:
    return load_plan_file(PLAN)


def _requests(n: int) -> list[dict]:
    return [
        {
            "custom_id": f"contract-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "anything", "messages": [{"role": "user", "content": f"c{i}"}]},
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the rendered job -----------------------------------------------------------------------
def test_matches_golden_file(plan_file: PlanFile) -> None:
    text = task_yaml(render_batch_task(plan_file, OPTIONS))
    if os.environ.get("TAILOR_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "rendered task changed; if intended, rerun with TAILOR_UPDATE_GOLDEN=1"
    )


def test_skypilot_parses_the_batch_job(plan_file: PlanFile) -> None:
    sky = pytest.importorskip("sky")
    b = plan_file.plan.batch
    task = sky.Task.from_yaml_config(render_batch_task(plan_file, OPTIONS))
    assert task.num_nodes == b.instances
    first = next(iter(task.resources))
    assert first.accelerators == {b.offer.accelerator: b.tensor_parallel}
    assert first.use_spot is False
    assert task.service is None  # a job, not a service
    run = render_batch_task(plan_file, OPTIONS)["run"]
    assert "vllm run-batch -i /tmp/tailor-shard.jsonl -o /tmp/tailor-results.jsonl" in run
    assert f"--model /bucket/{OPTIONS.run_name}/merged --served-model-name tailor" in run
    assert f"--max-num-seqs {b.max_concurrent_sequences}" in run
    assert f"--max-model-len {b.max_model_len}" in run
    timeout = round(b.hours_per_job * 1.5 * 3600)
    assert f"timeout --signal=TERM --kill-after=300 {timeout}" in run


@pytest.mark.parametrize("nodes", [1, 3])
def test_each_node_runs_its_share_of_the_requests_named_for_the_served_model(
    plan_file: PlanFile, tmp_path: Path, nodes: int
) -> None:
    run = render_batch_task(plan_file, OPTIONS)["run"]
    script = run.split("<<'TAILOR_SHARD'\n", 1)[1].split("\nTAILOR_SHARD", 1)[0]
    source = _write(tmp_path / "in.jsonl", _requests(10))
    seen: list[str] = []
    for rank in range(nodes):
        target = tmp_path / f"shard-{rank}.jsonl"
        argv = [str(source), str(target), str(rank), str(nodes), "tailor"]
        proc = subprocess.run(
            ["python3", "-", *argv], input=script, text=True, capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in target.read_text().splitlines()]
        assert all(r["body"]["model"] == "tailor" for r in rows)
        seen += [r["custom_id"] for r in rows]
    assert sorted(seen) == sorted(r["custom_id"] for r in _requests(10))  # each exactly once


# --- the input file, before anything is created --------------------------------------------
_TRAINING_ROW = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
}


def _ctx(tmp_path: Path, batch_input: object | None) -> LaunchContext:
    extra = {} if batch_input is None else {"batch_input": batch_input}
    data = _write(tmp_path / "d.jsonl", [_TRAINING_ROW])
    return LaunchContext(
        store=RunStore(tmp_path / "state.db"),
        runs_dir=tmp_path / "runs",
        data_path=data,
        extra=extra,
    )


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("not json", "is not JSON"),
        ({"method": "POST", "url": "/v1/completions", "body": {}}, "has no custom_id string"),
        ({"custom_id": "a", "method": "GET", "url": "/v1/completions", "body": {}}, "POST"),
        ({"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}, "has url"),
        ({"custom_id": "a", "method": "POST", "url": "/v1/completions"}, "has no body"),
    ],
)
def test_a_bad_request_line_is_named_by_file_and_line(
    plan_file: PlanFile, tmp_path: Path, row: object, says: str
) -> None:
    path = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in _requests(2)] + [
        row if isinstance(row, str) else json.dumps(row)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ExecutorError) as caught:
        check_batch_input(plan_file, _ctx(tmp_path, str(path)))
    assert f"{path}:3" in str(caught.value) and says in str(caught.value)
    assert "To fix:" in str(caught.value)


def test_more_requests_than_the_job_was_sized_for_is_refused(
    plan_file: PlanFile, tmp_path: Path
) -> None:
    planned = plan_file.plan.batch.requests_per_job
    path = _write(tmp_path / "in.jsonl", _requests(int(planned * 1.5) + 10))
    with pytest.raises(ExecutorError, match="was sized for") as caught:
        check_batch_input(plan_file, _ctx(tmp_path, str(path)))
    assert "batch.tokens" in str(caught.value)
    fits = _write(tmp_path / "ok.jsonl", _requests(100))
    assert check_batch_input(plan_file, _ctx(tmp_path, str(fits))) == 100
    assert check_batch_input(plan_file, _ctx(tmp_path, "gs://bucket/in.jsonl")) is None


def test_a_batch_plan_without_input_creates_nothing(plan_file: PlanFile, tmp_path: Path) -> None:
    ctx, fake = _ctx(tmp_path, None), FakeSky()
    with pytest.raises(ExecutorError, match="--batch-input"):
        launch(plan_file, sky_backend(fake), ctx)
    assert fake.calls == [] and ctx.store.list_runs() == []


def test_the_local_backend_refuses_a_batch_plan_before_recording_a_run(
    plan_file: PlanFile, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, str(_write(tmp_path / "in.jsonl", _requests(5))))
    with pytest.raises(ExecutorError, match="--backend sky"):
        launch(plan_file, LocalBackend(), ctx)
    assert ctx.store.list_runs() == []


def test_the_cli_refuses_a_bad_input_with_exit_code_2(plan_file: PlanFile, tmp_path: Path) -> None:
    from tui.cli import cli

    bad = tmp_path / "in.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    data = _write(tmp_path / "d.jsonl", [_TRAINING_ROW])
    args = ["launch", str(PLAN), "--yes", "--batch-input", str(bad), "--data", str(data)]
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert f"{bad}:1 is not JSON" in result.output and "Traceback" not in result.output


# --- the ceiling: one job ------------------------------------------------------------------
def test_the_ceiling_is_one_job_until_its_timeout(plan_file: PlanFile) -> None:
    plan, catalog = plan_file.plan, load_catalog()
    b, t = plan.batch, plan.training
    price = max(  # the dearest offer of the ordered list: SkyPilot may land the job on any
        o.price_usd_per_hour
        for o in catalog.offers
        for choice in (b.offer, *b.alternative_offers)
        if (o.cloud, o.region, o.instance_type)
        == (choice.cloud, choice.region, choice.instance_type)
    )
    job = b.instances * price * b.hours_per_job * 1.5
    train_usd = max(o.usd_per_hour for o in (t.offer, *t.alternative_offers))
    training = t.nodes * train_usd * t.hours_high * 1.5
    other = sum(line.one_time_usd + line.monthly_usd for line in plan.extra_costs)
    assert cost_ceiling_usd(plan_file) == pytest.approx(job + training + other, rel=1e-9)
    shown = preview(plan_file, "sky")
    assert any("batch job" in line for line in shown.creates)
    assert "one batch job on" in shown.ceiling_basis


# --- the run: train, then the batch job, then ready -----------------------------------------
def test_train_then_batch_job_then_ready_then_down(plan_file: PlanFile, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, str(_write(tmp_path / "in.jsonl", _requests(50))))
    fake = FakeSky()
    backend = sky_backend(fake)
    run, started = launch(plan_file, backend, ctx)
    assert started and run.phase is Phase.TRAINING
    fake.jobs[f"{run.id}-train"] = "SUCCEEDED"
    run = backend.poll(run, plan_file, ctx)
    batch = f"{run.id}-batch"
    assert run.phase is Phase.BATCH and fake.calls[-1] == ("launch_job", batch)
    fake.jobs[batch] = "RUNNING"
    running = backend.poll(run, plan_file, ctx)
    assert running.phase is Phase.BATCH
    assert list(backend.logs(running, ctx, follow=False)) == [f"log of {batch}"]
    fake.jobs[batch] = "SUCCEEDED"
    done = backend.poll(running, plan_file, ctx)
    assert done.phase is Phase.READY
    assert f"{run.id}/results/" in ctx.store.events(run.id)[-1].message
    # ended jobs hold nothing; the bucket with the results stays (and bills) until down
    live = ctx.store.resources(run.id, live_only=True)
    assert [(r.kind, r.name) for r in live] == [("bucket", bucket_name(run.id))]
    assert backend.teardown(done, ctx) == [f"bucket {bucket_name(run.id)}"]
    assert fake.storages == set() and ctx.store.resources(run.id, live_only=True) == []


def test_a_failed_batch_job_fails_the_run_and_relaunch_resubmits_it(
    plan_file: PlanFile, tmp_path: Path
) -> None:
    ctx = _ctx(tmp_path, str(_write(tmp_path / "in.jsonl", _requests(50))))
    fake = FakeSky()
    backend = sky_backend(fake)
    run, _ = launch(plan_file, backend, ctx)
    fake.jobs[f"{run.id}-train"] = "SUCCEEDED"
    run = backend.poll(run, plan_file, ctx)
    fake.jobs[f"{run.id}-batch"] = "FAILED"
    assert backend.poll(run, plan_file, ctx).phase is Phase.FAILED
    again, started = launch(plan_file, backend, ctx)
    assert not started and again.phase is Phase.BATCH  # resumed after training, not retrained
    launched = [name for call, name in fake.calls if call == "launch_job"]
    assert launched == [f"{run.id}-train", f"{run.id}-batch", f"{run.id}-batch"]
