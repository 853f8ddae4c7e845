"""`tailor launch | status | logs | down`: run a plan file and control what it created."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from catalog import load_catalog
from executor.api_key import API_KEY_FILE
from executor.backends import BACKEND_NAMES, make_backend
from executor.errors import ExecutorError
from executor.launch import (
    controllers_left,
    launch,
    launch_context,
    preview,
    refresh,
    teardown,
    wait,
)
from executor.state import Phase, Run, RunStore, open_store
from planner.plan import PlanFile, load_plan_file

__all__ = [
    "LOCAL_MODEL",
    "MAX_STEPS",
    "STATE_DIR",
    "down_command",
    "launch_command",
    "logs_command",
    "status_command",
]

LOCAL_MODEL = click.option(
    "--local-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="local backend: model folder to train and serve [default: .cache/tiny-llama]",
)
MAX_STEPS = click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    help="local backend: stop training after this many steps (smoke runs)",
)
STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where run state lives [default: $TAILOR_HOME/runs].",
)


def _store(state_dir: Path | None) -> RunStore:
    return open_store(state_dir)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _dryrun(plan_file: PlanFile, store: RunStore) -> None:
    from executor.backends.sky_dryrun import optimize_offline
    from executor.render import (
        RenderOptions,
        render_batch_task,
        render_serve_task,
        render_train_task,
    )

    options = RenderOptions(
        run_name=f"{plan_file.goal.name}-{plan_file.plan.id}",
        data_source="train.jsonl",
        checkpoint_bucket="tailor-dryrun",
        recipe_source="executor/recipes",
    )
    table = Table(title="SkyPilot optimizer (offline, on tailor's catalog export) vs the plan")
    for header in ("task", "SkyPilot chose", "$/h", "plan priced", "$/h", "agree"):
        table.add_column(header)
    plan = plan_file.plan
    parts = (
        (render_train_task, plan.training),
        (render_serve_task, plan.serving),
        (render_batch_task, plan.batch),
    )
    for render, part in parts:
        if part is None:
            continue
        choice = optimize_offline(
            render(plan_file, options),
            part.offer,
            catalog=load_catalog(),
            work_dir=store.path.parent / "sky-dryrun",
        )
        table.add_row(
            choice.task,
            f"{choice.cloud}/{choice.region} {choice.instance_type}",
            f"{choice.usd_per_hour:.4g}",
            f"{part.offer.cloud}/{part.offer.region} {part.offer.instance_type}",
            f"{part.offer.usd_per_hour:.4g}",
            "yes" if choice.agrees else "NO — see above",
        )
    Console(highlight=False, width=max(Console().width, 150)).print(table)
    click.echo(
        "Dry run: nothing was created. SkyPilot ran offline on tailor's catalog export "
        "with the plan's clouds marked enabled in an isolated SkyPilot home."
    )


@click.command("launch")
@click.argument(
    "plan_path", metavar="PLAN", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="sky", show_default=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dryrun", is_flag=True, help="Run SkyPilot's optimizer only; create nothing.")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training JSONL [default: the goal's data.path].",
)
@click.option(
    "--batch-input",
    metavar="FILE|URI",
    help="A batch plan's requests: JSONL in the OpenAI batch format (vLLM run-batch), or a "
    "bucket URI.",
)
@click.option("--detach", is_flag=True, help="Return once started; follow with `tailor status`.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds to wait for the endpoint.",
)
@LOCAL_MODEL
@MAX_STEPS
@STATE_DIR
def launch_command(
    *,
    plan_path: Path,
    backend: str,
    yes: bool,
    dryrun: bool,
    data: Path | None,
    batch_input: str | None,
    detach: bool,
    timeout_s: float,
    local_model: Path | None,
    max_steps: int | None,
    state_dir: Path | None,
) -> None:
    """Launch a plan file exactly as planned: training job, then the vLLM endpoint."""
    plan_file = load_plan_file(plan_path)
    shown = preview(plan_file, backend)
    click.echo(f"Plan {plan_file.plan.id} of goal {plan_file.goal.name} will create:")
    for line in shown.creates:
        click.echo(f"  - {line}")
    hours = (
        ""
        if shown.max_training_hours is None
        else (f"; training stops after {shown.max_training_hours:.1f} h")
    )
    click.echo(f"Cost ceiling: ${shown.cost_ceiling_usd:,.2f} ({shown.ceiling_basis}){hours}.")
    store = _store(state_dir)
    if dryrun:
        _dryrun(plan_file, store)
        return
    if not yes:
        if not sys.stdin.isatty():
            raise ExecutorError(
                "launch needs confirmation and there is no terminal to ask.", fix="pass --yes."
            )
        click.confirm("Launch?", abort=True)
    chosen = make_backend(backend)
    extra = {
        k: v
        for k, v in {
            "local_model": local_model,
            "max_steps": max_steps,
            "batch_input": batch_input,
        }.items()
        if v is not None
    }
    ctx = launch_context(
        store,
        data_path=data or _goal_data(plan_file),
        data_format=plan_file.goal.data.format,
        extra=extra,
    )
    run, started = launch(plan_file, chosen, ctx)
    click.echo(f"{'Started' if started else 'Re-attached to'} run {run.id} ({run.phase}).")
    if run.phase is Phase.FAILED:
        _exit_failed(run, store)
    if detach:
        return
    run = wait(
        run,
        plan_file,
        chosen,
        ctx,
        timeout_s=timeout_s,
        on_change=lambda r: click.echo(f"  {r.phase}: {store.events(r.id)[-1].message}"),
    )
    if run.phase is Phase.FAILED:
        _exit_failed(run, store)
    click.echo(
        f"Run {run.id}: {run.phase}" + (f", endpoint {run.endpoint}" if run.endpoint else "")
    )


EXIT_RUN_FAILED = 1  # the run failed (bad input exits 2)


def _exit_failed(run: Run, store: RunStore) -> None:
    """Say why the run failed, and exit EXIT_RUN_FAILED."""
    reason = store.events(run.id)[-1].message
    click.echo(
        f"Error: run {run.id} failed: {reason}\nTo fix: read `tailor logs {run.id}`; "
        f"`tailor launch` of the same plan resumes it from its last good phase, "
        f"`tailor down {run.id}` removes what it created.",
        err=True,
    )
    raise SystemExit(EXIT_RUN_FAILED)


def _goal_data(plan_file: PlanFile) -> Path | None:
    """The goal's data file as the plan file carries it (absolute, resolved at plan time)."""
    return Path(plan_file.data_path) if plan_file.data_path is not None else None


def _run_table(runs: list[Run]) -> Table:
    table = Table(title="tailor runs")
    for header in ("run", "backend", "phase", "spend $", "ceiling $", "endpoint", "updated"):
        table.add_column(header)
    for run in runs:
        table.add_row(
            run.id,
            run.backend,
            str(run.phase),
            f"{run.spend_usd:,.2f}",
            f"{run.cost_ceiling_usd:,.2f}",
            run.endpoint or "-",
            _when(run.updated_at),
        )
    return table


@click.command("status")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@STATE_DIR
def status_command(*, run_id: str | None, as_json: bool, state_dir: Path | None) -> None:
    """Runs, or one run's phase, spend, endpoint, transitions and resources."""
    store = _store(state_dir)
    if run_id is None:
        runs = store.list_runs()
        if as_json:
            click.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        else:
            Console(highlight=False, width=160).print(_run_table(runs))
        return
    run = store.get(run_id)
    if run.phase not in (Phase.DOWN, Phase.FAILED, Phase.STOPPING):
        plan_file = store.plan_file(run_id)
        run = refresh(run, plan_file, make_backend(run.backend), launch_context(store))
    events, resources = store.events(run_id), store.resources(run_id)
    key_file = launch_context(store).run_dir(run_id) / API_KEY_FILE
    key_path = str(key_file) if key_file.is_file() else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "run": run.model_dump(mode="json"),
                    "api_key_file": key_path,
                    "events": [e.model_dump(mode="json") for e in events],
                    "resources": [r.model_dump(mode="json") for r in resources],
                },
                indent=2,
            )
        )
        return
    console = Console(highlight=False, width=160)
    console.print(_run_table([run]))
    for event in events:
        console.print(
            f"  {_when(event.at)}  {event.phase:9s} ${event.spend_usd:,.2f}  {event.message}"
        )
    for resource in resources:
        state = "removed " + _when(resource.deleted_at) if resource.deleted_at else "live"
        console.print(f"  {resource.kind} {resource.name}: {state}")
    if key_path is not None:
        console.print(
            f"  API key (the endpoint's /v1 routes refuse requests without it): {key_path}; "
            f'send the header "Authorization: Bearer $(cat {key_path})"'
        )


@click.command("logs")
@click.argument("run_id", metavar="RUN")
@click.option("--follow", is_flag=True, help="Keep printing new lines.")
@STATE_DIR
def logs_command(*, run_id: str, follow: bool, state_dir: Path | None) -> None:
    """A run's logs (training, then serving)."""
    store = _store(state_dir)
    run = store.get(run_id)
    for line in make_backend(run.backend).logs(run, launch_context(store), follow=follow):
        click.echo(line.rstrip("\n"))


@click.command("down")
@click.argument("run_id", metavar="RUN")
@STATE_DIR
def down_command(*, run_id: str, state_dir: Path | None) -> None:
    """Tear down everything a run created, and confirm nothing is left."""
    store = _store(state_dir)
    run = store.get(run_id)
    removed = teardown(run, make_backend(run.backend), launch_context(store))
    for item in removed:
        click.echo(f"removed {item}")
    click.echo(f"Run {run_id} is down; nothing it created is left.")
    if run.backend == "sky":
        for line in controllers_left(store.plan_file(run_id)):
            click.echo(f"note: {line}")
