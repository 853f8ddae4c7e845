"""The plans table's columns: what each shows for a plan, and the value it sorts by.

Reference rows (ids r1, r2, …: the best plan of a strategy a decision rule pruned) use the same
columns; the ★ column marks them "ref". A sort key of None means unknown: such rows sort last
in either direction (see :func:`sort_plans`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catalog import Catalog
from planner.explain import latency_text
from planner.plan import BatchPlan, Plan, ServingPlan

__all__ = ["COLUMNS", "Column", "SortKey", "fits_text", "plan_cells", "quality_text", "sort_plans"]

SortKey = float | str | tuple[int, int, str] | None
"""What a column sorts by; None: unknown (always last)."""


def _money(usd: float) -> str:
    return f"{usd:,.2f}" if usd < 100 else f"{usd:,.0f}"


def fits_text(plan: Plan, catalog: Catalog | None) -> str:
    """Peak memory per GPU against the GPU's memory, GiB: training's estimated peak when the plan
    trains, else the served weights per GPU (KV cache takes the rest). "api" when nothing runs
    on rented GPUs."""
    if plan.training is not None:
        t = plan.training
        return f"{t.peak_memory_gib_per_gpu:.0f}/{t.gpu_memory_gib:.0f}G"
    if (s := _served(plan)) is not None:
        gpu = catalog.find_gpu(s.offer.gpu) if catalog is not None else None
        total = f"{gpu.memory_gib:.0f}" if gpu is not None else "?"
        return f"w{s.weights_gib_per_gpu:.0f}/{total}G"
    return "api"


def _fits_key(plan: Plan) -> float:
    t = plan.training
    return t.peak_memory_gib_per_gpu / t.gpu_memory_gib if t else 0.0


@dataclass(frozen=True)
class Column:
    """One column: header label, the cell text of a plan, and the value rows sort by."""

    label: str
    cell: Callable[[Plan], str]
    key: Callable[[Plan], SortKey]


def _id_key(plan: Plan) -> tuple[int, int, str]:
    """Ranked plans (p1, p2, …) in number order, then reference rows (r1, r2, …)."""
    group = 1 if plan.reference is not None or plan.id.startswith("r") else 0
    digits = plan.id.lstrip("pr")
    return (group, int(digits) if digits.isdigit() else 0, plan.id)


def quality_text(plan: Plan) -> str:
    """The expected range on the goal's benchmark, whole points ("75–98"); "?" when unknown."""
    q = plan.quality
    if q is None or q.expected_low is None or q.expected_high is None:
        return "?"
    return f"{q.expected_low:.0f}–{q.expected_high:.0f}"


def _quality_key(plan: Plan) -> float | None:
    return plan.quality.ranking_score if plan.quality is not None else None


def _marker(plan: Plan) -> str:
    if plan.reference is not None:
        return "ref"
    return "★" if plan.pareto else ""


def _marker_key(plan: Plan) -> int:
    if plan.reference is not None:
        return 2
    return 0 if plan.pareto else 1


def _train_gpus(plan: Plan) -> str:
    t = plan.training
    return f"{t.nodes * t.gpus_per_node}×{t.offer.gpu}" if t else "-"


def _serving(plan: Plan) -> str:
    s, b = plan.serving, plan.batch
    if s is not None:
        return f"{s.tensor_parallel}×{s.offer.gpu}×{s.replicas_label}"
    if b is not None:
        return f"batch {b.tensor_parallel}×{b.offer.gpu}×{b.instances}"
    return plan.api.model if plan.api else "-"


def _served(plan: Plan) -> ServingPlan | BatchPlan | None:
    return plan.serving or plan.batch


def _gpus_key(plan: Plan) -> int:
    s, b = plan.serving, plan.batch
    if s is not None:
        return s.tensor_parallel * s.replicas
    return b.tensor_parallel * b.instances if b is not None else 0


COLUMNS: tuple[Column, ...] = (
    Column("id", lambda p: p.id, _id_key),
    Column("strategy", lambda p: str(p.strategy), lambda p: str(p.strategy)),
    Column("model", lambda p: p.model, lambda p: p.model),
    Column(
        "method",
        lambda p: str(p.training.method) if p.training else "-",
        lambda p: str(p.training.method) if p.training else "",
    ),
    Column(
        "rank",
        lambda p: str(p.training.lora_rank) if p.training and p.training.lora_rank else "-",
        lambda p: (p.training.lora_rank or 0) if p.training else 0,
    ),
    Column(
        "quant",
        lambda p: str(q.quantization) if (q := _served(p)) else "-",
        lambda p: str(q.quantization) if (q := _served(p)) else "",
    ),
    Column(
        "train GPUs",
        _train_gpus,
        lambda p: p.training.nodes * p.training.gpus_per_node if p.training else 0,
    ),
    Column("train $", lambda p: _money(p.one_time_usd), lambda p: p.one_time_usd),
    Column(
        "train h",
        lambda p: f"{p.training.hours:.2f}" if p.training else "-",
        lambda p: p.training.hours if p.training else 0.0,
    ),
    Column(
        "serving",
        _serving,
        _gpus_key,
    ),
    Column("$/month", lambda p: _money(p.monthly_usd), lambda p: p.monthly_usd),
    Column("1st-year $", lambda p: _money(p.first_year_usd), lambda p: p.first_year_usd),
    Column("quality", quality_text, _quality_key),
    Column("p95 TTFT", latency_text, lambda p: p.p95_ttft_s),
    Column("tok/s", lambda p: f"{p.output_tokens_per_s:.0f}", lambda p: p.output_tokens_per_s),
    Column("fits", lambda p: "", _fits_key),  # text needs the catalog: see plan_cells
    Column("★", _marker, _marker_key),
)
_FITS = next(i for i, c in enumerate(COLUMNS) if c.label == "fits")


def plan_cells(plan: Plan, catalog: Catalog | None = None) -> tuple[str, ...]:
    """One table row, in ``COLUMNS`` order."""
    cells = [column.cell(plan) for column in COLUMNS]
    cells[_FITS] = fits_text(plan, catalog)
    return tuple(cells)


def sort_plans(plans: list[Plan], column: Column, *, reverse: bool = False) -> list[Plan]:
    """``plans`` by ``column``'s key (stable), rows whose key is unknown (None) last either way."""
    known = [p for p in plans if column.key(p) is not None]
    unknown = [p for p in plans if column.key(p) is None]
    # One column's keys are all of one kind (numbers, text or id tuples); SortKey is the union.
    return [*sorted(known, key=column.key, reverse=reverse), *unknown]  # type: ignore[arg-type]
