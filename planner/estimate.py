"""The scriptable estimators behind `tailor estimate train|serve`: one GPU setup, all numbers.

Pure functions over the catalog: they look the model and GPU up, run the estimators, and return
reports whose every number has a formula (``terms``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog import Catalog
from planner.errors import PlannerError
from planner.estimators.serving import ServingSetup, estimate_serving
from planner.estimators.terms import Term
from planner.estimators.training_memory import estimate_training_memory
from planner.estimators.training_setup import MEMORY_LIMIT, TrainingSetup
from planner.estimators.training_time import estimate_training_time
from planner.training_options import precision_for
from planner.types import Precision

__all__ = ["ServeReport", "TrainReport", "estimate_serve", "estimate_train"]


class TrainReport(BaseModel):
    """Training memory and speed of one model on one GPU type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="Catalog model id.")
    gpu: str = Field(description="GPU SKU.")
    gpus: int = Field(description="GPUs the run uses (all nodes).")
    nodes: int = Field(description="Machines the GPUs span.")
    sharding: str = Field(description="ddp, fsdp, fsdp-hybrid or zero3 (one GPU: none).")
    packing: bool = Field(description="Examples packed into full sequences.")
    method: str = Field(description="full, lora or qlora.")
    peak_memory_gib_per_gpu: float = Field(description="Estimated peak memory per GPU, GiB.")
    gpu_memory_gib: float = Field(description="The GPU's memory as the driver reports it, GiB.")
    breakdown_gib: dict[str, float] = Field(description="Peak memory by component, GiB.")
    memory_utilization: float = Field(description="Estimated peak / the GPU's memory.")
    memory_limit_gib: float = Field(
        description="The most a setup may need to fit: MEMORY_LIMIT (90 %) of the GPU's memory."
    )
    fits: bool = Field(description="peak_memory_gib_per_gpu ≤ memory_limit_gib.")
    precision: str = Field(description="bf16-mixed, bf16-pure or fp16-mixed, as estimated.")
    precision_basis: str = Field(description="Why that precision (given, or the GPU's).")
    trainable_params: int = Field(description="Parameters that receive gradients.")
    tokens_per_s: float = Field(description="Training tokens/s over all GPUs (mid MFU).")
    mfu_low: float = Field(description="Low end of the fitted MFU range.")
    mfu_high: float = Field(description="High end of the fitted MFU range.")
    padding: float = Field(description="Tokens computed per real token (1 when packed).")
    flops_per_token: float = Field(description="Training FLOPs per token.")
    tokens: int | None = Field(description="Tokens to train on, if given.")
    hours: float | None = Field(description="Mid estimate of hours for `tokens`; null without.")
    hours_low: float | None = Field(description="Optimistic hours.")
    hours_high: float | None = Field(description="Pessimistic hours.")
    terms: tuple[Term, ...] = Field(description="Every number with its formula.")


class ServeReport(BaseModel):
    """Serving capacity and speed of one model on one GPU type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="Catalog model id.")
    gpu: str = Field(description="GPU SKU.")
    tensor_parallel: int = Field(description="GPUs per replica (vLLM tensor parallelism).")
    quantization: str = Field(description="Weight format.")
    batch: int = Field(description="Concurrent sequences.")
    weights_gib_per_gpu: float = Field(description="Weights per GPU, GiB.")
    kv_cache_gib: float = Field(description="KV cache of the batch (all GPUs), GiB.")
    fits: bool = Field(description="Weights + runtime + the batch's KV fit.")
    decode_tokens_per_s: float = Field(description="Aggregate output tokens/s over the batch.")
    per_sequence_tokens_per_s: float = Field(description="Output tokens/s of one stream.")
    ttft_s: float = Field(description="Time to first token, s.")
    max_concurrent_sequences: int = Field(description="Full-length sequences the KV holds.")
    usable_gib_per_gpu: float = Field(description="GPU memory × vLLM utilization, GiB.")
    terms: tuple[Term, ...] = Field(description="Every number with its formula.")


def estimate_train(
    catalog: Catalog, *, model: str, gpu: str, setup: TrainingSetup, tokens: int | None = None
) -> TrainReport:
    """Peak memory per GPU, throughput and (with ``tokens``) hours of one training setup."""
    arch, sku = catalog.model(model), catalog.gpu(gpu)
    precision, why = _precision(sku, setup)
    memory = estimate_training_memory(arch, setup)
    timing = estimate_training_time(
        arch,
        sku,
        setup.gpus,
        setup.method,
        tokens=tokens or 0,
        seq_len_tokens=setup.seq_len_tokens,
        trainable_params=memory.trainable_params,
        gradient_checkpointing=setup.gradient_checkpointing,
        precision=precision,
        micro_batch=setup.micro_batch,
        nodes=setup.nodes,
        packing=setup.packing,
        example_tokens=setup.example_tokens,
    )
    given = tokens is not None
    limit = MEMORY_LIMIT * sku.memory_gib
    return TrainReport(
        model=arch.id,
        gpu=sku.name,
        gpus=setup.gpus,
        nodes=setup.nodes,
        sharding=str(setup.sharding) if setup.gpus > 1 else "none",
        packing=setup.packing,
        method=str(setup.method),
        peak_memory_gib_per_gpu=round(memory.peak_gib_per_gpu, 2),
        gpu_memory_gib=sku.memory_gib,
        breakdown_gib=memory.breakdown_gib(),
        memory_utilization=round(memory.peak_gib_per_gpu / sku.memory_gib, 4),
        memory_limit_gib=round(limit, 2),
        fits=memory.peak_gib_per_gpu <= limit,
        precision=str(precision),
        precision_basis=why,
        trainable_params=memory.trainable_params,
        tokens_per_s=round(timing.tokens_per_s, 1),
        mfu_low=round(timing.mfu.low, 4),
        mfu_high=round(timing.mfu.high, 4),
        padding=round(timing.padding, 4),
        flops_per_token=timing.flops_per_token,
        tokens=tokens,
        hours=round(timing.hours, 3) if given else None,
        hours_low=round(timing.hours_low, 3) if given else None,
        hours_high=round(timing.hours_high, 3) if given else None,
        terms=memory.breakdown + (timing.terms() if given else timing.terms()[:2]),
    )


def _precision(sku, setup: TrainingSetup) -> tuple[Precision, str]:
    """The setup's precision (given, checked against the GPU) or the GPU's own."""
    if setup.precision is None:
        return precision_for(sku)
    if setup.precision is not Precision.FP16_MIXED and not (
        sku.supports_bf16 and sku.bf16_dense_tflops is not None
    ):
        raise PlannerError(
            f"precision {setup.precision}: {sku.name} has no bf16 ({sku.architecture}), so a "
            "bf16 run would be emulated at a fraction of its speed. To fix: use --precision "
            "fp16-mixed, or leave --precision out."
        )
    return setup.precision, f"given ({setup.precision})"


def estimate_serve(catalog: Catalog, *, model: str, gpu: str, setup: ServingSetup) -> ServeReport:
    """Weights, KV cache, capacity, decode tokens/s and TTFT of one serving setup."""
    arch, sku = catalog.model(model), catalog.gpu(gpu)
    e = estimate_serving(arch, sku, setup)
    return ServeReport(
        model=arch.id,
        gpu=sku.name,
        tensor_parallel=setup.tensor_parallel,
        quantization=str(setup.quantization),
        batch=setup.batch,
        weights_gib_per_gpu=round(e.weights_gib_per_gpu, 3),
        kv_cache_gib=round(e.kv_cache_gib, 3),
        fits=e.fits,
        decode_tokens_per_s=round(e.decode_tokens_per_s, 1),
        per_sequence_tokens_per_s=round(e.per_sequence_tokens_per_s, 2),
        ttft_s=round(e.ttft_s, 4),
        max_concurrent_sequences=e.max_concurrent_sequences,
        usable_gib_per_gpu=round(e.usable_gib_per_gpu, 2),
        terms=e.terms,
    )
