"""Plans and the plan file: the contract between the planner and the executor.

A Plan says exactly what will be trained and served, on what, where, at what cost, with every
number's basis. ``launch`` does what the plan file says and nothing else.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import PlannerError
from planner.estimators.terms import Term
from planner.spec import GoalSpec
from planner.types import Method, Quantization, Strategy

__all__ = [
    "PLAN_SCHEMA_VERSION",
    "ApiUsage",
    "Plan",
    "PlanFile",
    "RagSetup",
    "ServingPlan",
    "TrainingPlan",
    "load_plan_file",
    "save_plan_file",
]

PLAN_SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfferChoice(_Frozen):
    """The instance an estimate is priced on."""

    cloud: str = Field(description="Cloud.")
    region: str = Field(description="Region.")
    instance_type: str = Field(description="Instance type.")
    gpu: str = Field(description="GPU SKU.")
    accelerator: str = Field(description="The accelerator's name in SkyPilot's catalog.")
    gpus_per_instance: int = Field(description="GPUs in one instance.")
    usd_per_hour: float = Field(description="Price of one instance, $/h, as used.")
    spot: bool = Field(description="Priced (and to be launched) as spot.")
    retrieved_on: date = Field(description="Date of the price.")


class TrainingPlan(_Frozen):
    """Fine-tuning resources, hyperparameters and their estimates."""

    method: Method = Field(description="full, lora or qlora.")
    lora_rank: int | None = Field(description="LoRA rank (None for full).")
    lora_alpha: int | None = Field(description="LoRA alpha (2 × rank).")
    lora_targets: tuple[str, ...] = Field(description="Adapted matrices.")
    seq_len_tokens: int = Field(description="Max tokens per training sequence.")
    micro_batch: int = Field(description="Sequences per GPU per step.")
    gradient_accumulation: int = Field(description="Micro-batches per optimizer step.")
    gradient_checkpointing: bool = Field(description="Recompute activations.")
    optimizer: str = Field(description="adamw, adamw_8bit or paged_adamw_8bit.")
    learning_rate: float = Field(description="Peak learning rate.")
    epochs: int = Field(description="Passes over the training set.")
    train_examples: int = Field(description="Examples trained on.")
    tokens: int = Field(description="Tokens processed over all epochs.")
    gpus_per_node: int = Field(description="GPUs per node.")
    nodes: int = Field(description="Nodes (multi-node when > 1).")
    offer: OfferChoice = Field(description="Instance the run is priced on.")
    alternative_offers: tuple[OfferChoice, ...] = Field(
        default=(), description="Next-cheapest allowed instances of the same shape (failover)."
    )
    peak_memory_gib_per_gpu: float = Field(description="Estimated peak memory per GPU, GiB.")
    gpu_memory_gib: float = Field(description="GPU memory, GiB.")
    hours_low: float = Field(description="Optimistic hours.")
    hours_high: float = Field(description="Pessimistic hours.")
    cost_usd_low: float = Field(description="Optimistic training cost, $.")
    cost_usd_high: float = Field(description="Pessimistic training cost, $.")

    @property
    def hours(self) -> float:
        """Mid estimate of hours."""
        return (self.hours_low + self.hours_high) / 2

    @property
    def cost_usd(self) -> float:
        """Mid estimate of training cost, $."""
        return (self.cost_usd_low + self.cost_usd_high) / 2


class ServingPlan(_Frozen):
    """A vLLM endpoint: format, GPUs, replicas and the load each replica runs at."""

    quantization: Quantization = Field(description="Weight format served.")
    tensor_parallel: int = Field(description="GPUs per replica.")
    replicas: int = Field(description="Replicas needed for peak traffic.")
    max_concurrent_sequences: int = Field(description="vLLM --max-num-seqs per replica.")
    max_model_len: int = Field(description="vLLM --max-model-len.")
    operating_batch: int = Field(description="Concurrent sequences per replica at the target.")
    requests_per_s_per_replica: float = Field(description="Sustained requests/s per replica.")
    offer: OfferChoice = Field(description="Instance one replica runs on.")
    alternative_offers: tuple[OfferChoice, ...] = Field(
        default=(), description="Next-cheapest allowed instances of the same shape (failover)."
    )
    weights_gib_per_gpu: float = Field(description="Weights per GPU, GiB.")
    p95_ttft_s: float = Field(description="Estimated p95 time to first token, s.")
    output_tokens_per_s_per_stream: float = Field(description="Decode speed of one stream.")
    monthly_usd: float = Field(description="replicas × $/h × 730 h.")


class ApiUsage(_Frozen):
    """A hosted model used through its API (plain or fine-tuned)."""

    model: str = Field(description="provider/model.")
    fine_tuned: bool = Field(description="Served as a fine-tuned model.")
    input_usd_per_mtok: float = Field(description="Input price used, $/1M tokens.")
    output_usd_per_mtok: float = Field(description="Output price used, $/1M tokens.")
    training_usd: float = Field(description="Hosted fine-tuning cost, $ (0 if none).")
    monthly_usd: float = Field(description="Token cost per month, $.")
    p95_ttft_s: float = Field(description="Assumed p95 TTFT of the provider, s.")


class RagSetup(_Frozen):
    """Retrieval: index size, extra prompt tokens and cost."""

    knowledge_base_tokens: int = Field(description="Tokens indexed.")
    chunks: int = Field(description="Chunks of chunk_tokens.")
    retrieved_tokens_per_request: int = Field(description="Context added to each prompt.")
    embedding_usd: float = Field(description="One-time embedding cost, $.")
    vector_store_usd_per_month: float = Field(description="Vector store hosting, $/month.")


class Plan(_Frozen):
    """One way to meet the goal, fully costed."""

    id: str = Field(description="Short stable id, e.g. p1.")
    strategy: Strategy = Field(description="How the goal is met.")
    model: str = Field(description="Catalog model id or provider/model.")
    training: TrainingPlan | None = Field(description="Fine-tuning on our GPUs, if any.")
    serving: ServingPlan | None = Field(description="Self-hosted endpoint, if any.")
    api: ApiUsage | None = Field(description="Hosted API use, if any.")
    rag: RagSetup | None = Field(description="Retrieval, if any.")
    training_usd: float = Field(description="One-time cost, $ (training + embedding).")
    monthly_usd: float = Field(description="Recurring cost, $/month.")
    first_year_usd: float = Field(description="training_usd + 12 × monthly_usd.")
    p95_ttft_s: float = Field(description="Estimated p95 time to first token, s.")
    output_tokens_per_s: float = Field(description="Per-stream output speed, tokens/s.")
    pareto: bool = Field(default=False, description="On the cost × latency Pareto front.")
    decision_path: tuple[str, ...] = Field(description="Each decision and why.")
    estimates: tuple[Term, ...] = Field(description="Every number with its formula and basis.")


class PlanFile(_Frozen):
    """What `tailor plan --out` writes and `tailor launch` reads."""

    schema_version: int = Field(default=PLAN_SCHEMA_VERSION, description="Plan file format.")
    tailor_version: str = Field(description="tailor version that wrote it.")
    catalog_snapshot_date: date = Field(description="Date of the prices used.")
    goal: GoalSpec = Field(description="The goal planned for.")
    plan: Plan = Field(description="The chosen plan.")
    alternatives: tuple[Plan, ...] = Field(default=(), description="Other ranked plans.")


def save_plan_file(plan_file: PlanFile, path: Path) -> None:
    """Write JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
    data = plan_file.model_dump(mode="json")
    text = (
        yaml.safe_dump(data, sort_keys=False)
        if path.suffix in (".yaml", ".yml")
        else json.dumps(data, indent=2) + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def load_plan_file(path: Path) -> PlanFile:
    """Read a plan file; a wrong version or shape is a PlannerError naming the field."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as exc:  # deep nesting
        raise PlannerError(
            f"{path}: cannot be read as a plan file ({exc}). To fix: pass a "
            "file written by `tailor plan --out`."
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != PLAN_SCHEMA_VERSION:
        raise PlannerError(
            f"{path}: plan schema_version is {version!r}, this tailor reads "
            f"{PLAN_SCHEMA_VERSION}. To fix: re-run `tailor plan` to rewrite it."
        )
    try:
        return PlanFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PlannerError(
            f"{path}: {field}: {first['msg']}. To fix: re-run `tailor plan` "
            "rather than editing the plan file by hand."
        ) from None
