"""Expected quality: a published benchmark score moved by each of the plan's decisions.

A plan's quality is stated on one benchmark (the goal's ``quality.benchmark``, else the one the
catalog maps its task type to). It starts from the published score of the checkpoint the plan
serves and applies, step by step, the cited prior of each decision, as a range:

1. fine-tuning on the team's data (``data.*`` priors, by the number of training examples):
   ``score + h × (scale_max − score)``, a share ``h`` of the gap to the top closed on the task;
2. the fine-tuning method relative to full fine-tuning (``method.*``): ``× (1 + m)``;
3. the served weight format relative to bf16 (``quantization.*``): ``× (1 + q)``;
4. retrieval (``rag.*``): no score change claimed, said in words.

Low multiplies the pessimistic ends, high the optimistic ones; results stay on the benchmark's
scale. The data priors come from case studies measured on each team's own task metric, not on
the public benchmark, and their low end is 0: so the pessimistic end, which ranks plans
(``ranking_score``), rests on published benchmark evidence alone, and the uplift shows only in
the optimistic end. A rating (Elo) has no top and no proportional scale, so no effect is
applied to one and the plan says so. A score the catalog does not have is unknown, never
imputed: such a plan meets no floor. A plan meets a floor when the LOW end of its range reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from catalog import Catalog
from catalog.quality_records import (
    Benchmark,
    BenchmarkScore,
    PriorEffect,
    PriorKind,
    QualityPrior,
)
from planner.errors import PlannerError
from planner.spec import GoalSpec
from planner.types import Method, Quantization, Strategy

__all__ = [
    "LAUNCHED_FORMAT",
    "QUALITY_POINTS_PER_DOUBLING",
    "PlanQuality",
    "QualityTarget",
    "estimate_quality",
    "quality_target",
]

QUALITY_POINTS_PER_DOUBLING = 5.0
"""Balanced ranking: 5 points of expected score weigh as much as doubling the first-year cost
or the p95 TTFT (README "Ranking")."""

LAUNCHED_FORMAT = {
    Quantization.BF16: "bf16",
    Quantization.FP8: "fp8",  # vLLM --quantization fp8: dynamic FP8 W8A8 (executor/render.py)
    # int8 / int4 are served only from a published GPTQ / AWQ / W8A8 checkpoint
    # (planner.quantization): the priors of those formats, not bitsandbytes' NF4
    Quantization.INT8: "int8",
    Quantization.INT4: "int4",
}
"""The prior each served format is judged by: the format as tailor launches it."""

_MAX_LINE = 2000
_MAX_SCORE = 1e4


def _line(text: str) -> str:
    if len(text) > _MAX_LINE or not text.isprintable():
        raise ValueError(f"is not one line of at most {_MAX_LINE:,} printable characters")
    return text


_Line = Annotated[str, Strict(), AfterValidator(_line)]
_Score = Annotated[float, Strict(), Field(ge=-_MAX_SCORE, le=_MAX_SCORE, allow_inf_nan=False)]
_Id = Annotated[
    str, Strict(), Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
]


class PlanQuality(BaseModel):
    """What a plan is expected to score, on which benchmark, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    benchmark: _Id = Field(description="Benchmark id (catalog benchmarks.yaml).")
    benchmark_name: _Line = Field(description="Its display name.")
    unit: _Line = Field(description="Unit of the scores.")
    scored_model: _Id = Field(description="Catalog or API model whose published score is used.")
    base_score: _Score | None = Field(description="Published score; None: none published.")
    expected_low: _Score | None = Field(description="Pessimistic expected score after decisions.")
    expected_high: _Score | None = Field(description="Optimistic expected score.")
    floor: _Score | None = Field(description="The goal's floor on the low end; None: none.")
    floor_basis: _Line = Field(description="Where the floor comes from.")
    default_floor: Annotated[bool, Strict()] = Field(
        description="The floor is the task type's default (the goal has no quality section)."
    )
    basis: Annotated[tuple[_Line, ...], Field(max_length=50)] = Field(
        description="Each step: the published score, then each decision's prior and source."
    )

    @property
    def expected_mid(self) -> float | None:
        """Middle of the expected range."""
        if self.expected_low is None or self.expected_high is None:
            return None
        return (self.expected_low + self.expected_high) / 2

    @property
    def ranking_score(self) -> float | None:
        """What plans are ranked and compared on: the pessimistic end. Its steps are the
        published score and the penalties the cited evidence supports; the fine-tuning uplift
        (from teams' own task metrics, which no public benchmark measures) only raises the
        optimistic end, so it never decides a ranking."""
        return self.expected_low

    @property
    def meets_floor(self) -> bool:
        """No floor, or a known score whose low end reaches it."""
        if self.floor is None:
            return True
        return self.expected_low is not None and self.expected_low >= self.floor

    def shown(self) -> str:
        """'IFEval 74.1–79.8' / 'IFEval unknown', for tables."""
        if self.expected_low is None or self.expected_high is None:
            return f"{self.benchmark_name} unknown"
        return f"{self.benchmark_name} {self.expected_low:.1f}–{self.expected_high:.1f}"


@dataclass(frozen=True)
class QualityTarget:
    """The benchmark a goal is judged on and its floor (None: no floor)."""

    benchmark: Benchmark
    floor: float | None
    floor_basis: str
    default_floor: bool
    task_reasoning: str


def _fail(field: str, message: str, fix: str) -> PlannerError:
    return PlannerError(f"{field}: {message}. To fix: {fix}.")


def quality_target(goal: GoalSpec, catalog: Catalog) -> QualityTarget | None:
    """Which benchmark, and which floor, the goal's plans are held to; None for a catalog
    with no benchmarks at all (a hand-built one), where plans carry no quality."""
    wanted = goal.quality
    if not catalog.benchmarks:
        return None
    task = catalog.task_benchmark(str(goal.task.type))
    bench_id = wanted.benchmark or (task.benchmark if task else None)
    known = ", ".join(b.id for b in catalog.benchmarks) or "none"
    if bench_id is None:
        raise _fail(
            "quality.benchmark",
            f"the catalog maps no benchmark to task type {goal.task.type}",
            f"name one of: {known}",
        )
    bench = catalog.find_benchmark(bench_id)
    if bench is None:
        raise _fail("quality.benchmark", f"{bench_id!r} is no catalog benchmark", f"use {known}")
    reasoning = (
        task.reasoning
        if task and task.benchmark == bench.id
        else f"the goal names {bench.name} (quality.benchmark)"
    )
    floors: list[tuple[float, str]] = []
    if wanted.min_score is not None and wanted.min_score > 0:
        floors.append((wanted.min_score, f"quality.min_score {wanted.min_score:g}"))
    if wanted.at_least_as_good_as is not None:
        floors.append(_reference_floor(wanted.at_least_as_good_as, bench, catalog))
    explicit = wanted.min_score is not None or wanted.at_least_as_good_as is not None
    if not explicit and task is not None and task.benchmark == bench.id:
        floors.append(
            (
                task.default_min_score,
                f"default floor for task type {goal.task.type}: {task.default_min_score:g} "
                f"({task.floor_reasoning})",
            )
        )
    if not floors:
        none = "quality.min_score 0: no floor" if explicit else f"no default floor on {bench.name}"
        return QualityTarget(bench, None, none, False, reasoning)
    floor, basis = max(floors)
    return QualityTarget(bench, floor, basis, not explicit, reasoning)


def _reference_floor(name: str, bench: Benchmark, catalog: Catalog) -> tuple[float, str]:
    model = _scored_id(name, catalog)
    if model is None:
        raise _fail(
            "quality.at_least_as_good_as",
            f"{name!r} is neither a catalog model nor a hosted API model",
            "use a name from `tailor catalog models` or `tailor catalog api`",
        )
    score = catalog.score(model, bench.id)
    if score is None:
        scored = [s.benchmark for s in catalog.scores_of(model)]
        raise _fail(
            "quality.at_least_as_good_as",
            f"the catalog has no published {bench.name} score for {model}"
            + (f" (it has {', '.join(scored)})" if scored else ""),
            "set quality.benchmark to one it has, or quality.min_score instead",
        )
    return score.score, f"quality.at_least_as_good_as {model}: {_cite(score, bench)}"


def _scored_id(name: str, catalog: Catalog) -> str | None:
    if (arch := catalog.find_model(name)) is not None:
        return arch.id
    api = next(
        (
            a
            for a in catalog.api_models
            if name.lower() in (a.id.lower(), a.model.lower(), *(x.lower() for x in a.aliases))
        ),
        None,
    )
    if api is None:
        return None
    return api.open_model or api.id


def _cite(score: BenchmarkScore, bench: Benchmark) -> str:
    return (
        f"{bench.name} {score.score:g} ({score.checkpoint}; {score.metric}; {score.setting}; "
        f"{score.source_title}, {score.source}, read {score.retrieved_on})"
    )


@dataclass(frozen=True)
class QualityInputs:
    """The decisions of one plan that move its score."""

    scored_model: str
    strategy: Strategy
    method: Method | None = None  # own fine-tuning
    lora_rank: int | None = None  # own LoRA / QLoRA fine-tuning
    provider_method: str | None = None  # hosted fine-tuning: what the provider says it trains
    served_format: str | None = None  # prior option: bf16, fp8, int8, nf4; None: none claimed
    format_note: str = ""


def _prior(
    catalog: Catalog, kind: PriorKind, option: str, benchmark: str, rank: int | None = None
) -> QualityPrior | None:
    """The prior for that option measured on this benchmark (else its general row), at the
    highest ``min_rank`` not above ``rank`` (rows without one hold for any rank)."""
    rows = [p for p in catalog.priors(kind) if p.option == option]
    specific = [p for p in rows if benchmark in p.benchmarks] or [
        p for p in rows if not p.benchmarks
    ]
    fitting = [p for p in specific if p.min_rank is None or (rank or 0) >= p.min_rank]
    return max(fitting, key=lambda p: p.min_rank or 0, default=None)


def _data_prior(catalog: Catalog, examples: int) -> QualityPrior | None:
    for prior in catalog.priors(PriorKind.DATA):
        low = prior.min_examples or 0
        if low <= examples and (prior.max_examples is None or examples < prior.max_examples):
            return prior
    return None


def _cite_prior(prior: QualityPrior) -> str:
    """The prior's finding and sources in one line (its full basis: quality_priors.yaml)."""
    sources = "; ".join(src if len(src) <= 200 else src[:199] + "…" for src in prior.sources)
    text = f"[{prior.id}] {prior.statement} Sources: {sources}"
    return text if len(text) <= 1500 else text[:1499] + "…"


class _Range:
    """The expected range as it is moved step by step, with the basis of each step."""

    def __init__(self, score: float, bench: Benchmark) -> None:
        self.low = self.high = score
        self.bench = bench
        self.steps: list[str] = []

    def clamp(self) -> None:
        if self.bench.bounded:
            lo, hi = self.bench.scale_min, self.bench.scale_max
            self.low, self.high = min(max(self.low, lo), hi), min(max(self.high, lo), hi)

    def apply(self, prior: QualityPrior, what: str, low: float, high: float) -> None:
        if prior.effect is PriorEffect.NONE:
            self.steps.append(f"{what}: no score change claimed. {_cite_prior(prior)}")
            return
        if not self.bench.bounded:
            self.steps.append(
                f"{what}: not applied: {self.bench.name} is a rating with no top or proportional "
                f"scale. {_cite_prior(prior)}"
            )
            return
        before = (self.low, self.high)
        if prior.effect is PriorEffect.HEADROOM:
            top = self.bench.scale_max
            self.low += low * (top - self.low)
            self.high += high * (top - self.high)
            how = f"+ [{low:+.0%} … {high:+.0%}] of the gap to {top:g}"
        else:
            self.low *= 1 + low
            self.high *= 1 + high
            how = f"× (1 + [{low:+.1%} … {high:+.1%}])"
        self.clamp()
        self.steps.append(
            f"{what}: {before[0]:.1f}–{before[1]:.1f} {how} → {self.low:.1f}–{self.high:.1f}. "
            f"{_cite_prior(prior)}"
        )

    def missing(self, what: str, option: str) -> None:
        self.steps.append(f"{what}: the catalog has no prior for {option}: no change applied")


def estimate_quality(
    target: QualityTarget | None, catalog: Catalog, inputs: QualityInputs, *, train_examples: int
) -> PlanQuality | None:
    """The plan's expected score on the target benchmark, with the basis of every step (None
    when there is no target)."""
    if target is None:
        return None
    bench = target.benchmark
    score = catalog.score(inputs.scored_model, bench.id)
    common = {
        "benchmark": bench.id,
        "benchmark_name": bench.name,
        "unit": bench.unit,
        "scored_model": inputs.scored_model,
        "floor": target.floor,
        "floor_basis": target.floor_basis,
        "default_floor": target.default_floor,
    }
    if score is None:
        return PlanQuality(
            **common,
            base_score=None,
            expected_low=None,
            expected_high=None,
            basis=(
                f"no published {bench.name} score for {inputs.scored_model} in the catalog: "
                "quality unknown (never imputed; `tailor catalog benchmarks` lists the scores)",
            ),
        )
    rng = _Range(score.score, bench)
    rng.steps.append(f"published: {_cite(score, bench)}; benchmark chosen: {target.task_reasoning}")
    _fine_tuning_steps(rng, catalog, inputs, train_examples)
    if inputs.served_format is None and inputs.format_note:
        rng.steps.append(
            f"served{inputs.format_note} in a format the provider does not publish: no change "
            "applied (a quantized endpoint may score lower)"
        )
    if inputs.served_format is not None:
        prior = _prior(catalog, PriorKind.QUANTIZATION, inputs.served_format, bench.id)
        what = f"served as {inputs.served_format}{inputs.format_note}"
        if prior is None:
            rng.missing(what, f"quantization {inputs.served_format}")
        else:
            rng.apply(prior, what, prior.low, prior.high)
    if (
        inputs.strategy.uses_rag
        and (prior := _prior(catalog, PriorKind.RAG, "rag", bench.id)) is not None
    ):
        rng.apply(prior, "retrieval (RAG)", prior.low, prior.high)
    return PlanQuality(
        **common,
        base_score=score.score,
        expected_low=round(rng.low, 4),
        expected_high=round(rng.high, 4),
        basis=tuple(rng.steps),
    )


def _fine_tuning_steps(
    rng: _Range, catalog: Catalog, inputs: QualityInputs, train_examples: int
) -> None:
    hosted = inputs.strategy in (Strategy.API_FINE_TUNE, Strategy.API_FINE_TUNE_RAG)
    if not (inputs.strategy.trains_own_model or hosted):
        return
    data = _data_prior(catalog, train_examples)
    what = f"fine-tuning on {train_examples:,} training examples"
    if data is None:
        rng.missing(what, f"{train_examples:,} examples")
    else:
        rng.apply(
            data,
            f"{what} ({data.id}; an uplift on your task's own metric, which this benchmark does "
            "not measure: it raises only the optimistic end, and plans rank on the low end)",
            data.low,
            data.high,
        )
    if inputs.method is not None:
        option = str(inputs.method)
        note = f" at r={inputs.lora_rank}" if inputs.lora_rank else ""
    elif inputs.provider_method is not None:
        option, note = inputs.provider_method, " (as the provider says it trains)"
    else:  # the provider does not say: anywhere from LoRA's range up to full fine-tuning
        lora = _prior(catalog, PriorKind.METHOD, "lora", rng.bench.id)
        if lora is None:
            rng.missing("hosted fine-tuning method", "lora")
        else:
            rng.apply(lora, "hosted fine-tuning, method not published: LoRA … full", lora.low, 0.0)
        return
    prior = _prior(catalog, PriorKind.METHOD, option, rng.bench.id, inputs.lora_rank)
    if prior is None:
        rng.missing(f"method {option}{note}", f"method {option}")
    else:
        rng.apply(prior, f"method {option} vs full fine-tuning{note}", prior.low, prior.high)
