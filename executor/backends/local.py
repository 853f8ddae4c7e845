"""The local backend: the plan's training recipe and a real vLLM server, on this machine.

The recipe (executor/recipes/train.py) runs in a subprocess with the plan's hyperparameters on a
small local model (``make tiny-model`` builds one; a GPU box can point at a real checkpoint), with
the sequence length and batch capped for a CPU; then vLLM's OpenAI server (``make vllm-venv``)
serves the base model with the trained adapter on 127.0.0.1. Every process is recorded (by pid,
its own process group) before anything else happens, so ``down`` can always stop it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from executor import local_server
from executor.api_key import API_KEY_ENV, endpoint_key
from executor.backends.base import LaunchContext
from executor.errors import BackendError
from executor.processes import identity, is_same_process
from executor.render import RenderOptions, training_config
from executor.state import Phase, Resource, Run
from planner.plan import PlanFile

__all__ = ["LOCAL_MODEL", "LocalBackend"]

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_MODEL = REPO_ROOT / ".cache" / "tiny-llama"
TRAIN_RECIPE = REPO_ROOT / "executor" / "recipes" / "train.py"
CPU_SEQ_LEN = 256  # caps that keep a CPU run to minutes; the rest of the plan is kept as is
CPU_MICRO_BATCH = 4
SERVE_TIMEOUT_S = 600
# vLLM's CPU backend reserves --gpu-memory-utilization of *host* memory unless the KV cache size
# is given; 1 GiB holds a tiny model's cache and leaves the machine usable.
SERVE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def _local_config(plan_file: PlanFile, run: Run, ctx: LaunchContext) -> dict:
    if ctx.data_path is None:
        raise BackendError(
            "no training data: the goal has no data.path and --data was not given.",
            fix="pass --data path/to/train.jsonl.",
        )
    config = training_config(
        plan_file, _render_options(run.id, ctx), str(ctx.run_dir(run.id) / "train")
    )
    t = plan_file.plan.training
    assert t is not None
    config.update(
        model=_local_model(run, ctx),
        data_path=str(ctx.data_path),
        precision="fp32",  # the CPU trains the tiny local model in fp32, whatever the plan says
        seq_len_tokens=min(t.seq_len_tokens, CPU_SEQ_LEN),
        micro_batch=min(t.micro_batch, CPU_MICRO_BATCH),
        gradient_accumulation=1,
        modules_to_save=["lm_head"],  # a random-init local model must train its head to learn
        save_steps=ctx.extra.get("save_steps", 20),
        eval_steps=ctx.extra.get("save_steps", 20),
        merge=True,
        max_steps=ctx.extra.get("max_steps"),
    )
    if config["optimizer"] == "paged_adamw_8bit":
        config["optimizer"] = "adamw"  # paged optimizers page GPU memory; there is none here
    return config


def _render_options(run_name: str, ctx: LaunchContext):
    return RenderOptions(
        run_name=run_name,
        data_source=str(ctx.data_path),
        checkpoint_bucket="local",
        recipe_source=str(TRAIN_RECIPE.parent),
        data_format=ctx.data_format,
    )


class LocalBackend:
    """Runs plans on this machine (training subprocess, then a local vLLM server).

    Each process is recorded as ``train:PID:START`` / ``serve:PID:START`` (see
    executor/processes.py), so a pid reused by another process is never waited on or stopped.
    A run whose recorded process is gone is marked failed with the reason on the next poll; a
    relaunch resumes it (training from its newest checkpoint, serving once training finished).
    """

    name = "local"

    def check(self, plan_file: PlanFile, ctx: LaunchContext, *, trained: bool = False) -> None:
        """Nothing to ask before a local run: it downloads nothing (the local model is a folder
        on this machine) and needs no secret."""

    def start(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Start training, or serving when the plan trains nothing or training already
        finished (a resumed run)."""
        ctx.make_run_dir(run.id)
        settings = {k: str(v) for k, v in ctx.extra.items() if k == "local_model"}
        (ctx.run_dir(run.id) / "local.json").write_text(json.dumps(settings))
        if plan_file.plan.training is None or run.trained:
            return self._serve(run, plan_file, ctx)
        config_path = ctx.run_dir(run.id) / "train.json"
        config_path.write_text(json.dumps(_local_config(plan_file, run, ctx), indent=2))
        with (ctx.run_dir(run.id) / "train.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(TRAIN_RECIPE), "--config", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO_ROOT,
            )
        local_server.track(process)  # reaped once it exits: `tailor ui` is one long process
        _record_or_stop(ctx, run.id, f"train:{identity(process.pid)}", process.pid)
        return ctx.store.transition(
            run.id, Phase.TRAINING, f"training recipe started (pid {process.pid})"
        )

    def _serve(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Start vLLM; a start that fails marks the run failed with the reason."""
        try:
            key = endpoint_key(ctx.make_run_dir(run.id))
            handle = local_server.start_vllm_server(
                _serve_config(plan_file, run, ctx),
                log_path=ctx.run_dir(run.id) / "serve.log",
                env={**SERVE_ENV, API_KEY_ENV: key},
            )
        except (OSError, BackendError) as exc:
            return ctx.store.transition(run.id, Phase.FAILED, f"serving did not start: {exc}")
        _record_or_stop(ctx, run.id, f"serve:{identity(handle.pid)}", handle.pid)
        return ctx.store.transition(
            run.id, Phase.SERVING, f"vLLM starting (pid {handle.pid})", endpoint=handle.url
        )

    def poll(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Training finished → serve; server answers → ready; a process that is gone → failed
        (with why). Costs nothing locally."""
        live = {r.name.split(":")[0]: r for r in ctx.store.resources(run.id, live_only=True)}
        if run.phase is Phase.TRAINING:
            return self._poll_training(run, plan_file, ctx, live.get("train"))
        if run.phase is Phase.SERVING:
            return self._poll_serving(run, ctx, live.get("serve"))
        if run.phase is Phase.READY and not _alive(live.get("serve")):
            if "serve" in live:
                ctx.store.mark_deleted(run.id, "process", live["serve"].name)
            tail = _tail(ctx.run_dir(run.id) / "serve.log")
            return ctx.store.transition(run.id, Phase.FAILED, f"vLLM is gone: {tail}")
        return run

    def _poll_training(
        self, run: Run, plan_file: PlanFile, ctx: LaunchContext, train: Resource | None
    ) -> Run:
        if _alive(train):
            return run
        if train is not None:
            ctx.store.mark_deleted(run.id, "process", train.name)
        if run.trained:  # another poller won the hand-over: it is starting vLLM
            return _stalled_handover(run, ctx)
        summary = _done_summary(ctx.run_dir(run.id) / "train" / "DONE")
        if summary is None:
            why = "training failed" if train is not None else "no training process is recorded"
            tail = _tail(ctx.run_dir(run.id) / "train.log")
            return ctx.store.transition(run.id, Phase.FAILED, f"{why}: {tail}")
        if not ctx.store.mark_trained(run.id):
            return ctx.store.get(run.id)  # another poller hands over to serving
        ctx.store.transition(
            run.id,
            Phase.TRAINING,
            f"training done: step {summary.get('final_step')}, loss "
            f"{_loss(summary.get('train_loss'))}, eval loss {_loss(summary.get('eval_loss'))}, "
            f"{summary.get('seconds')} s",
        )
        return self._serve(ctx.store.get(run.id), plan_file, ctx)

    def _poll_serving(self, run: Run, ctx: LaunchContext, serve: Resource | None) -> Run:
        if serve is None:
            tail = _tail(ctx.run_dir(run.id) / "serve.log")
            return ctx.store.transition(
                run.id, Phase.FAILED, f"no vLLM process is recorded: {tail}"
            )
        handle = local_server.ServerHandle(
            pid=_pid(serve), url=run.endpoint or "", log_path=ctx.run_dir(run.id) / "serve.log"
        )
        try:
            if not _alive(serve):
                raise BackendError(
                    f"vLLM (pid {handle.pid}) is gone: {_tail(handle.log_path)}",
                    fix="read `tailor logs`, then launch again.",
                )
            local_server.wait_until_healthy(
                handle, timeout_s=ctx.extra.get("serve_timeout_s", SERVE_TIMEOUT_S)
            )
        except BackendError as exc:
            ctx.store.mark_deleted(run.id, "process", serve.name)
            return ctx.store.transition(run.id, Phase.FAILED, str(exc))
        return ctx.store.transition(
            run.id,
            Phase.READY,
            "vLLM answers /health (its /v1 routes need the run's API key)",
            endpoint=run.endpoint,
        )

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        """The training log, then the server log. ``follow`` keeps printing new lines, as
        ``tail -f`` does, until the run is down or failed (or the reader stops)."""
        offsets = {"train.log": 0, "serve.log": 0}
        while True:
            for name, offset in list(offsets.items()):
                path = ctx.run_dir(run.id) / name
                if not path.exists():
                    continue
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                complete = chunk[: chunk.rfind(b"\n") + 1] if follow else chunk
                offsets[name] += len(complete)
                yield from complete.decode(errors="replace").splitlines()
            if not follow or ctx.store.get(run.id).phase in (Phase.DOWN, Phase.FAILED):
                return
            time.sleep(0.5)

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        """Stop every process the run started (by process group) and record it. A recorded
        pid that now names another process (reused) is not touched: ours is gone."""
        removed = []
        for resource in ctx.store.resources(run.id, live_only=True):
            if not _reused(resource):  # a dead leader may leave its group's workers: stop them
                pid = _pid(resource)
                local_server.stop_server(pid)
                if local_server.is_running(pid):
                    raise BackendError(
                        f"process {pid} ({resource.name}) would not stop.",
                        fix=f"`kill -9 -{pid}`, then `tailor down {run.id}` again.",
                    )
            ctx.store.mark_deleted(run.id, resource.kind, resource.name)
            removed.append(f"{resource.kind} {resource.name}")
        return removed


def _serve_config(plan_file: PlanFile, run: Run, ctx: LaunchContext) -> dict:
    s, t = plan_file.plan.serving, plan_file.plan.training
    config = {
        "model": _local_model(run, ctx),
        "served_model_name": "base",
        "max_model_len": 1024,
        "max_num_seqs": min(s.max_concurrent_sequences, 8) if s else 8,
        "dtype": "float32",
    }
    if "vllm_python" in ctx.extra:  # an interpreter with vLLM other than .venv-vllm's
        config["python"] = str(ctx.extra["vllm_python"])
    if t is not None:
        # The local model is random-init, so its head trains too (modules_to_save); vLLM's
        # LoRA loader refuses such adapters, so the recipe merges them and vLLM serves the
        # merged weights under the name "tailor".
        trained = ctx.run_dir(run.id) / "train" / ("merged" if t.lora_rank else "final")
        config.update(model=str(trained), served_model_name="tailor")
    return config


HANDOVER_GRACE_S = 120.0  # training done → vLLM recorded takes well under a second


def _stalled_handover(run: Run, ctx: LaunchContext) -> Run:
    """Training finished and another process took the hand-over to serving; if nothing was
    recorded for HANDOVER_GRACE_S, that process died: fail, so a relaunch resumes at serving."""
    if time.time() - run.updated_at < HANDOVER_GRACE_S:
        return run
    return ctx.store.transition(
        run.id, Phase.FAILED, "training finished but vLLM was never started (the poller died)"
    )


def _done_summary(path: Path) -> dict | None:
    """The recipe's DONE summary, or None when there is none or it cannot be read."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _record_or_stop(ctx: LaunchContext, run_id: str, name: str, pid: int) -> None:
    """Record a process just started; if that fails, stop it (nothing runs unrecorded)."""
    try:
        ctx.store.add_resource(run_id, "process", name)
    except BaseException:
        local_server.stop_server(pid, grace_s=2)
        raise


def _reused(resource: Resource) -> bool:
    """The recorded pid now names another process (its start time differs)."""
    _, pid, start = [*resource.name.split(":"), ""][:3]
    return (
        bool(start) and local_server.is_running(int(pid)) and not is_same_process(int(pid), start)
    )


def _pid(resource: Resource) -> int:
    """The pid in ``kind:PID[:START]``."""
    return int(resource.name.split(":")[1])


def _alive(resource: Resource | None) -> bool:
    """Whether the recorded process still runs (and is still the one recorded)."""
    if resource is None:
        return False
    _, pid, start = ([*resource.name.split(":"), ""])[:3]
    pid_n = int(pid)
    return local_server.is_running(pid_n) and is_same_process(pid_n, start)


def _local_model(run: Run, ctx: LaunchContext) -> str:
    """The model folder this run trains and serves (kept in the run folder across processes)."""
    saved = ctx.run_dir(run.id) / "local.json"
    settings = json.loads(saved.read_text()) if saved.exists() else {}
    return str(ctx.extra.get("local_model") or settings.get("local_model") or LOCAL_MODEL)


def _loss(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return "no log"
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
