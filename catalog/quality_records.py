"""Quality facts: benchmarks, published scores, the task → benchmark map and cited priors.

Every score is a published figure for one checkpoint with its source, the day it was read and
the setting it was measured in; a score that is not published is absent, never imputed. The
priors are the published ranges of what each decision (method, serving quantization, amount of
data) does to a score, each with its citation and how the range was read from it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Benchmark",
    "BenchmarkScore",
    "PriorEffect",
    "PriorKind",
    "QualityPrior",
    "TaskBenchmark",
    "Variant",
]


def _printable(value: str) -> str:
    for char in value:
        if not char.isprintable():
            raise ValueError(f"contains the unprintable character {char!r}")
    return value


_Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._/-]{0,99}$")]
_Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_printable)]
_Score = Annotated[float, Field(ge=-1e4, le=1e4, allow_inf_nan=False)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variant(StrEnum):
    """Which checkpoint of a model family was scored."""

    BASE = "base"  # pretrained only
    INSTRUCT = "instruct"  # post-trained for chat / instructions (what tailor serves and tunes)


class Benchmark(_Record):
    """A public benchmark and the scale its scores are on."""

    id: _Id = Field(description="Stable id, e.g. ifeval, mmlu-pro, humaneval.")
    name: _Text = Field(description="Display name.")
    measures: _Text = Field(description="What it measures, in a few words.")
    unit: _Text = Field(description="Unit of a score: '% correct', 'Elo rating', ...")
    scale_min: _Score = Field(description="Lowest possible score (or lowest seen, for ratings).")
    scale_max: _Score = Field(description="Highest possible score (or highest seen).")
    bounded: bool = Field(
        default=True,
        description="Scores cannot pass scale_max (accuracies); False for ratings (Elo).",
    )
    source: _Text = Field(description="URL of the paper or page that defines it.")
    retrieved_on: date = Field(description="Day the definition was read.")

    @model_validator(mode="after")
    def _ordered(self) -> Benchmark:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_min must be below scale_max")
        return self


class BenchmarkScore(_Record):
    """One published score of one checkpoint on one benchmark."""

    model: _Id = Field(description="Catalog model id (open) or provider/model (hosted API).")
    variant: Variant = Field(description="base or instruct checkpoint.")
    checkpoint: _Text = Field(description="Exact checkpoint scored (HF repo id or API model).")
    benchmark: _Id = Field(description="Benchmark id.")
    score: _Score = Field(description="The published figure, on the benchmark's scale.")
    metric: _Text = Field(description="Which number of the benchmark, e.g. strict prompt-level.")
    setting: _Text = Field(description="Shots, chain of thought, chat template or base prompt.")
    source: _Text = Field(description="URL of the model card, report, leaderboard snapshot.")
    source_title: _Text = Field(description="Title and table/section the figure is in.")
    retrieved_on: date = Field(description="Day the figure was read.")
    note: _Text | None = Field(default=None, description="Caveats (who measured it, how).")


class TaskBenchmark(_Record):
    """Which benchmark stands in for a task type's quality, and the default floor on it."""

    task: _Id = Field(description="Goal task.type: chat, qa, code, ...")
    benchmark: _Id = Field(description="Benchmark plans are scored on by default.")
    also: tuple[_Id, ...] = Field(default=(), description="Other relevant benchmarks, shown.")
    reasoning: _Text = Field(description="Why this benchmark measures what the task needs.")
    default_min_score: _Score = Field(
        description="Floor applied when the goal has no quality section, on the scale of "
        "`benchmark`."
    )
    floor_reasoning: _Text = Field(description="Why that floor.")


class PriorKind(StrEnum):
    """The decision a prior is about."""

    METHOD = "method"  # full / lora / qlora, relative to full fine-tuning
    QUANTIZATION = "quantization"  # served weight format, relative to bf16
    DATA = "data"  # how much task data: the uncertainty of the fine-tuning uplift
    RAG = "rag"  # retrieval


class PriorEffect(StrEnum):
    """How a prior's low/high apply to a score."""

    RELATIVE = "relative"  # score × (1 + x): a fraction of the score gained or lost
    HEADROOM = "headroom"  # score + x × (scale_max − score): a share of the gap to the top
    NONE = "none"  # no benchmark effect claimed (stated, e.g. RAG)


class QualityPrior(_Record):
    """A published range for what one decision does to a benchmark score."""

    id: _Id = Field(description="Stable id, e.g. method.lora, quantization.fp8, data.1k-10k.")
    kind: PriorKind = Field(description="The decision it is about.")
    option: _Id = Field(description="The option: lora, qlora, fp8, int4, nf4, rag, data band.")
    effect: PriorEffect = Field(description="How low/high apply to a score.")
    low: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = Field(
        description="Pessimistic end of the range (fraction; see effect)."
    )
    high: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = Field(
        description="Optimistic end of the range (fraction; see effect)."
    )
    min_examples: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Data band: fewest training examples it covers."
    )
    max_examples: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Data band: most training examples it covers (exclusive)."
    )
    benchmarks: tuple[_Id, ...] = Field(
        default=(),
        description="Benchmarks the range is for; empty: every benchmark no more specific row "
        "of the same kind and option covers.",
    )
    min_rank: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Method rows: the row holds for LoRA ranks from this one up (the row with "
        "the highest min_rank at or below the plan's rank applies); None: any rank.",
    )
    statement: _Text = Field(description="The finding in words.")
    basis: _Text = Field(description="How low and high were read from the sources.")
    sources: tuple[_Text, ...] = Field(min_length=1, description="Citations (title, URL).")
    retrieved_on: date = Field(description="Day the sources were read.")

    @model_validator(mode="after")
    def _ordered(self) -> QualityPrior:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self
