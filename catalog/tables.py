"""The Catalog: every table the planner reads, with name lookups.

A Catalog is immutable. Tests build small ones directly (``Catalog(gpus=..., offers=...)``);
the product loads the shipped snapshot plus the user's additions with ``load_catalog()``.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from catalog.cloud_records import Area, AreaRtt, CloudFacts, ControllerDefaults, RegionInfo
from catalog.errors import UnknownNameError
from catalog.quality_records import (
    Benchmark,
    BenchmarkScore,
    PriorKind,
    QualityPrior,
    TaskBenchmark,
    Variant,
)
from catalog.quantized_records import (
    ColdStart,
    FormatSpeed,
    LoraServing,
    QuantizationJob,
    QuantizedCheckpoint,
    SpotInterruption,
)
from catalog.records import ApiModel, GpuSku, ModelArch, Offer

__all__ = ["Catalog", "normalize_gpu_name"]


def normalize_gpu_name(name: str) -> str:
    """Lower case, letters and digits only: 'A100-80GB', 'a100 80gb' → 'a10080gb'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _model_keys(names: list[str]) -> set[str]:
    keys = set()
    for name in names:
        keys.add(name.lower())
        keys.add(name.lower().rsplit("/", 1)[-1])
    return keys


def _closest(name: str, choices: list[str]) -> list[str]:
    return difflib.get_close_matches(name, choices, n=3, cutoff=0.5)


class Catalog(BaseModel):
    """GPUs, offers, model architectures and hosted-API prices, as of ``snapshot_date``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpus: tuple[GpuSku, ...] = Field(description="GPU SKUs.")
    offers: tuple[Offer, ...] = Field(default=(), description="Cloud offers with prices.")
    models: tuple[ModelArch, ...] = Field(default=(), description="Open model architectures.")
    api_models: tuple[ApiModel, ...] = Field(default=(), description="Hosted API models.")
    benchmarks: tuple[Benchmark, ...] = Field(default=(), description="Public benchmarks.")
    benchmark_scores: tuple[BenchmarkScore, ...] = Field(
        default=(), description="Published scores, one per (model, variant, benchmark)."
    )
    task_benchmarks: tuple[TaskBenchmark, ...] = Field(
        default=(), description="task.type → benchmark and default floor."
    )
    quality_priors: tuple[QualityPrior, ...] = Field(
        default=(), description="Published ranges of what each decision does to a score."
    )
    cloud_facts_rows: tuple[CloudFacts, ...] = Field(
        default=(), description="Per cloud: tier and egress, disk and storage prices."
    )
    region_rows: tuple[RegionInfo, ...] = Field(
        default=(), description="Area and country of every (cloud, region) of the offers."
    )
    area_rtts: tuple[AreaRtt, ...] = Field(
        default=(), description="Published round trips between areas (symmetric)."
    )
    controllers: tuple[ControllerDefaults, ...] = Field(
        default=(), description="SkyPilot jobs and serve controller defaults and VM prices."
    )
    quantized_checkpoint_rows: tuple[QuantizedCheckpoint, ...] = Field(
        default=(), description="Published pre-quantized checkpoints of catalog models."
    )
    format_speed_rows: tuple[FormatSpeed, ...] = Field(
        default=(), description="Published serving speed of a weight format next to 16-bit."
    )
    lora_serving_rows: tuple[LoraServing, ...] = Field(
        default=(), description="Published cost of serving a LoRA adapter unmerged."
    )
    quantization_job_rows: tuple[QuantizationJob, ...] = Field(
        default=(), description="Published times to quantize a model."
    )
    cold_start_rows: tuple[ColdStart, ...] = Field(
        default=(), description="Published start-up phases of a vLLM engine and a replica."
    )
    spot_interruption_rows: tuple[SpotInterruption, ...] = Field(
        default=(), description="Published spot interruption rates per cloud."
    )
    snapshot_date: date = Field(description="Date of the price snapshot the offers come from.")
    provenance: tuple[str, ...] = Field(default=(), description="Files this catalog was read from.")
    problems: tuple[str, ...] = Field(
        default=(),
        description="Entries of the user's files left out because they are invalid: one "
        "message each, naming the file, the entry and the fix.",
    )

    @cached_property
    def _gpu_index(self) -> dict[str, GpuSku]:
        index: dict[str, GpuSku] = {}
        for sku in self.gpus:
            for name in (sku.name, *sku.aliases):
                index.setdefault(normalize_gpu_name(name), sku)
        return index

    @cached_property
    def _model_index(self) -> dict[str, ModelArch]:
        index: dict[str, ModelArch] = {}
        for arch in self.models:
            for key in _model_keys([arch.id, arch.hf_id, *arch.aliases]):
                index.setdefault(key, arch)
        return index

    @cached_property
    def _api_index(self) -> dict[str, ApiModel]:
        index: dict[str, ApiModel] = {}
        for api in self.api_models:
            for key in (api.id, api.model, *api.aliases):
                index.setdefault(key.lower(), api)
        return index

    @cached_property
    def _offers_by_gpu(self) -> dict[str, tuple[Offer, ...]]:
        grouped: dict[str, list[Offer]] = {}
        for offer in self.offers:
            grouped.setdefault(offer.gpu, []).append(offer)
        return {gpu: tuple(rows) for gpu, rows in grouped.items()}

    def find_gpu(self, name: str) -> GpuSku | None:
        """The GPU called ``name`` (or one of its aliases, ignoring case), else None."""
        return self._gpu_index.get(normalize_gpu_name(name))

    def gpu(self, name: str) -> GpuSku:
        """The GPU called ``name``; raises UnknownNameError with close names."""
        found = self.find_gpu(name)
        if found is None:
            names = [g.name for g in self.gpus]
            raise UnknownNameError(
                name, kind="GPU", close=_closest(name, names), listing_command="tailor catalog gpus"
            )
        return found

    def find_model(self, name: str) -> ModelArch | None:
        """The model with that id, Hugging Face id or alias (ignoring case), else None."""
        index = self._model_index
        return index.get(name.lower()) or index.get(name.lower().rsplit("/", 1)[-1])

    def model(self, name: str) -> ModelArch:
        """The model called ``name``; raises UnknownNameError with close names."""
        found = self.find_model(name)
        if found is None:
            ids = [m.id for m in self.models]
            short = name.lower().rsplit("/", 1)[-1]
            raise UnknownNameError(
                name,
                kind="model",
                close=_closest(short, ids),
                listing_command="tailor catalog models",
            )
        return found

    def api_model(self, name: str) -> ApiModel:
        """The hosted API model called ``name`` (provider/model or model)."""
        found = self._api_index.get(name.lower())
        if found is None:
            ids = [a.id for a in self.api_models]
            raise UnknownNameError(
                name,
                kind="API model",
                close=_closest(name, ids),
                listing_command="tailor catalog api",
            )
        return found

    @cached_property
    def _score_index(self) -> dict[tuple[str, str, str], BenchmarkScore]:
        return {(s.model, s.variant, s.benchmark): s for s in self.benchmark_scores}

    def find_benchmark(self, benchmark_id: str) -> Benchmark | None:
        """The benchmark with that id (ignoring case), else None."""
        return next((b for b in self.benchmarks if b.id == benchmark_id.lower()), None)

    def score(
        self, model_id: str, benchmark_id: str, variant: Variant = Variant.INSTRUCT
    ) -> BenchmarkScore | None:
        """The published score of that checkpoint on that benchmark; None when none is
        published (never imputed)."""
        return self._score_index.get((model_id.lower(), variant, benchmark_id.lower()))

    def scores_of(self, model_id: str) -> tuple[BenchmarkScore, ...]:
        """Every published score of one model, in file order."""
        return tuple(s for s in self.benchmark_scores if s.model == model_id.lower())

    def task_benchmark(self, task: str) -> TaskBenchmark | None:
        """The benchmark and default floor of a task type, else None."""
        return next((t for t in self.task_benchmarks if t.task == task), None)

    def priors(self, kind: PriorKind) -> tuple[QualityPrior, ...]:
        """The quality priors about one decision."""
        return tuple(p for p in self.quality_priors if p.kind is kind)

    def offers_for(self, gpu_name: str) -> tuple[Offer, ...]:
        """Every offer whose instances carry the named GPU."""
        return self._offers_by_gpu.get(self.gpu(gpu_name).name, ())

    def clouds(self) -> tuple[str, ...]:
        """Clouds that have at least one offer, sorted."""
        return tuple(sorted({o.cloud for o in self.offers}))

    @cached_property
    def _cloud_index(self) -> dict[str, CloudFacts]:
        return {c.cloud: c for c in self.cloud_facts_rows}

    @cached_property
    def _region_index(self) -> dict[tuple[str, str], RegionInfo]:
        return {(r.cloud, r.region): r for r in self.region_rows}

    @cached_property
    def _rtt_index(self) -> dict[frozenset[Area], float]:
        return {r.key: r.rtt_ms for r in self.area_rtts}

    def cloud_facts(self, cloud: str) -> CloudFacts | None:
        """Tier and side prices of a cloud (as SkyPilot spells it, ignoring case), else None."""
        return self._cloud_index.get(cloud.lower())

    def region_info(self, cloud: str, region: str) -> RegionInfo | None:
        """Area and country of one region of one cloud (names exactly as in offers), else None."""
        return self._region_index.get((cloud.lower(), region))

    def area_rtt_ms(self, a: Area | str, b: Area | str) -> float | None:
        """Published round trip between two areas, in either order; None when the pair has no
        measurement (or a name is not an area): never estimated."""
        try:
            key = frozenset((Area(a), Area(b)))
        except ValueError:
            return None
        return self._rtt_index.get(key)

    def controller(self, kind: str) -> ControllerDefaults | None:
        """SkyPilot's defaults for the 'jobs' or 'serve' controller, else None."""
        return next((c for c in self.controllers if c.kind == kind), None)

    def quantized_checkpoints(self, model_id: str) -> tuple[QuantizedCheckpoint, ...]:
        """The published pre-quantized checkpoints of one catalog model (its id, ignoring
        case), in file order; empty when none is listed."""
        return tuple(c for c in self.quantized_checkpoint_rows if c.model == model_id.lower())

    def format_speeds(self) -> tuple[FormatSpeed, ...]:
        """Every published format-vs-16-bit serving speed measurement, in file order."""
        return self.format_speed_rows

    def lora_serving(self) -> tuple[LoraServing, ...]:
        """Every published unmerged-LoRA serving measurement, in file order."""
        return self.lora_serving_rows

    def quantization_jobs(self) -> tuple[QuantizationJob, ...]:
        """Every published time to quantize a model, in file order."""
        return self.quantization_job_rows

    def cold_starts(self) -> tuple[ColdStart, ...]:
        """Every published start-up phase of an engine or a replica, in file order."""
        return self.cold_start_rows

    def spot_interruption(self, cloud: str) -> SpotInterruption | None:
        """The interruption rate planned on for a cloud's spot instances: its own row, else
        the 'default' row; None when the catalog has neither."""
        rows = {r.cloud: r for r in self.spot_interruption_rows}
        return rows.get(cloud) or rows.get("default")
