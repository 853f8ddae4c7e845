"""Hosted-API and RAG estimates: token costs, hosted fine-tuning, retrieval infrastructure."""

from __future__ import annotations

import math

from catalog import ApiModel
from planner.estimators.terms import GIB, Term, num
from planner.plan import ApiUsage, Plan, RagSetup
from planner.spec import GoalSpec
from planner.types import HOURS_PER_MONTH

__all__ = [
    "API_P95_TTFT_S",
    "API_TOKENS_PER_S",
    "RAG_RETRIEVED_TOKENS",
    "REASONING_TOKENS_PER_REQUEST",
    "api_usage",
    "rag_setup",
    "total_terms",
]

API_P95_TTFT_S = 0.8
"""Assumed p95 TTFT of a hosted API, s. tailor does not measure providers; check their status
pages. A goal with a tighter TTFT target excludes hosted APIs."""
API_TOKENS_PER_S = 50.0
"""Assumed per-stream output speed of a hosted API, tokens/s (same caveat)."""
REASONING_TOKENS_PER_REQUEST = 1000
"""Assumed hidden reasoning tokens per request of a model that bills them (catalog
``reasoning_tokens``), when the goal gives no ``traffic.avg_reasoning_tokens``. OpenAI's
reasoning guide says they range "from a few hundred to tens of thousands" per request; 1,000 is
a low-effort chat turn. They are billed as output and are generated before the first visible
token, so they also add reasoning tokens / API_TOKENS_PER_S to the time to first token."""

RAG_CHUNK_TOKENS = 512  # chunk size and top-k: the defaults of LangChain/LlamaIndex-style RAG
RAG_TOP_K = 4
RAG_RETRIEVED_TOKENS = RAG_CHUNK_TOKENS * RAG_TOP_K
EMBEDDING_DIMENSIONS = 1024
EMBEDDING_USD_PER_MTOK = 0.02  # OpenAI text-embedding-3-small, openai.com/api/pricing (2025)
INDEX_OVERHEAD = 1.5  # HNSW graph links + metadata on top of raw float32 vectors
VECTOR_HOST_GIB = 12  # vectors one 16 GiB host holds, leaving room for the OS and the service
VECTOR_HOST_USD_PER_HOUR = 0.126  # AWS r6i.large (2 vCPU, 16 GiB) on-demand, us-east-1


def _requests_basis(goal: GoalSpec) -> str:
    b = goal.batch
    if b is None:
        return "requests/month"
    return (
        f"requests/month of the batch jobs ({b.tokens:,} tokens a job / "
        f"({goal.traffic.avg_input_tokens:,} + {goal.traffic.avg_output_tokens:,}) tokens a "
        f"request × {b.jobs_per_month:g} jobs; provider batch discounts not applied)"
    )


def api_usage(goal: GoalSpec, api: ApiModel, *, fine_tuned: bool) -> tuple[ApiUsage, list[Term]]:
    """Monthly token cost (and hosted training cost) of answering the goal's traffic."""
    t = goal.traffic
    extra = RAG_RETRIEVED_TOKENS if goal.task.needs_fresh_knowledge else 0
    ft = api.fine_tuning if fine_tuned else None
    price_in = ft.input_usd_per_mtok if ft else api.input_usd_per_mtok
    price_out = ft.output_usd_per_mtok if ft else api.output_usd_per_mtok
    input_tokens = t.avg_input_tokens + extra
    reasoning = _reasoning_tokens(goal, api)
    output_tokens = t.avg_output_tokens + reasoning
    requests = goal.monthly_requests
    monthly = requests * (input_tokens * price_in + output_tokens * price_out)
    monthly /= 1e6
    ttft = API_P95_TTFT_S + reasoning / API_TOKENS_PER_S
    training = 0.0
    if ft is not None and ft.training_usd_per_mtok is not None:
        training = goal.data.training_tokens * ft.training_usd_per_mtok / 1e6
    usage = ApiUsage(
        model=api.id,
        fine_tuned=fine_tuned,
        input_usd_per_mtok=price_in,
        output_usd_per_mtok=price_out,
        training_usd=training,
        monthly_usd=monthly,
        p95_ttft_s=ttft,
    )
    src = f"{api.source} ({api.source_date or api.retrieved_on})"
    terms = [
        Term(
            name="api_monthly_usd",
            value=monthly,
            unit="USD/month",
            formula=f"{num(requests)} × ({input_tokens:,} × {num(price_in)} + "
            f"{output_tokens:,} × {num(price_out)}) / 1e6",
            basis=f"{_requests_basis(goal)} × (input tokens × $/1M in + output tokens × $/1M "
            "out) / 1M"
            f"{' (input includes the retrieved context)' if extra else ''}"
            f"{_reasoning_basis(goal, reasoning)}; prices: {src}",
        )
    ]
    if training:
        assert ft is not None and ft.training_usd_per_mtok is not None
        terms.append(
            Term(
                name="api_training_usd",
                value=training,
                unit="USD",
                formula=f"{goal.data.training_tokens:,} × {num(ft.training_usd_per_mtok)} / 1e6",
                basis=f"training tokens (all epochs) × $/1M training tokens ({src})",
            )
        )
    terms.append(
        Term(
            name="api_p95_ttft",
            value=ttft,
            unit="s",
            formula=num(API_P95_TTFT_S)
            + (f" + {reasoning:,} / {num(API_TOKENS_PER_S)}" if reasoning else ""),
            basis="assumption: tailor does not measure hosted-API latency"
            + (
                "; the hidden reasoning tokens come before the first visible one, at the "
                "assumed API_TOKENS_PER_S"
                if reasoning
                else ""
            ),
        )
    )
    return usage, terms


def _reasoning_tokens(goal: GoalSpec, api: ApiModel) -> int:
    """Hidden reasoning tokens per request: the goal's figure, else the assumption."""
    if not api.reasoning_tokens:
        return 0
    given = goal.traffic.avg_reasoning_tokens
    return REASONING_TOKENS_PER_REQUEST if given is None else given


def _reasoning_basis(goal: GoalSpec, reasoning: int) -> str:
    if not reasoning:
        return ""
    if goal.traffic.avg_reasoning_tokens is not None:
        return f"; output includes {reasoning:,} reasoning tokens (traffic.avg_reasoning_tokens)"
    return (
        f"; output includes {reasoning:,} hidden reasoning tokens billed as output "
        "(assumption REASONING_TOKENS_PER_REQUEST: 'a few hundred to tens of thousands' per "
        "OpenAI's reasoning guide; set traffic.avg_reasoning_tokens to your measured figure)"
    )


def rag_setup(goal: GoalSpec) -> tuple[RagSetup, list[Term]]:
    """Index size, one-time embedding cost and vector-store hosting for the knowledge base."""
    kb = goal.task.knowledge_base_tokens
    chunks = math.ceil(kb / RAG_CHUNK_TOKENS)
    index_gib = chunks * EMBEDDING_DIMENSIONS * 4 * INDEX_OVERHEAD / GIB
    hosts = max(1, math.ceil(index_gib / VECTOR_HOST_GIB))
    store = hosts * VECTOR_HOST_USD_PER_HOUR * HOURS_PER_MONTH
    embed = kb * EMBEDDING_USD_PER_MTOK / 1e6 if goal.privacy.data_can_leave else 0.0
    setup = RagSetup(
        knowledge_base_tokens=kb,
        chunks=chunks,
        retrieved_tokens_per_request=RAG_RETRIEVED_TOKENS,
        embedding_usd=embed,
        vector_store_usd_per_month=store,
    )
    terms = [
        Term(
            name="rag_extra_prompt_tokens",
            value=RAG_RETRIEVED_TOKENS,
            unit="tokens",
            formula=f"{RAG_TOP_K} × {RAG_CHUNK_TOKENS}",
            basis="top-k chunks × chunk tokens (assumed defaults)",
        ),
        Term(
            name="rag_embedding_usd",
            value=embed,
            unit="USD",
            formula=f"{kb:,} × {num(EMBEDDING_USD_PER_MTOK)} / 1e6" if embed else "0",
            basis="knowledge-base tokens × $/1M (OpenAI text-embedding-3-small)"
            if embed
            else "embedded on the serving GPUs (data may not leave): no API cost",
        ),
        Term(
            name="rag_vector_store_usd_per_month",
            value=store,
            unit="USD/month",
            formula=f"max(1, ceil({chunks:,} × {EMBEDDING_DIMENSIONS} × 4 × {INDEX_OVERHEAD} / "
            f"GiB / {VECTOR_HOST_GIB})) × {VECTOR_HOST_USD_PER_HOUR} × {HOURS_PER_MONTH}",
            basis=f"hosts for the index ({index_gib:.2f} GiB: chunks × dims × 4 B float32 × "
            f"HNSW overhead, {VECTOR_HOST_GIB} GiB per host) × r6i.large "
            f"${VECTOR_HOST_USD_PER_HOUR}/h (AWS us-east-1) × hours per month",
        ),
    ]
    return setup, terms


def total_terms(
    plan: Plan,
    one_time_parts: tuple[tuple[str, float | None], ...],
    monthly_parts: tuple[tuple[str, float | None], ...],
) -> tuple[Term, ...]:
    """The plan's one-time, monthly and first-year totals from the parts they were summed of."""

    def total(parts: tuple[tuple[str, float | None], ...]) -> tuple[str, str]:
        used = [(name, value) for name, value in parts if value is not None]
        if not used:
            return "0", "nothing"
        return " + ".join(num(v) for _, v in used), " + ".join(name for name, _ in used)

    one_formula, one_basis = total(one_time_parts)
    month_formula, month_basis = total(monthly_parts)
    return (
        Term(
            name="total.one_time_usd",
            value=plan.one_time_usd,
            unit="USD",
            formula=one_formula,
            basis=one_basis,
        ),
        Term(
            name="total.monthly_usd",
            value=plan.monthly_usd,
            unit="USD/month",
            formula=month_formula,
            basis=month_basis,
        ),
        Term(
            name="total.first_year_usd",
            value=plan.first_year_usd,
            unit="USD",
            formula=f"{num(plan.one_time_usd)} + 12 × {num(plan.monthly_usd)}",
            basis="one-time + 12 months",
        ),
    )
