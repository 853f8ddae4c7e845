"""Quantized serving facts: published pre-quantized checkpoints and what each format costs.

tailor may only plan a served weight format that vLLM will run with the kernels its estimate
assumes: FP8 on GPUs with FP8 support, AWQ/GPTQ int4 (Marlin kernels) where a published
pre-quantized checkpoint of the base exists (or after a priced quantization step), and
bitsandbytes only priced as what it measures. This module holds the facts those rules need,
each with the source it was read from, the day it was read and a verbatim quote:

- ``checkpoints``: published pre-quantized checkpoints of catalog models;
- ``format_speed``: published serving speed of a format next to the 16-bit model;
- ``lora_serving``: published cost of serving a LoRA adapter unmerged;
- ``quantization_jobs``: published time to quantize a model;
- ``cold_start``: published start-up times of a vLLM engine and of a cloud replica.

A figure that is not published is absent, never imputed. Whether a checkpoint's model is a
catalog model is checked by the tests against ``models.yaml``, not here, so this module stays a
leaf that needs nothing but pydantic and the file reader.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from catalog.datafile import read_yaml_records
from catalog.errors import CatalogFileError
from catalog.quality_records import Variant

__all__ = [
    "CacheState",
    "CheckpointFormat",
    "ColdStart",
    "ColdStartScope",
    "FormatSpeed",
    "LoraServing",
    "QuantizationJob",
    "QuantizedCheckpoint",
    "QuantizedFacts",
    "ServedQuantization",
    "SpeedFormat",
    "SpotInterruption",
    "VllmMethod",
    "read_quantized",
]


def _printable(value: str) -> str:
    for char in value:
        if not char.isprintable():
            raise ValueError(f"contains the unprintable character {char!r}")
    return value


def _https(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError("must be an https:// URL")
    return value


_ModelId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
_HfId = Annotated[
    str,
    Field(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
_Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_printable)]
_Url = Annotated[str, Field(min_length=9, max_length=500), AfterValidator(_https)]
_Positive = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=1, le=100_000)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Sourced(_Record):
    """Fields every fact carries: where it was published, where it was read, a quote."""

    source: _Url = Field(description="URL of the page that publishes the fact.")
    read_at: _Text | None = Field(
        default=None,
        description="Where the text was actually read when not at `source` (a stored copy, "
        "a git commit, an installed file:line).",
    )
    quote: _Text = Field(description="Short verbatim quote from the source that states it.")
    retrieved_on: date = Field(description="Day the source was read.")
    note: _Text | None = Field(default=None, description="Caveats: who measured, how.")


class ServedQuantization(StrEnum):
    """tailor's served weight formats other than bf16 (planner.types.Quantization)."""

    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"


class CheckpointFormat(StrEnum):
    """On-disk format of a published pre-quantized checkpoint."""

    AWQ = "awq"  # AutoAWQ GEMM checkpoint (quant_method "awq")
    GPTQ = "gptq"  # AutoGPTQ / GPTQModel checkpoint (quant_method "gptq"), 4- or 8-bit
    FP8 = "fp8"  # FP8 weights (AutoFP8 / Qwen block-wise "fp8", or compressed-tensors FP8)
    W8A8_INT8 = "w8a8-int8"  # compressed-tensors INT8 weights and activations
    W4A16 = "w4a16"  # compressed-tensors INT4 weights, 16-bit activations
    MXFP4 = "mxfp4"  # OCP microscaling FP4 (gpt-oss ships its MoE weights so)


class VllmMethod(StrEnum):
    """The quantization method vLLM loads a checkpoint as (its --quantization name)."""

    AWQ_MARLIN = "awq_marlin"
    GPTQ_MARLIN = "gptq_marlin"
    FP8 = "fp8"
    COMPRESSED_TENSORS = "compressed-tensors"
    MXFP4 = "mxfp4"


_BITS: dict[CheckpointFormat, frozenset[int]] = {
    CheckpointFormat.AWQ: frozenset({4}),
    CheckpointFormat.GPTQ: frozenset({4, 8}),
    CheckpointFormat.FP8: frozenset({8}),
    CheckpointFormat.W8A8_INT8: frozenset({8}),
    CheckpointFormat.W4A16: frozenset({4}),
    CheckpointFormat.MXFP4: frozenset({4}),
}


def _expected_quantization(fmt: CheckpointFormat, bits: int) -> ServedQuantization | None:
    """tailor's Quantization a checkpoint of this format and width is served as; None for
    MXFP4, which is none of them (not an integer format, and not what int4 is priced as)."""
    if fmt is CheckpointFormat.MXFP4:
        return None
    if fmt is CheckpointFormat.FP8:
        return ServedQuantization.FP8
    return ServedQuantization.INT8 if bits == 8 else ServedQuantization.INT4


class QuantizedCheckpoint(_Sourced):
    """One published pre-quantized checkpoint of a catalog model."""

    model: _ModelId = Field(description="Catalog model id (catalog/data/models.yaml).")
    of: Variant = Field(description="Which checkpoint was quantized: instruct or base.")
    format: CheckpointFormat = Field(description="On-disk quantization format.")
    weight_bits: Literal[4, 8] = Field(description="Bits per quantized weight.")
    quantization: ServedQuantization | None = Field(
        description="tailor's served Quantization it stands for; None for MXFP4 (no match)."
    )
    hf_repo_id: _HfId = Field(description="Hugging Face repository id of the checkpoint.")
    publisher: _Text = Field(description="Who published it (model owner, Red Hat AI, ...).")
    vllm_method: VllmMethod = Field(description="What vLLM loads it as.")
    min_compute_capability: Annotated[float, Field(ge=3.0, le=20.0)] | None = Field(
        default=None,
        description="Lowest CUDA compute capability the card or vLLM states for running it "
        "as published (e.g. 8.9 for FP8 W8A8); None: not stated.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuantizedCheckpoint:
        if self.weight_bits not in _BITS[self.format]:
            raise ValueError(
                f"a {self.format.value} checkpoint cannot have {self.weight_bits}-bit weights"
            )
        expected = _expected_quantization(self.format, self.weight_bits)
        if self.quantization is not expected:
            shown = expected.value if expected else "null"
            raise ValueError(
                f"a {self.weight_bits}-bit {self.format.value} checkpoint is quantization {shown}"
            )
        return self

    @property
    def key(self) -> tuple[str, Variant, CheckpointFormat, int]:
        """What may appear once: one checkpoint per model, variant, format and width."""
        return (self.model, self.of, self.format, self.weight_bits)


class SpeedFormat(StrEnum):
    """A served weight format as a speed measurement names it."""

    BITSANDBYTES_NF4 = "bitsandbytes-nf4"
    BITSANDBYTES_INT8 = "bitsandbytes-int8"
    AWQ_MARLIN = "awq-marlin"
    GPTQ_MARLIN = "gptq-marlin"
    AWQ = "awq"  # an AWQ checkpoint; the source does not name the kernel (or it is not Marlin)
    GPTQ = "gptq"  # a GPTQ checkpoint; the source does not name the kernel
    FP8 = "fp8"
    W8A8_INT8 = "w8a8-int8"


class FormatSpeed(_Sourced):
    """A published serving-speed measurement of one format next to the 16-bit model."""

    format: SpeedFormat = Field(description="Format measured.")
    weight_bits: Literal[4, 8] = Field(description="Bits per weight of the quantized model.")
    engine: _Text = Field(description="Serving engine: vLLM, SGLang, TGI, ...")
    engine_version: _Text | None = Field(
        default=None, description="Engine version; None: not stated."
    )
    gpu: _Text = Field(description="GPU model.")
    gpu_count_baseline: _Count | None = Field(default=None, description="GPUs the 16-bit run used.")
    gpu_count_format: _Count | None = Field(
        default=None, description="GPUs the quantized run used."
    )
    model: _Text = Field(description="Model measured (as the source names it).")
    load: _Text = Field(description="Batch size, concurrency or request rate, and lengths.")
    metric: _Text = Field(description="What was measured: decode tok/s, run time, ITL, ...")
    unit: _Text = Field(description="Unit of both values.")
    higher_is_better: bool = Field(description="True for throughputs, False for times.")
    baseline_dtype: Literal["bf16", "fp16"] = Field(description="dtype of the baseline run.")
    value_baseline: _Positive = Field(description="The baseline's figure, as published.")
    value_format: _Positive = Field(description="The quantized run's figure, as published.")

    @property
    def speedup(self) -> float:
        """How many times faster the quantized run was (below 1: slower)."""
        ratio = self.value_format / self.value_baseline
        return ratio if self.higher_is_better else 1 / ratio


class LoraServing(_Sourced):
    """A published measurement of serving a LoRA adapter unmerged next to the base model."""

    engine: _Text = Field(description="Serving engine and kernel (vLLM punica, LoRAX, ...).")
    engine_version: _Text | None = Field(
        default=None, description="Engine version; None: not stated."
    )
    gpu: _Text = Field(description="GPU model and count.")
    model: _Text = Field(description="Base model (as the source names it).")
    lora_rank: _Count | None = Field(default=None, description="Adapter rank; None: not stated.")
    adapters: _Count | None = Field(default=None, description="Adapters served; None: not stated.")
    load: _Text = Field(description="Requests, rate or batch, and lengths.")
    metric: _Text = Field(description="What was measured.")
    unit: _Text = Field(description="Unit of both values.")
    higher_is_better: bool = Field(description="True for throughputs, False for times.")
    value_base: _Positive = Field(description="The base model's figure, as published.")
    value_lora: _Positive = Field(description="The figure with the adapter, as published.")

    @property
    def slowdown(self) -> float:
        """How many times slower serving with the adapter was (1: no penalty)."""
        ratio = self.value_lora / self.value_base
        return 1 / ratio if self.higher_is_better else ratio


class QuantizationJob(_Sourced):
    """A published time to quantize a model after training."""

    method: _Text = Field(description="Algorithm: GPTQ, AWQ, ...")
    tool: _Text = Field(description="Implementation: the paper's code, AutoAWQ, llm-compressor.")
    model: _Text = Field(description="Model quantized (as the source names it).")
    params_billion: _Positive = Field(description="Parameters of that model, billions.")
    gpu: _Text | None = Field(default=None, description="GPU model; None: not stated.")
    gpu_count: _Count | None = Field(default=None, description="GPUs used; None: not stated.")
    hours: _Positive = Field(description="The published time, hours.")
    hours_kind: Literal["gpu-hours", "wall-clock"] = Field(
        description="Whether `hours` is GPU-hours or elapsed time."
    )


class ColdStartScope(StrEnum):
    """What a start-up time covers."""

    ENGINE = "engine"  # inside the vLLM process: weights, torch.compile, CUDA graphs, KV cache
    REPLICA = "replica"  # a new cloud replica: VM or pod, image, model download, engine


class CacheState(StrEnum):
    """Whether the compile cache / weights were already on the machine."""

    COLD = "cold"
    WARM = "warm"
    UNSTATED = "unstated"


class ColdStart(_Sourced):
    """A published duration of one phase of bringing up a server or replica."""

    scope: ColdStartScope = Field(description="engine (inside vLLM) or replica (cloud).")
    phase: _Text = Field(description="Phase timed: weight loading, torch.compile, ...")
    platform: _Text = Field(description="Engine (with version) or cloud platform.")
    gpu: _Text | None = Field(default=None, description="GPU model and count; None: not stated.")
    model: _Text | None = Field(default=None, description="Model; None: not stated.")
    cache: CacheState = Field(description="Compile cache / weights already present?")
    seconds: _Positive = Field(description="The published duration, seconds.")


_Rate = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class SpotInterruption(_Sourced):
    """How often a cloud's spot / preemptible instances are taken back, as the constant
    hazard a planner uses (preemptions per instance-hour, a Poisson process), with its range.
    A stated fraction p over T hours is λ = −ln(1 − p) / T; a trace is preemptions / hours up."""

    cloud: _Text = Field(description="SkyPilot cloud name, or 'default' for the others.")
    applies_to: _Text = Field(description="Instances, GPUs, regions and period it covers.")
    per_hour_low: _Rate = Field(description="Calmest rate the source supports, 1/h.")
    per_hour_mid: _Rate = Field(description="The rate planned on, 1/h.")
    per_hour_high: _Rate = Field(description="Worst rate the source supports, 1/h.")
    measured_on_gpus: bool = Field(
        description="A measurement of GPU instances (not a statement about all machine types)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SpotInterruption:
        if not self.per_hour_low <= self.per_hour_mid <= self.per_hour_high:
            raise ValueError("needs per_hour_low ≤ per_hour_mid ≤ per_hour_high")
        return self


class QuantizedFacts(_Record):
    """Everything read from one quantized_checkpoints.yaml."""

    checkpoints: tuple[QuantizedCheckpoint, ...] = Field(description="Published checkpoints.")
    format_speed: tuple[FormatSpeed, ...] = Field(description="Format speed measurements.")
    lora_serving: tuple[LoraServing, ...] = Field(description="Unmerged-LoRA measurements.")
    quantization_jobs: tuple[QuantizationJob, ...] = Field(description="Quantization times.")
    cold_start: tuple[ColdStart, ...] = Field(description="Start-up times.")
    spot_interruptions: tuple[SpotInterruption, ...] = Field(
        default=(), description="Spot interruption rates per cloud."
    )

    def checkpoints_of(self, model: str) -> tuple[QuantizedCheckpoint, ...]:
        """The published checkpoints of one catalog model."""
        return tuple(c for c in self.checkpoints if c.model == model)


def _refuse_duplicates(path: Path, checkpoints: list[QuantizedCheckpoint]) -> None:
    """One checkpoint per (model, of, format, weight_bits): a second would make the planner's
    choice depend on file order."""
    seen: dict[tuple[str, Variant, CheckpointFormat, int], str] = {}
    for item in checkpoints:
        if item.key in seen:
            model, of, fmt, bits = item.key
            raise CatalogFileError(
                f"lists two {bits}-bit {fmt.value} checkpoints of the {of.value} {model} "
                f"({seen[item.key]} and {item.hf_repo_id}).",
                path=path,
                fix="keep one of them.",
            )
        seen[item.key] = item.hf_repo_id


def read_quantized(path: Path) -> QuantizedFacts:
    """Read and check quantized_checkpoints.yaml: every section validated (an unknown format,
    quantization or field is refused with file:line), and no checkpoint listed twice."""
    checkpoints = read_yaml_records(path, "checkpoints", QuantizedCheckpoint)
    _refuse_duplicates(path, checkpoints)
    return QuantizedFacts(
        checkpoints=tuple(checkpoints),
        format_speed=tuple(read_yaml_records(path, "format_speed", FormatSpeed)),
        lora_serving=tuple(read_yaml_records(path, "lora_serving", LoraServing)),
        quantization_jobs=tuple(read_yaml_records(path, "quantization_jobs", QuantizationJob)),
        cold_start=tuple(read_yaml_records(path, "cold_start", ColdStart)),
        spot_interruptions=_optional(path, "spot_interruptions", SpotInterruption),
    )


def _optional(path: Path, key: str, record: type[SpotInterruption]) -> tuple:
    """The section's records, or none when the file has no such top-level key (an older
    catalog folder: spot training is then not priced)."""
    if not re.search(rf"^{key}:", path.read_text(encoding="utf-8"), re.MULTILINE):
        return ()
    return tuple(read_yaml_records(path, key, record))
