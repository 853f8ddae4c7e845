"""Every number of a chosen plan with its formula and basis (catalog row + date)."""

from __future__ import annotations

from catalog import Catalog
from planner.estimators.serving import ServingSetup, estimate_serving
from planner.estimators.terms import Term
from planner.estimators.training_memory import TrainingSetup, estimate_training_memory
from planner.estimators.training_time import estimate_training_time
from planner.hosted import api_usage, rag_setup
from planner.plan import OfferChoice, Plan, ServingPlan, TrainingPlan
from planner.serving_options import HOURS_PER_MONTH, TARGET_UTILIZATION
from planner.spec import GoalSpec
from planner.training_options import startup_hours
from planner.types import Optimizer

__all__ = ["plan_estimates"]


def _offer_basis(offer: OfferChoice) -> str:
    kind = "spot" if offer.spot else "on-demand"
    return (
        f"{offer.cloud}/{offer.region} {offer.instance_type} ({offer.gpus_per_instance}× "
        f"{offer.gpu}) {kind} ${offer.usd_per_hour:.4g}/h, price of {offer.retrieved_on}"
    )


def _training_terms(t: TrainingPlan, plan: Plan, catalog: Catalog) -> list[Term]:
    arch, sku = catalog.model(plan.model), catalog.gpu(t.offer.gpu)
    gpus = t.gpus_per_node * t.nodes
    setup = TrainingSetup(
        method=t.method,
        seq_len_tokens=t.seq_len_tokens,
        micro_batch=t.micro_batch,
        lora_rank=t.lora_rank or 1,
        gpus=gpus,
        optimizer=Optimizer(t.optimizer),
        gradient_checkpointing=True,
    )
    memory = estimate_training_memory(arch, setup)
    timing = estimate_training_time(
        arch,
        sku,
        gpus,
        t.method,
        tokens=t.tokens,
        seq_len=t.seq_len_tokens,
        trainable_params=memory.trainable_params,
        gradient_checkpointing=True,
    )
    named = [
        term.model_copy(update={"name": f"train.memory.{term.name}"}) for term in memory.breakdown
    ]
    named.append(
        Term(
            name="train.memory.peak_per_gpu",
            value=memory.peak_gib_per_gpu,
            unit="GiB",
            formula=f"sum of the above ≤ {sku.memory_gib:.2f} GiB "
            f"({sku.name}: {sku.memory_note or sku.source})",
        )
    )
    named += [term.model_copy(update={"name": f"train.{term.name}"}) for term in timing.terms]
    named.append(
        Term(
            name="train.startup_hours",
            value=startup_hours(arch),
            unit="h",
            formula="provisioning + setup 0.1 h + bf16 weights at 0.5 GB/s",
        )
    )
    named.append(
        Term(
            name="train.cost_usd",
            value=t.cost_usd,
            unit="USD",
            formula=f"({t.hours_low:.2f}–{t.hours_high:.2f} h) × {t.nodes} node(s) × "
            f"{_offer_basis(t.offer)}",
        )
    )
    return named


def _serving_terms(
    s: ServingPlan, plan: Plan, goal: GoalSpec, catalog: Catalog, input_tokens: int
) -> list[Term]:
    arch, sku = catalog.model(plan.model), catalog.gpu(s.offer.gpu)
    setup = ServingSetup(
        quantization=s.quantization,
        gpus=s.tensor_parallel,
        batch=s.operating_batch,
        input_tokens=input_tokens,
        output_tokens=goal.traffic.avg_output_tokens,
    )
    e = estimate_serving(arch, sku, setup)
    terms = [term.model_copy(update={"name": f"serve.{term.name}"}) for term in e.terms]
    terms += [
        Term(
            name="serve.operating_batch",
            value=s.operating_batch,
            unit="sequences",
            formula="largest batch whose decode step keeps ≥ min_output_tokens_per_s per "
            "stream and TTFT ≤ the p95 target",
        ),
        Term(
            name="serve.requests_per_s_per_replica",
            value=s.requests_per_s_per_replica,
            unit="req/s",
            formula=f"{s.operating_batch} / ({s.operating_batch} × prefill {e.prefill_s:.4f} s"
            f" + {goal.traffic.avg_output_tokens} tokens × step {e.decode_step_s:.4f} s) × "
            f"{TARGET_UTILIZATION:.0%} target utilization (each request's prefill is exclusive "
            "GPU time; decode steps are shared by the batch)",
        ),
        Term(
            name="serve.replicas",
            value=s.replicas,
            unit="replicas",
            formula=f"ceil({goal.traffic.peak_requests_per_s:g} peak req/s / "
            f"{s.requests_per_s_per_replica:.3g})",
        ),
        Term(
            name="serve.monthly_usd",
            value=s.monthly_usd,
            unit="USD/month",
            formula=f"{s.replicas} × {_offer_basis(s.offer)} × {HOURS_PER_MONTH} h",
        ),
    ]
    return terms


def plan_estimates(plan: Plan, goal: GoalSpec, catalog: Catalog) -> tuple[Term, ...]:
    """All the plan's numbers, each with the formula and catalog rows it came from."""
    terms: list[Term] = []
    extra = 0
    if plan.rag is not None:
        _, rag_terms = rag_setup(goal)
        terms += rag_terms
        extra = plan.rag.retrieved_tokens_per_request
    if plan.training is not None:
        terms += _training_terms(plan.training, plan, catalog)
    if plan.serving is not None:
        terms += _serving_terms(
            plan.serving, plan, goal, catalog, goal.traffic.avg_input_tokens + extra
        )
    if plan.api is not None:
        _, api_terms = api_usage(
            goal, catalog.api_model(plan.api.model), fine_tuned=plan.api.fine_tuned
        )
        terms += api_terms
    terms += [
        Term(
            name="total.one_time_usd",
            value=plan.training_usd,
            unit="USD",
            formula="training + hosted fine-tuning + RAG embedding",
        ),
        Term(
            name="total.monthly_usd",
            value=plan.monthly_usd,
            unit="USD/month",
            formula="serving replicas + API tokens + vector store",
        ),
        Term(
            name="total.first_year_usd",
            value=plan.first_year_usd,
            unit="USD",
            formula=f"{plan.training_usd:,.2f} + 12 × {plan.monthly_usd:,.2f}",
        ),
    ]
    return tuple(terms)
