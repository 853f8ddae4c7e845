"""The shipped quality tables: every score names a catalog model and a defined benchmark, once;
every task type has a benchmark and a floor; every prior cites its sources. And the loader
refuses a quality table that breaks those rules."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from catalog.errors import CatalogFileError
from catalog.loaders import DATA_FILES, load_base_catalog, shipped_data_dir
from catalog.quality_records import PriorKind, Variant
from planner.spec import TaskType


def test_every_score_is_of_a_catalog_model_on_a_defined_benchmark() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    models = {m.id for m in catalog.models} | {a.id for a in catalog.api_models}
    benchmarks = {b.id for b in catalog.benchmarks}
    assert len(catalog.benchmark_scores) >= 300
    for score in catalog.benchmark_scores:
        assert score.model in models, score.model
        assert score.benchmark in benchmarks
        assert score.source.startswith("https://"), score
        bench = catalog.find_benchmark(score.benchmark)
        assert bench is not None
        if bench.bounded:
            assert bench.scale_min <= score.score <= bench.scale_max, score


def test_every_task_type_has_a_benchmark_and_a_floor_on_its_scale() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    for task in TaskType:
        mapping = catalog.task_benchmark(task.value)
        assert mapping is not None, task
        bench = catalog.find_benchmark(mapping.benchmark)
        assert bench is not None
        assert bench.scale_min < mapping.default_min_score < bench.scale_max
        assert mapping.reasoning and mapping.floor_reasoning


def test_the_default_floors_are_gpt_35_turbos_published_scores() -> None:
    """README 'Quality': the default floor is GPT-3.5 Turbo's score on the task's benchmark."""
    catalog = load_base_catalog(shipped_data_dir())
    for mapping in catalog.task_benchmarks:
        score = catalog.score("openai/gpt-3.5-turbo", mapping.benchmark, Variant.INSTRUCT)
        assert score is not None and score.score == mapping.default_min_score


def test_the_open_models_most_plans_use_have_the_default_benchmarks() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    for model in ("llama-3.1-8b", "qwen2.5-7b", "qwen3-8b", "gemma-2-9b", "llama-3.2-3b"):
        assert catalog.score(model, "ifeval") is not None, model


def test_every_prior_kind_is_covered_and_cited() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    for kind in PriorKind:
        assert catalog.priors(kind), kind
    options = {(p.kind, p.option) for p in catalog.quality_priors if not p.benchmarks}
    for option in ("full", "lora", "qlora"):
        assert (PriorKind.METHOD, option) in options
    for option in ("bf16", "fp8", "int8", "nf4"):
        assert (PriorKind.QUANTIZATION, option) in options
    for prior in catalog.quality_priors:
        assert prior.sources and prior.basis and prior.low <= prior.high
    bands = sorted((p.min_examples or 0, p.max_examples) for p in catalog.priors(PriorKind.DATA))
    assert bands[0][0] == 0 and bands[-1][1] is None
    for (_, end), (start, _) in itertools.pairwise(bands):
        assert end == start  # the bands tile 0 … ∞ without gaps


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in DATA_FILES:
        shutil.copyfile(shipped_data_dir() / name, folder / name)
    return folder


def test_a_score_twice_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "benchmark_scores.yaml"
    text = path.read_text(encoding="utf-8")
    first = text.index("- model:")
    second = text.index("- model:", first + 1)
    path.write_text(text + text[first:second], encoding="utf-8")
    with pytest.raises(CatalogFileError, match=r"twice.*To fix"):
        load_base_catalog(folder)


def test_an_undefined_benchmark_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "benchmarks.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("benchmark: humaneval", "benchmark: nosuch"),
        encoding="utf-8",
    )
    with pytest.raises(CatalogFileError, match=r"nosuch.*To fix"):
        load_base_catalog(folder)
