"""Plans and the plan file: the contract between the planner and the executor.

A Plan says exactly what will be trained and served, on what, where, at what cost, with every
number's basis. ``launch`` does what the plan file says and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from catalog import write_text_atomic
from planner.errors import PlannerError
from planner.estimators.terms import Term, TermSource
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
    "content_digest",
    "load_plan_file",
    "save_plan_file",
]

PLAN_SCHEMA_VERSION = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Explained(_Frozen):
    """A frozen model that may carry, until it is shown, the builder of its estimate terms.

    The builder (``TermSource``) closes over the numbers the estimate was made from, so a term
    is never computed twice; it is private (not in the file, not compared once cleared).
    """

    _term_source: TermSource | None = PrivateAttr(default=None)

    def with_term_source(self, source: TermSource) -> Self:
        """This model, set to build its terms with ``source`` when asked (call it on a model
        just made; the fields are unchanged, so it stays the same value)."""
        self._term_source = source
        return self

    def built_terms(self) -> tuple[Term, ...]:
        """The terms from the builder (empty when there is none)."""
        return self._term_source() if self._term_source is not None else ()

    def without_term_source(self) -> Self:
        """A copy with no builder (equal to the same model read back from a file)."""
        copy = self.model_copy()
        copy._term_source = None
        return copy


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


class TrainingPlan(_Explained):
    """Fine-tuning resources, hyperparameters and their estimates."""

    method: Method = Field(description="full, lora or qlora.")
    lora_rank: int | None = Field(description="LoRA rank (None for full).")
    lora_alpha: int | None = Field(description="LoRA alpha (2 × rank).")
    lora_targets: tuple[str, ...] = Field(description="Adapted matrices.")
    seq_len_tokens: int = Field(description="Max tokens per training sequence.")
    micro_batch: int = Field(description="Sequences per GPU per step.")
    gradient_accumulation: int = Field(description="Micro-batches per optimizer step.")
    gradient_checkpointing: bool = Field(description="Recompute activations.")
    precision: str = Field(
        default="bf16", description="Compute precision of the run (bf16 mixed precision)."
    )
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


class ServingPlan(_Explained):
    """A vLLM endpoint: format, GPUs, replicas and the load each replica runs at."""

    quantization: Quantization = Field(description="Weight format served.")
    tensor_parallel: int = Field(description="GPUs per replica.")
    replicas: int = Field(description="Replicas needed for peak traffic.")
    max_concurrent_sequences: int = Field(
        description="vLLM --max-num-seqs per replica: the operating batch, the most concurrent "
        "sequences at which the latency targets hold."
    )
    max_model_len: int = Field(description="vLLM --max-model-len.")
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


class Plan(_Explained):
    """One way to meet the goal, fully costed."""

    id: str = Field(description="Short stable id, e.g. p1.")
    strategy: Strategy = Field(description="How the goal is met.")
    model: str = Field(description="Catalog model id or provider/model.")
    training: TrainingPlan | None = Field(description="Fine-tuning on our GPUs, if any.")
    serving: ServingPlan | None = Field(description="Self-hosted endpoint, if any.")
    api: ApiUsage | None = Field(description="Hosted API use, if any.")
    rag: RagSetup | None = Field(description="Retrieval, if any.")
    hf_repo_id: str | None = Field(
        default=None,
        description="Hugging Face repository id of the open model's weights (what training "
        "and serving download); None for a hosted API model.",
    )
    one_time_usd: float = Field(
        description="One-time cost, $: training (training.cost_usd) + hosted fine-tuning + "
        "RAG embedding."
    )
    monthly_usd: float = Field(description="Recurring cost, $/month.")
    first_year_usd: float = Field(description="one_time_usd + 12 × monthly_usd.")
    p95_ttft_s: float = Field(description="Estimated p95 time to first token, s.")
    output_tokens_per_s: float = Field(description="Per-stream output speed, tokens/s.")
    pareto: bool = Field(default=False, description="On the cost × latency Pareto front.")
    decision_path: tuple[str, ...] = Field(description="Each decision and why.")
    estimates: tuple[Term, ...] = Field(description="Every number with its formula and basis.")
    sources: tuple[str, ...] = Field(
        default=(),
        description="The catalog rows the numbers came from (snapshot date, model, GPUs, "
        "offers, API prices), each with its source and date.",
    )

    def explained(self) -> Plan:
        """This plan with ``estimates`` built from its term builders, and no builder left."""
        update: dict[str, object] = {"estimates": self.built_terms() or self.estimates}
        if self.training is not None:
            update["training"] = self.training.without_term_source()
        if self.serving is not None:
            update["serving"] = self.serving.without_term_source()
        return self.model_copy(update=update).without_term_source()


class PlanFile(_Frozen):
    """What `tailor plan --out` writes and `tailor launch` reads."""

    schema_version: int = Field(default=PLAN_SCHEMA_VERSION, description="Plan file format.")
    tailor_version: str = Field(description="tailor version that wrote it.")
    catalog_snapshot_date: date = Field(description="Date of the prices used.")
    goal: GoalSpec = Field(description="The goal planned for.")
    plan: Plan = Field(description="The chosen plan.")
    alternatives: tuple[Plan, ...] = Field(default=(), description="Other ranked plans.")
    data_path: str | None = Field(
        default=None,
        description="The goal's data.path as an absolute path (resolved against the goal "
        "file's folder when the plan was made); None when the goal names no data file.",
    )
    digest: str = Field(
        default="",
        description="sha256 of the file's content without this field (see content_digest); "
        "a plan file edited by hand no longer matches and is refused.",
    )

    def sealed(self) -> PlanFile:
        """This plan file with its digest set."""
        return self.model_copy(update={"digest": content_digest(self)})


def content_digest(plan_file: PlanFile) -> str:
    """sha256 of the plan file's JSON content, digest field excluded, keys sorted."""
    data = plan_file.model_dump(mode="json", exclude={"digest"})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_plan_file(plan_file: PlanFile, path: Path) -> None:
    """Write JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically, sealed with its digest."""
    data = plan_file.sealed().model_dump(mode="json")
    text = (
        yaml.safe_dump(data, sort_keys=False)
        if path.suffix in (".yaml", ".yml")
        else json.dumps(data, indent=2) + "\n"
    )
    write_text_atomic(path, text)


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
        plan_file = PlanFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PlannerError(
            f"{path}: {field}: {first['msg']}. To fix: re-run `tailor plan` "
            "rather than editing the plan file by hand."
        ) from None
    if plan_file.digest != content_digest(plan_file):
        raise PlannerError(
            f"{path}: the plan file's content does not match its digest: it was edited after "
            "`tailor plan` wrote it (prices, GPUs or shapes changed by hand are not launched). "
            f"To fix: re-plan with `tailor plan GOAL --plan {plan_file.plan.id} --out {path}`."
        )
    return plan_file
