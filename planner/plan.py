"""Plans and the plan file: the contract between the planner and the executor.

A Plan says exactly what will be trained and served, on what, where, at what cost, with every
number's basis. ``launch`` does what the plan file says and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from catalog import write_text_atomic
from planner.errors import PlannerError, printable
from planner.estimators.terms import Term, TermSource
from planner.quality import PlanQuality
from planner.spec import GoalSpec
from planner.types import (
    HOURS_PER_MONTH,
    AttentionImpl,
    Method,
    Precision,
    Quantization,
    Sharding,
    Strategy,
)

__all__ = [
    "MAX_BATCH_INSTANCES",
    "MAX_GPUS_PER_INSTANCE",
    "MAX_NODES",
    "MAX_REPLICAS",
    "MAX_TRAINING_HOURS",
    "PLAN_SCHEMA_VERSION",
    "ApiUsage",
    "BatchPlan",
    "CostLine",
    "OfferChoice",
    "Plan",
    "PlanFile",
    "RagSetup",
    "ServingPlan",
    "SpotRisk",
    "TrainingPlan",
    "content_digest",
    "load_plan_file",
    "save_plan_file",
]

PLAN_SCHEMA_VERSION = 7

# --- what a plan file may say ---------------------------------------------------------------
# A plan file is read back from disk and may have been written by anyone (the digest is no
# defence: it can be recomputed), so every field is validated like the goal's: ids like names,
# numbers finite and in range. The caps are far above any real plan and keep every product of
# plan numbers (nodes × $/h × hours, replicas × $/h × 730) a sane finite figure.
MAX_NODES = 1024
"""Most nodes one training run may span (the planner tries up to 16)."""
MAX_GPUS_PER_INSTANCE = 64
"""Most GPUs in one instance (the largest catalog instance has 16)."""
MAX_REPLICAS = 10_000
"""Most serving replicas a plan may ask for (its replica policy's max_replicas included)."""
MAX_BATCH_INSTANCES = 256
"""Most instances one batch job may run on in parallel."""
MAX_TRAINING_HOURS = 10_000.0
"""Longest pessimistic training estimate a plan may carry, h (about 14 months)."""
_MAX_COUNT = 10**15  # the goal's own cap on counts (planner.spec)
_MAX_TOKENS = 1 << 24  # sequence / context lengths, tokens (16.7 M)
_MAX_BATCH = 1 << 30  # micro-batches, accumulation steps, concurrent sequences
_MAX_LORA_RANK = 1 << 16
_MAX_USD_PER_HOUR = 10_000.0  # one instance; the dearest catalog row is about $100/h
_MAX_TEXT = 2_000  # one line of explanation (decision path, basis, source)
_MAX_LINES = 1_000  # lines of explanation of one kind


def _printable_line(text: str) -> bool:
    return len(text) <= _MAX_TEXT and text.isprintable()


def _one_line(text: str) -> str:
    if not _printable_line(text):
        raise ValueError(f"is not one line of at most {_MAX_TEXT:,} printable characters")
    return text


_FROM_FILE = "plan_file"  # validation context key: the data was read from a plan file
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # as GoalSpec.name: letters, digits, '.', '_', '-'
_Name = Annotated[str, Strict(), Field(min_length=1, max_length=100, pattern=_NAME)]
_Id = Annotated[str, Strict(), Field(max_length=63, pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$")]
_ModelId = Annotated[  # catalog ids (llama-3-8b), provider/model, Hugging Face owner/name
    str,
    Strict(),
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$",
    ),
]
_CloudName = Annotated[str, Strict(), Field(max_length=40, pattern=r"^[a-z][a-z0-9-]*$")]
_Region = Annotated[  # vast names regions "Florida, US, NA"
    str, Strict(), Field(max_length=80, pattern=r"^[A-Za-z0-9]([A-Za-z0-9 ,._-]*[A-Za-z0-9])?$")
]
_Word = Annotated[str, Strict(), Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
_ModuleName = Annotated[
    str, Strict(), Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
]
_Line = Annotated[str, Strict(), AfterValidator(_one_line)]  # free text shown by explain
_Flag = Annotated[bool, Strict()]
_Count = Annotated[int, Strict(), Field(ge=0, le=_MAX_COUNT)]
_Tokens = Annotated[int, Strict(), Field(ge=1, le=_MAX_TOKENS)]
_Batch = Annotated[int, Strict(), Field(ge=1, le=_MAX_BATCH)]
_Gpus = Annotated[int, Strict(), Field(ge=1, le=MAX_GPUS_PER_INSTANCE)]
_Rank = Annotated[int, Strict(), Field(ge=1, le=_MAX_LORA_RANK)]
_Usd = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
_Amount = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
_Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
_Hours = Annotated[float, Strict(), Field(ge=0, le=MAX_TRAINING_HOURS, allow_inf_nan=False)]


def _same_shape(offers: tuple[OfferChoice, ...], gpus: int, what: str) -> None:
    """Every offer has exactly the GPUs the task asks each instance for (render asks SkyPilot
    for ``{accelerator: gpus}`` on that instance type)."""
    for offer in offers:
        if offer.gpus_per_instance != gpus:
            raise ValueError(
                f"{what} is {gpus}, but offer {offer.cloud}/{offer.region} "
                f"{offer.instance_type} has {offer.gpus_per_instance} GPUs"
            )


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

    cloud: _CloudName = Field(description="Cloud.")
    region: _Region = Field(description="Region.")
    instance_type: _Name = Field(description="Instance type.")
    gpu: _Name = Field(description="GPU SKU.")
    accelerator: _Name = Field(description="The accelerator's name in SkyPilot's catalog.")
    gpus_per_instance: _Gpus = Field(description="GPUs in one instance.")
    usd_per_hour: Annotated[
        float, Strict(), Field(gt=0, le=_MAX_USD_PER_HOUR, allow_inf_nan=False)
    ] = Field(description="Price of one instance, $/h, as used.")
    spot: _Flag = Field(description="Priced (and to be launched) as spot.")
    retrieved_on: date = Field(description="Date of the price.")
    tier: Annotated[
        str, Strict(), Field(pattern=r"^(hyperscaler|specialist|marketplace|unknown)$")
    ] = Field(
        default="unknown",
        description="Provider tier of the cloud (catalog clouds.yaml): hyperscaler, specialist "
        "cloud, or community marketplace of individually owned hosts.",
    )


class SpotRisk(_Frozen):
    """What a spot training run is expected to cost beyond its uninterrupted hours
    (planner.estimators.spot): preemptions at the cloud's cited rate, checkpoints every
    ``checkpoint_every_hours``, a restart per preemption. The plan's hours and costs are the
    expected ones; these say how they were reached and what the same run costs on demand."""

    rate_per_hour: _Amount = Field(description="Preemptions per job-hour planned on (mid).")
    rate_low_per_hour: _Amount = Field(description="Calmest rate of the source, per job-hour.")
    rate_high_per_hour: _Amount = Field(description="Worst rate of the source, per job-hour.")
    rate_source: _Line = Field(description="Where the rate comes from (catalog row's source).")
    checkpoint_every_hours: _Positive = Field(description="Young's interval √(2C/λ), h.")
    checkpoint_write_hours: _Amount = Field(description="C: one checkpoint's write, h.")
    restart_hours: _Amount = Field(description="R: a new instance to the first step again, h.")
    expected_preemptions: _Amount = Field(description="λ × expected hours (mid).")
    expected_usd: _Usd = Field(description="Expected cost at the mid rate and mid MFU, $.")
    uninterrupted_usd: _Usd = Field(description="The same run never preempted (best case), $.")
    on_demand_usd: _Usd | None = Field(
        description="The same run on the shape's cheapest on-demand instance (mid hours, no "
        "preemption): the ceiling spot is weighed against; None when none is offered."
    )
    capacity_warning: _Line | None = Field(
        default=None, description="Why this spot shape may be hard to get, when it is."
    )


class TrainingPlan(_Explained):
    """Fine-tuning resources, hyperparameters and their estimates."""

    method: Method = Field(description="full, lora or qlora.")
    lora_rank: _Rank | None = Field(description="LoRA rank (None for full).")
    lora_alpha: _Rank | None = Field(description="LoRA alpha (2 × rank).")
    lora_targets: Annotated[tuple[_ModuleName, ...], Field(max_length=64)] = Field(
        description="Adapted matrices."
    )
    seq_len_tokens: _Tokens = Field(description="Max tokens per training sequence.")
    micro_batch: _Batch = Field(description="Sequences per GPU per step.")
    gradient_accumulation: _Batch = Field(description="Micro-batches per optimizer step.")
    gradient_checkpointing: _Flag = Field(description="Recompute activations.")
    sharding: Sharding | None = Field(
        default=None,
        description="Multi-GPU: ddp, fsdp, fsdp-hybrid or zero3; None on one GPU.",
    )
    packing: _Flag = Field(
        default=True, description="Examples packed into full sequences (trl bfd, padding-free)."
    )
    attention: AttentionImpl = Field(
        default=AttentionImpl.SDPA, description="Attention kernel: sdpa, flash or eager."
    )
    precision: Precision = Field(
        description="Compute precision: bf16-mixed (bf16 autocast, fp32 master weights or "
        "adapters), bf16-pure (everything in bf16) or fp16-mixed (fp16 autocast with loss "
        "scaling: GPUs without bf16)."
    )
    optimizer: _Word = Field(description="adamw, adamw_8bit or paged_adamw_8bit.")
    learning_rate: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        description="Peak learning rate."
    )
    epochs: Annotated[int, Strict(), Field(ge=1, le=_MAX_COUNT)] = Field(
        description="Passes over the training set."
    )
    train_examples: _Count = Field(description="Examples trained on.")
    tokens: Annotated[int, Strict(), Field(ge=0)] = Field(
        description="Tokens processed over all epochs."
    )
    gpus_per_node: _Gpus = Field(description="GPUs per node.")
    nodes: Annotated[int, Strict(), Field(ge=1, le=MAX_NODES)] = Field(
        description="Nodes (multi-node when > 1)."
    )
    offer: OfferChoice = Field(description="Instance the run is priced on.")
    alternative_offers: Annotated[tuple[OfferChoice, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(), description="Next-cheapest allowed instances of the same shape (failover)."
    )
    peak_memory_gib_per_gpu: _Amount = Field(description="Estimated peak memory per GPU, GiB.")
    gpu_memory_gib: _Positive = Field(description="GPU memory, GiB.")
    hours_low: _Hours = Field(description="Optimistic hours.")
    hours_high: Annotated[_Hours, Field(gt=0)] = Field(
        description="Pessimistic hours (> 0: the job's timeout is this × MAX_RUNTIME_FACTOR)."
    )
    cost_usd_low: _Usd = Field(description="Optimistic training cost, $.")
    cost_usd_high: _Usd = Field(description="Pessimistic training cost, $.")
    save_steps: Annotated[int, Strict(), Field(ge=1, le=_MAX_COUNT)] = Field(
        default=100, description="Optimizer steps between checkpoints (spot: from its rate)."
    )
    spot: SpotRisk | None = Field(
        default=None, description="Preemption, checkpoint and restart model of a spot run."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPlan:
        if self.hours_low > self.hours_high or self.cost_usd_low > self.cost_usd_high:
            raise ValueError("the optimistic hours or cost exceed the pessimistic ones")
        if self.method is not Method.FULL and (self.lora_rank is None or self.lora_alpha is None):
            raise ValueError(f"method {self.method} needs lora_rank and lora_alpha")
        _same_shape((self.offer, *self.alternative_offers), self.gpus_per_node, "gpus_per_node")
        if (self.spot is not None) != self.offer.spot:
            raise ValueError("spot holds the preemption model exactly when offer.spot is true")
        return self

    @property
    def hours(self) -> float:
        """Mid estimate of hours."""
        return (self.hours_low + self.hours_high) / 2

    @property
    def cost_usd(self) -> float:
        """Mid estimate of training cost, $."""
        return (self.cost_usd_low + self.cost_usd_high) / 2


class _VllmEngine(_Explained):
    """What one vLLM engine runs: the weight format, GPUs, scheduler limits and instance."""

    quantization: Quantization = Field(description="Weight format served.")
    tensor_parallel: _Gpus = Field(description="GPUs per replica.")
    max_concurrent_sequences: _Batch = Field(
        description="vLLM --max-num-seqs per replica: the most sequences a step batches "
        "(concurrency_p999 stays within it)."
    )
    max_num_batched_tokens: _Batch = Field(
        description="vLLM --max-num-batched-tokens: the per-step token budget shared by "
        "decodes and prompt chunks (chunked prefill)."
    )
    max_model_len: _Tokens = Field(
        description="vLLM --max-model-len: the longest prompt + output the goal allows."
    )
    offer: OfferChoice = Field(description="Instance one replica runs on.")
    alternative_offers: Annotated[tuple[OfferChoice, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(), description="Next-cheapest allowed instances of the same shape (failover)."
    )
    weights_gib_per_gpu: _Amount = Field(description="Weights per GPU, GiB.")
    served_repo_id: _ModelId | None = Field(
        default=None,
        description="A published pre-quantized checkpoint served instead of the plan's "
        "hf_repo_id (AWQ/GPTQ/FP8/W8A8, planner.quantization); None: the plan's own weights.",
    )
    vllm_quantization: Literal["fp8"] | None = Field(
        default=None,
        description="vLLM --quantization: 'fp8' quantizes 16-bit weights while loading; None: "
        "leave the flag out (bf16, or a quantized checkpoint whose config.json names its "
        "method, which vLLM reads and runs with its Marlin kernels).",
    )
    format_basis: _Line = Field(
        default="the 16-bit weights as they are",
        description="Why the served format is allowed here and how its weights are obtained.",
    )

    def _check_shape(self) -> None:
        _same_shape((self.offer, *self.alternative_offers), self.tensor_parallel, "tensor_parallel")


class ServingPlan(_VllmEngine):
    """A vLLM endpoint: format, GPUs, replicas and the load each replica runs at."""

    replicas: Annotated[int, Strict(), Field(ge=1, le=MAX_REPLICAS)] = Field(
        description="Replicas needed for peak traffic (traffic.peak_requests_per_s)."
    )
    min_replicas: Annotated[int, Strict(), Field(ge=0, le=MAX_REPLICAS)] = Field(
        description="SkyServe replica_policy.min_replicas: replicas always up (0: scale to "
        "zero, a replica starts when a request arrives).",
    )
    max_replicas: Annotated[int, Strict(), Field(ge=1, le=MAX_REPLICAS)] = Field(
        description="SkyServe replica_policy.max_replicas (≥ replicas, so the peak is served).",
    )
    replica_hours_per_month: _Amount = Field(
        description="Expected replica-hours billed per 730-hour month under SkyServe's "
        "request-rate autoscaler (planner.estimators.autoscale).",
    )
    p_cold_start: Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Chance a request finds no ready replica (0 unless min_replicas is 0).",
    )
    replica_cold_start_s: _Amount = Field(
        description="Launch of a fresh replica to serving: provisioning and setup (assumed), "
        "the weights' download (assumed rate) and vLLM's start (published phases), s.",
    )
    operating_concurrency: _Amount = Field(
        description="Mean sequences decoding per replica at the planned load."
    )
    concurrency_p999: _Amount = Field(
        description="99.9th percentile of the sequences in flight per replica (≤ "
        "max_concurrent_sequences)."
    )
    utilization: Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        description="Planned load as a share of the replica's saturation (≤ 0.8)."
    )
    requests_per_s_per_replica: _Positive = Field(
        description="Planned requests/s per replica (its SkyServe target QPS)."
    )
    network_rtt_s: _Amount = Field(
        default=0.0,
        description="Round trip from the serving region to the farthest user area (in "
        "p95_ttft_s); 0 when the goal does not say where its users are.",
    )
    p95_ttft_s: _Amount = Field(
        description="Estimated p95 time to first token at the planned load (queueing and "
        "prefill interference included), s."
    )
    output_tokens_per_s_per_stream: _Positive = Field(
        description="Decode speed of one stream at the planned load."
    )
    monthly_usd: _Usd = Field(description="replica_hours_per_month × $/h.")

    @property
    def replicas_label(self) -> str:
        """The replica count as shown: "2", or "0–3" when the autoscaler moves it."""
        if self.min_replicas == self.max_replicas:
            return str(self.max_replicas)
        return f"{self.min_replicas}–{self.max_replicas}"

    @model_validator(mode="after")
    def _consistent(self) -> ServingPlan:
        self._check_shape()
        if not self.min_replicas <= self.max_replicas or self.replicas > self.max_replicas:
            raise ValueError(
                f"replica policy min {self.min_replicas}, max {self.max_replicas} does not "
                f"hold the {self.replicas} replicas the peak needs (0 ≤ min ≤ max, peak ≤ max)"
            )
        low, high = self.min_replicas * HOURS_PER_MONTH, self.max_replicas * HOURS_PER_MONTH
        if not low * (1 - 1e-9) <= self.replica_hours_per_month <= high * (1 + 1e-9):
            raise ValueError(
                f"replica_hours_per_month {self.replica_hours_per_month:g} is outside what the "
                f"replica policy bills: {low:g} (min {self.min_replicas} replicas all month) to "
                f"{high:g} (max {self.max_replicas} all month)"
            )
        if self.concurrency_p999 > self.max_concurrent_sequences:
            raise ValueError(
                f"concurrency_p999 {self.concurrency_p999:g} exceeds max_concurrent_sequences "
                f"{self.max_concurrent_sequences} (vLLM would queue those requests)"
            )
        return self


class BatchPlan(_VllmEngine):
    """Offline batch jobs: vLLM's run-batch over a file of requests, on instances started for
    the job and stopped when it ends (a SkyPilot managed job)."""

    instances: Annotated[int, Strict(), Field(ge=1, le=MAX_BATCH_INSTANCES)] = Field(
        description="Instances a job runs on in parallel, each on its share of the requests "
        "(more than one only to meet batch.deadline_hours).",
    )
    tokens_per_job: Annotated[int, Strict(), Field(ge=1)] = Field(
        description="Prompt + output tokens of one job (batch.tokens)."
    )
    requests_per_job: _Positive = Field(
        description="Requests in one job: tokens_per_job / the average request's tokens."
    )
    jobs_per_month: _Positive = Field(description="Jobs a month (batch.jobs_per_month).")
    requests_per_s_per_instance: _Positive = Field(
        description="Requests/s one instance finishes with its batch kept full (vLLM's "
        "scheduler at max_concurrent_sequences or the KV cache's limit)."
    )
    output_tokens_per_s_per_instance: _Positive = Field(
        description="Generated tokens/s of one instance at that load."
    )
    output_tokens_per_s_per_stream: _Positive = Field(
        description="Decode speed of one sequence in the full batch."
    )
    concurrency: _Amount = Field(description="Sequences decoding per instance, on average.")
    startup_hours: _Hours = Field(
        description="Launch of an instance to its first request: provisioning and setup "
        "(assumed), the weights' download (assumed rate) and vLLM's start, hours."
    )
    hours_per_job: Annotated[_Hours, Field(gt=0)] = Field(
        description="A job's wall-clock hours: startup_hours + its share of the requests at "
        "requests_per_s_per_instance."
    )
    cost_per_job_usd: _Usd = Field(description="instances × hours_per_job × $/h.")
    monthly_usd: _Usd = Field(description="jobs_per_month × cost_per_job_usd.")

    @model_validator(mode="after")
    def _consistent(self) -> BatchPlan:
        self._check_shape()
        if self.hours_per_job < self.startup_hours:
            raise ValueError(
                f"hours_per_job {self.hours_per_job:g} is shorter than startup_hours "
                f"{self.startup_hours:g}"
            )
        return self


class ApiUsage(_Frozen):
    """A hosted model used through its API (plain or fine-tuned)."""

    model: _ModelId = Field(description="provider/model.")
    fine_tuned: _Flag = Field(description="Served as a fine-tuned model.")
    input_usd_per_mtok: _Usd = Field(description="Input price used, $/1M tokens.")
    output_usd_per_mtok: _Usd = Field(description="Output price used, $/1M tokens.")
    training_usd: _Usd = Field(description="Hosted fine-tuning cost, $ (0 if none).")
    monthly_usd: _Usd = Field(description="Token cost per month, $.")
    p95_ttft_s: _Amount = Field(description="Assumed p95 TTFT of the provider, s.")


class CostLine(_Frozen):
    """A line of the bill beyond the GPU instances (egress, disks, controllers, storage)."""

    name: _Line = Field(description="What is billed, e.g. 'response egress'.")
    phase: Annotated[str, Strict(), Field(pattern=r"^(training|serving|storage)$")] = Field(
        description="training, serving or storage."
    )
    quantity: _Line = Field(description="How much, with its unit.")
    unit_price: _Line = Field(description="Price per unit, as used.")
    one_time_usd: _Usd = Field(description="One-time part, $.")
    monthly_usd: _Usd = Field(description="Recurring part, $/month.")
    basis: _Line = Field(description="The formula's inputs and where the price comes from.")


class RagSetup(_Frozen):
    """Retrieval: index size, extra prompt tokens and cost."""

    knowledge_base_tokens: _Count = Field(description="Tokens indexed.")
    chunks: _Count = Field(description="Chunks of chunk_tokens.")
    retrieved_tokens_per_request: _Count = Field(description="Context added to each prompt.")
    embedding_usd: _Usd = Field(description="One-time embedding cost, $.")
    vector_store_usd_per_month: _Usd = Field(description="Vector store hosting, $/month.")


class Plan(_Explained):
    """One way to meet the goal, fully costed."""

    id: _Id = Field(
        description="Short stable id, e.g. p1: letters, digits, '.', '_', '-' (empty only "
        "until the plan is ranked; a plan file's plans all have one)."
    )
    strategy: Strategy = Field(description="How the goal is met.")
    model: _ModelId = Field(description="Catalog model id or provider/model.")
    training: TrainingPlan | None = Field(description="Fine-tuning on our GPUs, if any.")
    serving: ServingPlan | None = Field(description="Self-hosted endpoint, if any.")
    batch: BatchPlan | None = Field(
        default=None, description="Self-hosted offline batch jobs, if any (instead of serving)."
    )
    api: ApiUsage | None = Field(description="Hosted API use, if any.")
    rag: RagSetup | None = Field(description="Retrieval, if any.")
    hf_repo_id: _ModelId | None = Field(
        default=None,
        description="Hugging Face repository id of the open model's weights (what training "
        "and serving download); None for a hosted API model.",
    )
    hf_gated: bool = Field(
        default=False,
        description="hf_repo_id asks users to accept its terms (catalog `gated`): the "
        "training and serving tasks need an HF_TOKEN with access.",
    )
    extra_costs: Annotated[tuple[CostLine, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(),
        description="The bill beyond GPU instances and tokens: egress, disks, SkyPilot "
        "controllers, checkpoint storage (in one_time_usd and monthly_usd).",
    )
    one_time_usd: _Usd = Field(
        description="One-time cost, $: training (training.cost_usd) + hosted fine-tuning + "
        "RAG embedding + the one-time extra_costs."
    )
    monthly_usd: _Usd = Field(description="Recurring cost, $/month.")
    first_year_usd: _Usd = Field(description="one_time_usd + 12 × monthly_usd.")
    p95_ttft_s: _Amount = Field(description="Estimated p95 time to first token, s.")
    output_tokens_per_s: _Amount = Field(description="Per-stream output speed, tokens/s.")
    pareto: _Flag = Field(
        default=False, description="On the Pareto front of cost × p95 TTFT × expected quality."
    )
    quality: PlanQuality | None = Field(
        default=None,
        description="Expected score on the goal's benchmark after the plan's decisions, with "
        "the basis of each step (every plan the planner makes has one).",
    )
    warnings: Annotated[tuple[_Line, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(),
        description="What may stop the plan within its first year: a hosted model that retires, "
        "a fine-tuning offer closing to new jobs or accounts (with dates and sources).",
    )
    reference: _Line | None = Field(
        default=None,
        description="Set on a reference row: the best plan of a strategy a decision rule "
        "pruned, shown for comparison and never launched; the text names the rule.",
    )
    decision_path: Annotated[tuple[_Line, ...], Field(max_length=_MAX_LINES)] = Field(
        description="Each decision and why."
    )
    estimates: Annotated[tuple[Term, ...], Field(max_length=_MAX_LINES)] = Field(
        description="Every number with its formula and basis."
    )
    sources: Annotated[tuple[_Line, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(),
        description="The catalog rows the numbers came from (snapshot date, model, GPUs, "
        "offers, API prices), each with its source and date.",
    )

    @field_validator("id")
    @classmethod
    def _ranked(cls, plan_id: str, info: ValidationInfo) -> str:
        if not plan_id and (info.context or {}).get(_FROM_FILE):
            raise ValueError("is empty (plans get one, p1, p2, ..., when they are ranked)")
        return plan_id

    @field_validator("hf_repo_id")
    @classmethod
    def _hub_id(cls, repo: str | None) -> str | None:
        if repo is not None and ("--" in repo or ".." in repo or repo.endswith((".", "-"))):
            raise ValueError("is not a Hugging Face repository id ('--', '..' or a trailing '.')")
        return repo

    @field_validator("estimates")
    @classmethod
    def _printable_terms(cls, terms: tuple[Term, ...]) -> tuple[Term, ...]:
        for i, term in enumerate(terms):
            texts = (term.name, term.unit, term.formula, term.basis)
            if not math.isfinite(term.value) or any(not _printable_line(t) for t in texts):
                raise ValueError(
                    f"term {i} ({printable(term.name[:60])}) has a non-finite value or a "
                    "field that is not one printable line"
                )
        return terms

    @model_validator(mode="after")
    def _one_way_to_run(self) -> Plan:
        if self.serving is not None and self.batch is not None:
            raise ValueError("a plan serves online or runs batch jobs, not both")
        return self

    def explained(self) -> Plan:
        """This plan with ``estimates`` built from its term builders, and no builder left."""
        update: dict[str, object] = {"estimates": self.built_terms() or self.estimates}
        if self.training is not None:
            update["training"] = self.training.without_term_source()
        if self.serving is not None:
            update["serving"] = self.serving.without_term_source()
        if self.batch is not None:
            update["batch"] = self.batch.without_term_source()
        return self.model_copy(update=update).without_term_source()


class PlanFile(_Frozen):
    """What `tailor plan --out` writes and `tailor launch` reads."""

    schema_version: Annotated[int, Strict()] = Field(
        default=PLAN_SCHEMA_VERSION, description="Plan file format."
    )
    tailor_version: Annotated[
        str, Strict(), Field(max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")
    ] = Field(description="tailor version that wrote it.")
    catalog_snapshot_date: date = Field(description="Date of the prices used.")
    planned_on: date | None = Field(
        default=None, description="Day the plan was made (hosted-model lifecycle is judged on it)."
    )
    goal: GoalSpec = Field(description="The goal planned for.")
    plan: Plan = Field(description="The chosen plan.")
    alternatives: Annotated[tuple[Plan, ...], Field(max_length=_MAX_LINES)] = Field(
        default=(), description="Other ranked plans."
    )
    data_path: Annotated[str, Strict(), Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="The goal's data.path as an absolute path (resolved against the goal "
        "file's folder when the plan was made); None when the goal names no data file.",
    )
    digest: Annotated[str, Strict(), Field(max_length=64, pattern=r"^[0-9a-f]*$")] = Field(
        default="",
        description="sha256 of the file's content without this field (see content_digest); "
        "a plan file edited by hand no longer matches and is refused.",
    )

    @field_validator("plan")
    @classmethod
    def _not_a_reference(cls, plan: Plan) -> Plan:
        if plan.reference is not None:
            raise ValueError(
                f"is reference row {plan.id} ({plan.reference}), which is shown for comparison "
                "and never launched"
            )
        return plan

    @field_validator("data_path")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        if path is not None and (not Path(path).is_absolute() or not path.isprintable()):
            raise ValueError("is not an absolute path of printable characters")
        return path

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


MAX_PLAN_BYTES = 32 << 20  # 32 MiB: a plan file with its goal and alternatives is ~100 KiB


def _plan_text(path: Path) -> str:
    """The file's UTF-8 text; ValueError for what is no regular file (a FIFO would block, a
    device never end) or is over MAX_PLAN_BYTES, before it is read whole."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("it is not a regular file (a folder, FIFO or device)")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ValueError("it is not a regular file (a folder, FIFO or device)")
        data = file.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES:
        raise ValueError(f"it is over {MAX_PLAN_BYTES:,} bytes")
    return data.decode("utf-8")


def load_plan_file(path: Path) -> PlanFile:
    """Read a plan file; a wrong version or shape is a PlannerError naming the field."""
    try:
        text = _plan_text(path)
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as exc:  # deep nesting
        raise PlannerError(
            printable(
                f"{path}: cannot be read as a plan file ({_shown(exc, 300)}). To fix: pass a "
                "file written by `tailor plan --out`."
            )
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != PLAN_SCHEMA_VERSION:
        raise PlannerError(
            f"{path}: plan schema_version is {_shown(repr(version))}, this tailor reads "
            f"{PLAN_SCHEMA_VERSION}. To fix: re-run `tailor plan` to rewrite it."
        )
    try:
        plan_file = PlanFile.model_validate(data, context={_FROM_FILE: True})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(_shown(p) for p in first["loc"])
        raise PlannerError(
            printable(
                f"{path}: {field}: {_shown(first['msg'], 300)}. To fix: re-run `tailor plan` "
                "rather than editing the plan file by hand."
            )
        ) from None
    if plan_file.digest != content_digest(plan_file):
        raise PlannerError(
            f"{path}: the plan file's content does not match its digest: it was edited after "
            "`tailor plan` wrote it (prices, GPUs or shapes changed by hand are not launched). "
            f"To fix: re-plan with `tailor plan GOAL --plan {plan_file.plan.id} --out {path}`."
        )
    return plan_file


def _shown(part: object, limit: int = 80) -> str:
    """A piece of a plan file (a key, an error) short enough for a one-paragraph message."""
    text = str(part)
    return text if len(text) <= limit else f"{text[:limit]}…"
