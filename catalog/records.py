"""Catalog records: the immutable facts every estimate is computed from.

Every record read from a file is a frozen pydantic model that forbids unknown fields, and every
number carries its unit in its name and a ``source`` with the date it was retrieved.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
)

__all__ = [
    "ApiModel",
    "FineTuningPrice",
    "GpuSku",
    "ModelArch",
    "Offer",
    "Vendor",
]


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

    cloud: str = Field(description="Cloud name as SkyPilot spells it: aws, gcp, azure, lambda, ...")
    region: str = Field(description="Region name on that cloud.")
    instance_type: str = Field(description="Instance type that carries the GPUs.")
    gpu: str = Field(description="Canonical GpuSku name.")
    gpu_count: PositiveInt = Field(description="GPUs in one instance.")
    vcpus: NonNegativeFloat | None = Field(default=None, description="Host vCPUs.")
    memory_gib: NonNegativeFloat | None = Field(default=None, description="Host RAM, GiB.")
    price_usd_per_hour: PositiveFloat = Field(description="On-demand price of the instance, $/h.")
    spot_price_usd_per_hour: PositiveFloat | None = Field(
        default=None, description="Spot / preemptible price of the instance, $/h; None: no spot."
    )
    host_price_usd_per_hour: PositiveFloat | None = Field(
        default=None,
        description="Part of price_usd_per_hour that is the host VM, where the cloud prices the "
        "GPUs and the VM in separate rows (GCP); None elsewhere.",
    )
    host_spot_price_usd_per_hour: PositiveFloat | None = Field(
        default=None, description="Host-VM part of spot_price_usd_per_hour (GCP)."
    )
    accelerator_name: str | None = Field(
        default=None, description="The accelerator's name in the source catalog, if not `gpu`."
    )
    zones: Annotated[tuple[str, ...], BeforeValidator(_split_zones)] = Field(
        default=(), description="Availability zones that sell it (';'-separated in CSV)."
    )
    source: str = Field(description="Where the price comes from (catalog file or price page).")
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

    id: str = Field(description="Catalog id, lower case, e.g. llama-3.1-8b.")
    hf_id: str = Field(description="Hugging Face repository id of the weights.")
    aliases: tuple[str, ...] = Field(default=(), description="Other names, matched ignoring case.")
    family: str = Field(description="Architecture family (config model_type).")
    num_layers: PositiveInt = Field(description="num_hidden_layers.")
    hidden_size: PositiveInt = Field(description="Model width d_model.")
    num_attention_heads: PositiveInt = Field(description="Query heads.")
    num_key_value_heads: PositiveInt = Field(description="Key/value heads (GQA).")
    head_dim: PositiveInt = Field(description="Dimension of one attention head.")
    intermediate_size: PositiveInt = Field(
        description="Dense MLP width (per expert if no moe size)."
    )
    vocab_size: PositiveInt = Field(description="Tokenizer vocabulary = embedding rows.")
    tie_word_embeddings: bool = Field(description="lm_head shares the embedding matrix.")
    max_context_tokens: PositiveInt = Field(description="max_position_embeddings.")
    sliding_window_tokens: PositiveInt | None = Field(
        default=None, description="Sliding attention window on (some) layers, tokens."
    )
    num_experts: PositiveInt | None = Field(
        default=None, description="Routed experts per MoE layer."
    )
    num_experts_per_token: PositiveInt | None = Field(
        default=None, description="Experts per token."
    )
    moe_intermediate_size: PositiveInt | None = Field(
        default=None, description="Width of one expert's MLP; defaults to intermediate_size."
    )
    attention_qkv_bias: bool = Field(default=False, description="q/k/v projections carry a bias.")
    attention_output_bias: bool = Field(default=False, description="o projection carries a bias.")
    mlp_bias: bool = Field(default=False, description="MLP / expert projections carry biases.")
    router_bias: bool = Field(default=False, description="MoE router carries a bias.")
    attention_sinks: bool = Field(default=False, description="One learned sink logit per head.")
    qk_norm: bool = Field(default=False, description="RMSNorm on q and k per head (Qwen3).")
    norms_per_layer: PositiveInt = Field(default=2, description="RMSNorm vectors per layer.")
    native_weight_dtype: str = Field(default="bf16", description="Dtype the weights ship in.")
    license: str = Field(description="License id of the weights.")
    published_params: PositiveInt | None = Field(
        default=None, description="Published total parameter count, for checking the formula."
    )
    published_params_source: str | None = Field(default=None, description="Where that count is.")
    source: str = Field(description="URL of the config.json these fields come from.")
    retrieved_on: date = Field(description="Day the config was read.")

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
    source: str = Field(description="Price page (URL) the figures come from.")
    source_note: str | None = Field(default=None, description="Cross-checks and caveats.")
    source_date: date | None = Field(default=None, description="Date of the source copy, if known.")
    retrieved_on: date = Field(description="Day the figures were compiled.")
