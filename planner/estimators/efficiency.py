"""Achieved fractions of peak hardware throughput, each with where it comes from.

MFU (model FLOPs utilization) = useful model FLOPs / (GPUs × peak dense TFLOPs). MBU (model
bandwidth utilization) = bytes that must be read per decode step / (time × peak HBM bandwidth).
The planner multiplies peak datasheet figures by these; a range gives the low–high estimate.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from planner.types import Method

__all__ = [
    "DECODE_MBU",
    "PREFILL_MFU",
    "Efficiency",
    "training_mfu",
]


class Efficiency(BaseModel):
    """A utilization range with its citation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float = Field(gt=0, le=1, description="Pessimistic fraction of peak.")
    high: float = Field(gt=0, le=1, description="Optimistic fraction of peak.")
    source: str = Field(description="Where the range comes from.")

    @property
    def mid(self) -> float:
        """Midpoint of the range."""
        return (self.low + self.high) / 2


_TRAINING_MFU = {
    Method.FULL: Efficiency(
        low=0.30,
        high=0.45,
        source="Llama 3 paper (Dubey et al. 2024, Table 4): 38–43 % BF16 MFU on H100 at scale; "
        "MosaicML llm-foundry benchmarks: 40–50 % for 7B–70B on A100/H100. Fine-tuning with "
        "short sequences and small batches sits at the low end.",
    ),
    Method.LORA: Efficiency(
        low=0.25,
        high=0.40,
        source="LoRA skips weight gradients (4·N instead of 6·N FLOPs) but keeps the same "
        "kernels; we count only the FLOPs done, so MFU is a little below full fine-tuning "
        "(more, smaller kernels for the adapters). Not yet calibrated on a GPU: "
        "tests/data/measured/ has no measurement yet.",
    ),
    Method.QLORA: Efficiency(
        low=0.15,
        high=0.30,
        source="QLoRA dequantizes NF4 weights on every forward and backward pass; Dettmers et "
        "al. 2023 and Hugging Face's bitsandbytes/QLoRA blog report QLoRA runs ~30–60 % slower "
        "than 16-bit LoRA on the same GPU, i.e. this range is LoRA's scaled by ~0.6–0.75.",
    ),
}

PREFILL_MFU = Efficiency(
    low=0.35,
    high=0.60,
    source="Prefill is a large-batch GEMM workload; vLLM and TensorRT-LLM prefill reach "
    "35–60 % of dense peak (NVIDIA TensorRT-LLM performance overview; Databricks 'LLM "
    "Inference Performance Engineering: Best Practices', 2023).",
)

DECODE_MBU = Efficiency(
    low=0.55,
    high=0.80,
    source="Databricks 'LLM Inference Performance Engineering: Best Practices' (2023): MBU "
    "≈ 60 % for a 7B model on A100 at batch 1; optimized engines (vLLM, TensorRT-LLM) reach "
    "70–80 % of HBM bandwidth on H100.",
)


def training_mfu(method: Method) -> Efficiency:
    """The MFU range for a training method, with its source."""
    return _TRAINING_MFU[method]
