"""Catalog records: the immutable facts every estimate is computed from.

Every record read from a file is a frozen pydantic model that forbids unknown fields, and every
number carries its unit in its name and a ``source`` with the date it was retrieved.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Strict,
    model_validator,
)

__all__ = [
    "ApiModel",
    "FineTuningPrice",
    "GpuSku",
    "ModelArch",
    "Offer",
    "Vendor",
]


def _printable(value: str) -> str:
    """Refuse characters that are not printable (newlines, escapes, NUL, lone surrogates,
    format and separator characters other than the space): no name has them, and they would
    break a table, a CSV row, the UTF-8 file it is saved to or the plan file that quotes it."""
    for char in value:
        if not char.isprintable():
            raise ValueError(f"contains the unprintable character {char!r}")
    return value


# Text and names read from the user's files. The name patterns are the plan file's own
# (planner.plan), so every row the catalog accepts can be carried by a plan.
_Name = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_printable)]
_Note = Annotated[str, Field(max_length=1024), AfterValidator(_printable)]
_ModelId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]  # lower case
_HfId = Annotated[  # owner/name, as a Hugging Face repository id
    str,
    Field(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$"),
]
_Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]  # instance, GPU
_CloudName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
_Region = Annotated[  # vast names regions "Florida, US, NA"
    str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9 ,._-]{0,78}[A-Za-z0-9])?$")
]


# Architecture counts: JSON/YAML integers only (no "4096", 4096.0 or true), from 1 to bounds far
# above any published model (largest shipped: vocab 256,000, width 16,384, 128 experts) that keep
# every parameter count and memory estimate a finite float.
_Layers = Annotated[int, Strict(), Field(ge=1, le=1024)]
_Width = Annotated[int, Strict(), Field(ge=1, le=2**17)]
_Heads = Annotated[int, Strict(), Field(ge=1, le=4096)]
_Vocab = Annotated[int, Strict(), Field(ge=1, le=2**24)]
_Tokens = Annotated[int, Strict(), Field(ge=1, le=2**24)]
_Experts = Annotated[int, Strict(), Field(ge=1, le=1024)]
# $/h of one instance: from a hundredth of a cent to $10,000 (the dearest GPU VM is ~$200/h).
_UsdPerHour = Annotated[float, Field(ge=1e-4, le=1e4, allow_inf_nan=False)]
_HostSize = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


def _split_zones(value: object) -> object:
    if isinstance(value, str):
        return tuple(z for z in value.split(";") if z)
    return value


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Vendor(StrEnum):
    """Who makes the accelerator."""

    NVIDIA = "nvidia"
    AMD = "amd"


class GpuSku(_Record):
    """One GPU model with its vendor datasheet figures (dense, never with sparsity)."""

    name: str = Field(description="Canonical name; SkyPilot's accelerator name where it has one.")
    aliases: tuple[str, ...] = Field(
        default=(), description="Other spellings, matched ignoring case."
    )
    vendor: Vendor = Field(description="Maker of the GPU.")
    architecture: str = Field(description="Micro-architecture, e.g. hopper, ampere, cdna3.")
    memory_gb: PositiveFloat = Field(description="Datasheet memory in GB (marketing figure).")
    memory_gib: PositiveFloat = Field(description="Device memory the driver reports, in GiB.")
    memory_note: str | None = Field(default=None, description="Where memory_gib came from.")
    memory_type: str | None = Field(default=None, description="HBM3, GDDR6, ...")
    memory_bandwidth_gb_per_s: PositiveFloat = Field(description="Peak memory bandwidth, GB/s.")
    bf16_dense_tflops: PositiveFloat | None = Field(
        description="Dense BF16 tensor TFLOPs; None: no BF16."
    )
    fp16_dense_tflops: PositiveFloat = Field(description="Dense FP16 tensor TFLOPs.")
    fp8_dense_tflops: PositiveFloat | None = Field(default=None, description="Dense FP8 TFLOPs.")
    int8_dense_tops: PositiveFloat | None = Field(default=None, description="Dense INT8 TOPs.")
    int4_dense_tops: PositiveFloat | None = Field(default=None, description="Dense INT4 TOPs.")
    fp32_tflops: PositiveFloat | None = Field(default=None, description="Non-tensor FP32 TFLOPs.")
    supports_bf16: bool = Field(description="Native BF16 arithmetic.")
    supports_fp8: bool = Field(default=False, description="Native FP8 tensor cores.")
    supports_flash_attention_2: bool = Field(description="FlashAttention-2 kernels run on it.")
    interconnect: str = Field(description="GPU-to-GPU link: nvlink, pcie or infinity-fabric.")
    interconnect_gb_per_s: PositiveFloat = Field(description="GPU-to-GPU bandwidth per GPU, GB/s.")
    pcie_generation: PositiveInt | None = Field(default=None, description="Host PCIe generation.")
    tdp_watts: PositiveFloat | None = Field(default=None, description="Board power, W.")
    source: str = Field(description="URL of the datasheet the figures come from.")
    source_title: str | None = Field(default=None, description="Title of that datasheet.")
    retrieved_on: date = Field(description="Day the figures were taken from the source.")
    notes: str | None = Field(default=None, description="Caveats about any figure in this row.")

    @property
    def matmul_dense_tflops(self) -> float:
        """Peak dense tensor TFLOPs in the 16-bit dtype training uses (BF16, else FP16)."""
        return self.bf16_dense_tflops or self.fp16_dense_tflops


class Offer(_Record):
    """One rentable instance type in one region of one cloud, with its hourly prices."""

    cloud: _CloudName = Field(
        description="Cloud name as SkyPilot spells it: aws, gcp, azure, lambda, ..."
    )
    region: _Region = Field(description="Region name on that cloud.")
    instance_type: _Sku = Field(description="Instance type that carries the GPUs.")
    gpu: _Sku = Field(description="Canonical GpuSku name.")
    gpu_count: Annotated[int, Field(ge=1, le=64)] = Field(description="GPUs in one instance.")
    vcpus: _HostSize | None = Field(default=None, description="Host vCPUs.")
    memory_gib: _HostSize | None = Field(default=None, description="Host RAM, GiB.")
    price_usd_per_hour: _UsdPerHour = Field(description="On-demand price of the instance, $/h.")
    spot_price_usd_per_hour: _UsdPerHour | None = Field(
        default=None, description="Spot / preemptible price of the instance, $/h; None: no spot."
    )
    host_price_usd_per_hour: _UsdPerHour | None = Field(
        default=None,
        description="Part of price_usd_per_hour that is the host VM, where the cloud prices the "
        "GPUs and the VM in separate rows (GCP); None elsewhere.",
    )
    host_spot_price_usd_per_hour: _UsdPerHour | None = Field(
        default=None, description="Host-VM part of spot_price_usd_per_hour (GCP)."
    )
    accelerator_name: _Sku | None = Field(
        default=None, description="The accelerator's name in the source catalog, if not `gpu`."
    )
    zones: Annotated[tuple[_Name, ...], BeforeValidator(_split_zones), Field(max_length=256)] = (
        Field(default=(), description="Availability zones that sell it (';'-separated in CSV).")
    )
    source: _Note = Field(description="Where the price comes from (catalog file or price page).")
    retrieved_on: date = Field(description="Date of the price source.")

    @property
    def sky_accelerator_name(self) -> str:
        """The name SkyPilot's catalog uses for this offer's accelerator."""
        return self.accelerator_name or self.gpu

    @property
    def price_usd_per_gpu_hour(self) -> float:
        """On-demand $/h divided by the GPUs in the instance."""
        return self.price_usd_per_hour / self.gpu_count


class ModelArch(_Record):
    """A decoder-only transformer's architecture, as its Hugging Face config.json gives it."""

    id: _ModelId = Field(description="Catalog id, lower case, e.g. llama-3.1-8b.")
    hf_id: _HfId = Field(description="Hugging Face repository id of the weights.")
    instruct_hf_id: _HfId | None = Field(
        default=None,
        description="The post-trained (instruct / chat) checkpoint of the same architecture, "
        "which plans prompt and fine-tune; None when hf_id is already one.",
    )
    aliases: tuple[_Name, ...] = Field(
        default=(), description="Other names, matched ignoring case."
    )
    family: _Name = Field(description="Architecture family (config model_type).")
    num_layers: _Layers = Field(description="num_hidden_layers.")
    hidden_size: _Width = Field(description="Model width d_model.")
    num_attention_heads: _Heads = Field(description="Query heads.")
    num_key_value_heads: _Heads = Field(description="Key/value heads (GQA).")
    head_dim: _Heads = Field(description="Dimension of one attention head.")
    intermediate_size: _Width = Field(description="Dense MLP width (per expert if no moe size).")
    vocab_size: _Vocab = Field(description="Tokenizer vocabulary = embedding rows.")
    tie_word_embeddings: bool = Field(description="lm_head shares the embedding matrix.")
    max_context_tokens: _Tokens = Field(description="max_position_embeddings.")
    sliding_window_tokens: _Tokens | None = Field(
        default=None, description="Sliding attention window on (some) layers, tokens."
    )
    num_experts: _Experts | None = Field(default=None, description="Routed experts per MoE layer.")
    num_experts_per_token: _Experts | None = Field(default=None, description="Experts per token.")
    moe_intermediate_size: _Width | None = Field(
        default=None, description="Width of one expert's MLP; defaults to intermediate_size."
    )
    attention_qkv_bias: bool = Field(default=False, description="q/k/v projections carry a bias.")
    attention_output_bias: bool = Field(default=False, description="o projection carries a bias.")
    mlp_bias: bool = Field(default=False, description="MLP / expert projections carry biases.")
    router_bias: bool = Field(default=False, description="MoE router carries a bias.")
    attention_sinks: bool = Field(default=False, description="One learned sink logit per head.")
    qk_norm: bool = Field(default=False, description="RMSNorm on q and k per head (Qwen3).")
    norms_per_layer: Annotated[int, Field(ge=1, le=16)] = Field(
        default=2, description="RMSNorm vectors per layer."
    )
    native_weight_dtype: _Name = Field(default="bf16", description="Dtype the weights ship in.")
    license: _Name = Field(description="License id of the weights.")
    gated: bool = Field(
        default=False,
        description="The Hugging Face repository asks each user to accept terms before download "
        "(its model page's access form): training and serving need an HF_TOKEN with access.",
    )
    published_params: Annotated[int, Field(ge=1, le=10**15)] | None = Field(
        default=None, description="Published total parameter count, for checking the formula."
    )
    published_params_source: _Note | None = Field(default=None, description="Where that count is.")
    source: _Note = Field(description="URL of the config.json these fields come from.")
    retrieved_on: date = Field(description="Day the config was read.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelArch:
        if self.num_key_value_heads > self.num_attention_heads:
            raise ValueError(
                f"num_key_value_heads ({self.num_key_value_heads}) exceeds num_attention_heads "
                f"({self.num_attention_heads}); each key/value head serves one or more query heads"
            )
        if (self.num_experts is None) != (self.num_experts_per_token is None):
            raise ValueError(
                "num_experts and num_experts_per_token go together: an MoE names both its "
                "experts and how many route each token; a dense model names neither"
            )
        if self.num_experts_per_token and self.num_experts_per_token > (self.num_experts or 0):
            raise ValueError(
                f"num_experts_per_token ({self.num_experts_per_token}) exceeds num_experts "
                f"({self.num_experts})"
            )
        return self

    @property
    def is_moe(self) -> bool:
        """True when the MLPs are mixtures of experts."""
        return bool(self.num_experts)


class FineTuningPrice(_Record):
    """A provider's supervised fine-tuning offer for one hosted model."""

    training_usd_per_mtok: PositiveFloat | None = Field(description="Training, $ per 1M tokens.")
    input_usd_per_mtok: PositiveFloat = Field(description="Fine-tuned model input, $/1M tokens.")
    output_usd_per_mtok: PositiveFloat = Field(description="Fine-tuned model output, $/1M tokens.")
    cached_input_usd_per_mtok: PositiveFloat | None = Field(
        default=None, description="Fine-tuned model cached input, $/1M tokens."
    )
    training_usd_per_hour: PositiveFloat | None = Field(
        default=None, description="Training billed by time (e.g. reinforcement fine-tuning), $/h."
    )
    via: str = Field(description="Who runs the fine-tuning: openai, amazon-bedrock, ...")
    method: str | None = Field(
        default=None, description="What the provider trains: lora, full, ... (None: not said)."
    )
    min_training_usd: NonNegativeFloat | None = Field(
        default=None, description="Smallest charge for one training job, $ (None: none)."
    )
    new_jobs_restricted_on: date | None = Field(
        default=None,
        description="From this day only some accounts (e.g. those that already fine-tuned) may "
        "create new jobs.",
    )
    new_jobs_end_on: date | None = Field(
        default=None, description="From this day nobody may create new fine-tuning jobs."
    )
    lifecycle_source: str | None = Field(
        default=None, description="URL of the notice the two dates come from."
    )
    note: str | None = Field(default=None, description="Caveats.")


class ApiModel(_Record):
    """A hosted chat model with its per-token prices."""

    id: str = Field(description="provider/model, e.g. openai/gpt-4o-mini.")
    provider: str = Field(description="openai, anthropic, ...")
    model: str = Field(description="The provider's model name.")
    aliases: tuple[str, ...] = Field(default=(), description="Other names, matched ignoring case.")
    context_window_tokens: PositiveInt | None = Field(default=None, description="Context window.")
    max_output_tokens: PositiveInt | None = Field(default=None, description="Output cap per call.")
    input_usd_per_mtok: PositiveFloat = Field(description="Input, $ per 1M tokens.")
    output_usd_per_mtok: PositiveFloat = Field(description="Output, $ per 1M tokens.")
    cached_input_usd_per_mtok: PositiveFloat | None = Field(
        default=None, description="Cached input (prompt cache read), $ per 1M tokens."
    )
    batch_discount: NonNegativeFloat | None = Field(
        default=None, description="Fraction of the price charged under the batch API."
    )
    fine_tunable: bool = Field(default=False, description="The provider fine-tunes this model.")
    fine_tuning: FineTuningPrice | None = Field(default=None, description="Fine-tuning offer.")
    open_model: str | None = Field(
        default=None,
        description="Catalog id of the open model this endpoint serves (Together, Fireworks, "
        "...), whose published scores apply; None for a proprietary model.",
    )
    served_quantization: str | None = Field(
        default=None,
        description="Weight format the provider serves an open model in (bf16, fp8, int4), "
        "where it says; None: not said or not an open model.",
    )
    reasoning_tokens: bool = Field(
        default=False,
        description="The model thinks before it answers and bills those hidden reasoning "
        "tokens as output tokens.",
    )
    deprecated_on: date | None = Field(
        default=None, description="Day the provider announced the model's retirement."
    )
    shutdown_on: date | None = Field(
        default=None, description="Day the model (and its fine-tunes) stop answering."
    )
    lifecycle_source: str | None = Field(
        default=None, description="URL of the deprecation notice the dates come from."
    )
    source: str = Field(description="Price page (URL) the figures come from.")
    source_note: str | None = Field(default=None, description="Cross-checks and caveats.")
    source_date: date | None = Field(default=None, description="Date of the source copy, if known.")
    retrieved_on: date = Field(description="Day the figures were compiled.")
