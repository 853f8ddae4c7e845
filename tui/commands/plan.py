"""`tailor plan | explain | compare | graph | schema`: the planner from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog import load_catalog
from planner.errors import GoalSpecError, PlannerError
from planner.explain import compare_plans, explain_plan, latency_text, summary_row
from planner.export import GRAPH_FORMATS, export_graph
from planner.goal_file import read_goal_text
from planner.plan import Plan, PlanFile, load_plan_file, save_plan_file
from planner.rank import PlanningResult, plan_goal
from planner.spec import GoalSpec, Objective, goal_json_schema, load_goal

__all__ = ["compare_command", "explain_command", "graph_command", "plan_command", "schema_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_GOAL = click.Path(path_type=Path)  # load_goal refuses a missing path, a folder or a FIFO itself


def _console() -> Console:
    return Console(highlight=False, width=max(Console().width, 150))


def _is_plan_file(path: Path) -> bool:
    if path.suffix == ".json":
        return True
    try:  # read as a goal is: a FIFO or /dev/zero is refused, not read for ever
        return read_goal_text(path).lstrip().startswith("schema_version")
    except GoalSpecError:
        return False  # not a plan file; load_goal says what is wrong with it


def _goal_or_plan_file(path: Path) -> tuple[GoalSpec, PlanFile | None]:
    if _is_plan_file(path):
        plan_file = load_plan_file(path)
        return plan_file.goal, plan_file
    return load_goal(path), None


def _money(usd: float) -> str:
    """Dollars: cents below $100, whole dollars above."""
    return f"{usd:,.2f}" if usd < 100 else f"{usd:,.0f}"


def _quality_cell(plan: Plan) -> str:
    q = plan.quality
    if q is None or q.expected_low is None or q.expected_high is None:
        return "?"
    return f"{q.expected_low:.0f}–{q.expected_high:.0f}"


def _target_line(result: PlanningResult) -> str:
    target = result.quality_target
    if target is None:
        return ""
    floor = (
        "no floor"
        if target.floor is None
        else f"floor {target.floor:g} on the pessimistic end ({target.floor_basis})"
    )
    return (
        f"Quality: expected {target.benchmark.name} ({target.benchmark.unit}) after each plan's "
        f"decisions; {floor}. Planned as of {result.as_of}."
    )


def _plans_table(result: PlanningResult, plans: tuple[Plan, ...] | None = None) -> Table:
    refs = plans is not None
    bench = result.quality_target.benchmark.name if result.quality_target else "quality"
    title = (
        f"{result.goal.name}: reference rows, the best plan of each strategy a decision rule "
        "pruned (not launchable)"
        if refs
        else f"{result.goal.name}: {len(result.plans)} of {result.candidate_count} feasible "
        f"plans, objective {result.objective} (★ = Pareto: cost × latency × quality)"
    )
    table = Table(title=title)
    for header in (
        "id",
        "strategy",
        "model",
        "method",
        "train on",
        "hours",
        "one-time $",
        "serve",
        "$/month",
        "first-year $",
        "p95 TTFT",
        "tok/s",
        bench,
    ):
        table.add_column(
            header,
            justify="right"
            if (header[0] in "$hfo1pt" and header not in ("train on",)) or header == bench
            else "left",
            no_wrap=header in ("id", "model"),
        )
    for plan in result.references if refs else result.plans:
        r = summary_row(plan)
        method = f"{r['method']}" + (f" r{r['rank']}" if r["rank"] != "-" else "")
        table.add_row(
            f"{plan.id}{' ★' if plan.pareto else ''}",
            r["strategy"],
            r["model"],
            method,
            r["train_gpus"],
            "-" if r["train_hours"] is None else f"{r['train_hours']:.1f}",
            _money(plan.one_time_usd),
            f"{r['quantization']} {r['serve_gpus']}"
            if plan.serving or plan.batch
            else plan.api.model
            if plan.api
            else "-",
            _money(plan.monthly_usd),
            _money(plan.first_year_usd),
            latency_text(plan),
            f"{r['tokens_per_s']:.0f}",
            _quality_cell(plan),
        )
    return table


def _print_plans(console: Console, result: PlanningResult) -> None:
    console.print(_plans_table(result))
    if line := _target_line(result):
        console.print(escape(line))
    if result.references:
        console.print(_plans_table(result, result.references))
        for ref in result.references:
            console.print(escape(f"{ref.id}: {ref.reference}"))
    for line in result.missing_references:
        console.print(escape(line))
    for plan in (*result.plans, *result.references):
        for warning in plan.warnings:
            console.print(escape(f"! {plan.id}: {warning}"))


def _breakdown_table(plan: Plan) -> Table:
    table = Table(title=f"{plan.id} cost breakdown: {plan.strategy} {plan.model}")
    for header in ("phase", "resource", "quantity", "unit price", "one-time $", "$/month"):
        table.add_column(header, justify="left" if header in ("phase", "resource") else "right")
    if (t := plan.training) is not None:
        table.add_row(
            "training",
            f"{t.nodes}×{t.gpus_per_node}× {t.offer.gpu} "
            f"{t.offer.instance_type} {t.offer.cloud}/{t.offer.region}"
            f"{' spot' if t.offer.spot else ''} ({t.offer.tier})",
            f"{t.hours:.2f} h × {t.nodes}",
            f"${t.offer.usd_per_hour:.4g}/h",
            f"{t.cost_usd:,.2f}",
            "",
        )
    if (s := plan.serving) is not None:
        table.add_row(
            "serving",
            f"{s.tensor_parallel}× {s.offer.gpu} {s.quantization} "
            f"{s.offer.instance_type} {s.offer.cloud}/{s.offer.region} ({s.offer.tier})",
            f"{s.replica_hours_per_month:,.0f} replica-h ({s.replicas_label})",
            f"${s.offer.usd_per_hour:.4g}/h",
            "",
            f"{s.monthly_usd:,.2f}",
        )
    if (b := plan.batch) is not None:
        table.add_row(
            "batch",
            f"{b.instances}×{b.tensor_parallel}× {b.offer.gpu} {b.quantization} "
            f"{b.offer.instance_type} {b.offer.cloud}/{b.offer.region} ({b.offer.tier})",
            f"{b.hours_per_job:.2f} h × {b.instances} × {b.jobs_per_month:g} jobs",
            f"${b.offer.usd_per_hour:.4g}/h",
            "",
            f"{b.monthly_usd:,.2f}",
        )
    if (a := plan.api) is not None:
        table.add_row(
            "API",
            a.model + (" (fine-tuned)" if a.fine_tuned else ""),
            "tokens",
            f"${a.input_usd_per_mtok:g}/${a.output_usd_per_mtok:g} per 1M",
            f"{a.training_usd:,.2f}",
            f"{a.monthly_usd:,.2f}",
        )
    if (r := plan.rag) is not None:
        table.add_row(
            "RAG",
            f"vector store, {r.chunks:,} chunks",
            "730 h",
            "",
            f"{r.embedding_usd:,.2f}",
            f"{r.vector_store_usd_per_month:,.2f}",
        )
    for line in plan.extra_costs:
        table.add_row(
            line.phase,
            line.name,
            line.quantity,
            line.unit_price,
            f"{line.one_time_usd:,.2f}" if line.one_time_usd else "",
            f"{line.monthly_usd:,.2f}" if line.monthly_usd else "",
        )
    table.add_row(
        "total",
        f"first year ${plan.first_year_usd:,.2f}",
        "",
        "",
        f"{plan.one_time_usd:,.2f}",
        f"{plan.monthly_usd:,.2f}",
        style="bold",
    )
    return table


def _pick(result: PlanningResult, plan_id: str | None) -> Plan:
    if plan_id is None:
        return result.plans[0]
    found = result.find(plan_id)
    if found is not None:
        return found
    known = [p.id for p in (*result.plans, *result.references)]
    raise PlannerError(
        f"--plan: no plan {plan_id!r} among {known}. "
        "To fix: use an id from `tailor plan` (or raise --top)."
    )


def _as_of_option(function):
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Plan as of this day (YYYY-MM-DD): hosted models retired by then are pruned "
        "[default: today, or $TAILOR_PLANNING_DATE].",
    )(function)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.command("plan")
@click.argument("goal_path", metavar="GOAL", type=_GOAL)
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--objective",
    type=click.Choice([o.value for o in Objective]),
    help="Override the goal's preferences.objective.",
)
@click.option("--plan", "plan_id", help="Plan to write with --out [default: p1].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the chosen plan as a plan file (.json or .yaml) for `tailor launch`.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_as_of_option
def plan_command(
    *,
    goal_path: Path,
    top: int,
    objective: str | None,
    plan_id: str | None,
    out: Path | None,
    as_json: bool,
    as_of: datetime | None,
) -> None:
    """Rank costed plans for a goal: strategy, model, method, GPUs, clouds, $, latency and
    expected quality, with reference rows for the strategies a decision rule pruned."""
    catalog = load_catalog()
    goal = load_goal(goal_path)
    result = plan_goal(
        goal,
        catalog,
        objective=Objective(objective) if objective else None,
        top=top,
        as_of=_day(as_of),
    )
    chosen = _pick(result, plan_id)
    if out is not None:
        save_plan_file(result.plan_file(chosen.id, goal_dir=goal_path.parent), out)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "goal": goal.name,
                    "objective": str(result.objective),
                    "candidates": result.candidate_count,
                    "catalog_snapshot_date": result.catalog_snapshot_date,
                    "planned_on": str(result.as_of),
                    "quality_target": _target_json(result),
                    "plans": [
                        {**summary_row(p), "plan": p.model_dump(mode="json")} for p in result.plans
                    ],
                    "references": [
                        {**summary_row(p), "plan": p.model_dump(mode="json")}
                        for p in result.references
                    ],
                    "missing_references": list(result.missing_references),
                },
                indent=2,
            )
        )
        return
    console = _console()
    _print_plans(console, result)
    console.print(_breakdown_table(chosen))
    if out is not None:
        console.print(
            escape(
                f"Wrote {chosen.id} to {out}. Next: `tailor explain {out}`, `tailor launch {out}`."
            )
        )


@click.command("explain")
@click.argument("path", metavar="GOAL|PLAN", type=_GOAL)
@click.option("--plan", "plan_id", help="Plan id from `tailor plan` [default: p1 / the file's].")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True)
@_as_of_option
def explain_command(*, path: Path, plan_id: str | None, top: int, as_of: datetime | None) -> None:
    """Why a plan: its decisions, every number's formula and basis, its expected quality and
    the basis of each step, and the why-nots."""
    catalog = load_catalog()
    goal, plan_file = _goal_or_plan_file(path)
    day = _day(as_of) or (plan_file.planned_on if plan_file else None)
    result = plan_goal(goal, catalog, top=top, as_of=day)
    plan = plan_file.plan if plan_file and plan_id is None else _pick(result, plan_id)
    console = _console()  # plan file text is printed escaped: "[" in it is shown, not markup
    title = escape(f"{plan.id} {plan.strategy} {plan.model}")
    console.print(f"[bold]{title}[/bold] for goal {escape(goal.name)}")
    for section in explain_plan(result, plan):
        console.print(f"\n[bold]{escape(section.title)}[/bold]")
        for line in section.lines:
            console.print(f"  {escape(line)}", soft_wrap=True)


@click.command("compare")
@click.argument("plan_files", metavar="PLAN PLAN [PLAN ...]", nargs=-1, type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def compare_command(*, plan_files: tuple[Path, ...], as_json: bool) -> None:
    """Plan files side by side: strategy, model, cloud, region, spot, cost, latency and
    expected quality, with each one's difference from the first."""
    if len(plan_files) < 2:
        raise click.UsageError(
            "compare takes two or more plan files. To fix: pass the files `tailor plan --out` "
            "wrote, e.g. `tailor compare p1.json p2.json p3.json`."
        )
    plans = [load_plan_file(path).plan for path in plan_files]
    rows = compare_plans(*plans)
    names = [escape(path.name) for path in plan_files]
    if len(set(names)) < len(names):  # same file name in two folders: tell them apart
        names = [escape(str(path)) for path in plan_files]
    if as_json:
        out = [
            {
                "name": r.name,
                "values": dict(zip(names, r.values, strict=True)),
                "delta_from_first": dict(zip(names, r.deltas, strict=True)),
            }
            for r in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    table = Table(title=" vs ".join(names) + f" (Δ: each − {names[0]})")
    table.add_column("")
    for name in names:
        table.add_column(name)
    for row in rows:
        cells = [
            escape(v) + ("" if d is None or d == 0 else f" ({d:+,.2f})")
            for v, d in zip(row.values, row.deltas, strict=True)
        ]
        table.add_row(escape(row.name), *cells, style="bold" if row.differs else "")
    _console().print(table)


def _target_json(result: PlanningResult) -> dict[str, object] | None:
    target = result.quality_target
    if target is None:
        return None
    return {
        "benchmark": target.benchmark.id,
        "floor": target.floor,
        "floor_basis": target.floor_basis,
        "default_floor": target.default_floor,
        "reasoning": target.task_reasoning,
    }


@click.command("graph")
@click.argument("goal_path", metavar="GOAL", type=_GOAL)
@click.option(
    "--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="mermaid", show_default=True
)
def graph_command(*, goal_path: Path, fmt: str) -> None:
    """Export the decision graph (pruned branches dashed, with their reasons in JSON)."""
    result = plan_goal(load_goal(goal_path), load_catalog(), top=1)
    click.echo(export_graph(result.graph, fmt), nl=False)


@click.command("schema")
def schema_command() -> None:
    """Print the goal file's JSON Schema."""
    click.echo(json.dumps(goal_json_schema(), indent=2))
