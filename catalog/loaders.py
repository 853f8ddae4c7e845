"""Loading the catalog: a base data folder plus the user's own additions.

Nothing is read at import time; every loader is cached.

The base data is the snapshot shipped in ``catalog/data`` (``shipped_data_dir()``), unless the
environment variable ``TAILOR_CATALOG_DIR`` names another folder with the same files
(``DATA_FILES``: gpus.yaml, models.yaml, api_prices.yaml, offers.csv, snapshot.yaml, the
quality files benchmarks.yaml, benchmark_scores.yaml, quality_priors.yaml, and the cloud facts
clouds.yaml); then that
folder is read instead. ``OPTIONAL_DATA_FILES`` (quantized_checkpoints.yaml, the quantized
serving facts) are read when the folder has them; a folder without them still loads, and
those facts are then empty. The test suite points it at ``tests/data/catalog``, a small frozen
catalog, so refreshing the shipped prices (``make offers``) changes no test's expected plan.
Caches are keyed on the folder.

The user's data lives in ``catalog_home()`` (``$TAILOR_HOME`` or the platform's user data dir)
and merges on top of either base:

- ``catalog/models.yaml`` — models imported with ``tailor catalog add-model``;
- ``catalog/offers.csv`` — prices refreshed with ``tailor catalog refresh``; for the clouds it
  covers it replaces the base offers.

The user's files never stop the catalog from loading: an invalid entry (saved by an older tailor
or edited by hand), or a whole file that cannot be read, is left out and named in
``Catalog.problems``, each message ending "To fix: …", and logged once as a warning on the
``tailor.catalog`` logger (with no logging set up, Python prints it on stderr). The base data
(shipped, or ``TAILOR_CATALOG_DIR``) is checked strictly: an error there raises.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from catalog.cloud_records import (
    AreaRtt,
    CloudFacts,
    ControllerDefaults,
    RegionInfo,
    check_cloud_tables,
)
from catalog.datafile import (
    read_csv_records,
    read_csv_records_skipping,
    read_yaml_records,
    read_yaml_records_skipping,
)
from catalog.errors import CatalogFileError
from catalog.quality_records import Benchmark, BenchmarkScore, QualityPrior, TaskBenchmark
from catalog.quantized_records import QuantizedFacts, read_quantized
from catalog.records import ApiModel, GpuSku, ModelArch, Offer
from catalog.tables import Catalog

__all__ = [
    "CATALOG_DIR_ENV",
    "DATA_FILES",
    "OPTIONAL_DATA_FILES",
    "catalog_data_dir",
    "catalog_home",
    "load_base_catalog",
    "load_catalog",
    "load_cloud_tables",
    "load_gpus",
    "load_quantized_tables",
    "shipped_data_dir",
    "user_models_path",
    "user_offers_path",
]

CATALOG_DIR_ENV = "TAILOR_CATALOG_DIR"
_log = logging.getLogger("tailor.catalog")
DATA_FILES = (
    "gpus.yaml",
    "models.yaml",
    "api_prices.yaml",
    "offers.csv",
    "snapshot.yaml",
    "benchmarks.yaml",
    "benchmark_scores.yaml",
    "quality_priors.yaml",
    "clouds.yaml",
)
OPTIONAL_DATA_FILES = ("quantized_checkpoints.yaml",)
"""Files a data folder may lack: the catalog then loads with those facts empty."""


def shipped_data_dir() -> Path:
    """Folder of the data files shipped inside the package."""
    return Path(str(resources.files("catalog") / "data"))


def catalog_home() -> Path:
    """The user's tailor data folder: $TAILOR_HOME, else the platform user data dir."""
    explicit = os.environ.get("TAILOR_HOME")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tailor", appauthor=False))


def user_models_path(home: Path | None = None) -> Path:
    """Where ``tailor catalog add-model`` stores imported architectures."""
    return (home or catalog_home()) / "catalog" / "models.yaml"


def user_offers_path(home: Path | None = None) -> Path:
    """Where ``tailor catalog refresh`` stores prices read from SkyPilot's catalog."""
    return (home or catalog_home()) / "catalog" / "offers.csv"


def catalog_data_dir() -> Path:
    """The folder the base catalog is read from: ``$TAILOR_CATALOG_DIR``, else the shipped data.

    Raises CatalogFileError when the variable names a folder without every file of
    ``DATA_FILES``.
    """
    explicit = os.environ.get(CATALOG_DIR_ENV)
    return _checked_data_dir(explicit) if explicit else shipped_data_dir()


@cache
def _checked_data_dir(explicit: str) -> Path:
    folder = Path(explicit).expanduser().resolve()
    missing = [name for name in DATA_FILES if not (folder / name).is_file()]
    if missing:
        raise CatalogFileError(
            f"(named by ${CATALOG_DIR_ENV}) has no {', '.join(missing)}.",
            path=folder,
            fix=f"point {CATALOG_DIR_ENV} at a folder with the same files as catalog/data "
            f"({', '.join(DATA_FILES)}), or unset it to use the shipped catalog.",
        )
    return folder


@cache
def load_gpus(data_dir: Path) -> tuple[GpuSku, ...]:
    """The GPU SKUs of ``data_dir``/gpus.yaml (cached per folder)."""
    return tuple(read_yaml_records(data_dir / "gpus.yaml", "gpus", GpuSku))


@cache
def _models(data_dir: Path) -> tuple[ModelArch, ...]:
    return tuple(read_yaml_records(data_dir / "models.yaml", "models", ModelArch))


@cache
def _api_models(data_dir: Path) -> tuple[ApiModel, ...]:
    return tuple(read_yaml_records(data_dir / "api_prices.yaml", "api_models", ApiModel))


@cache
def _offers(data_dir: Path) -> tuple[Offer, ...]:
    return tuple(read_csv_records(data_dir / "offers.csv", Offer))


@cache
def _quality(data_dir: Path) -> dict:
    """Benchmarks, task map, published scores and priors, checked against each other."""
    benchmarks = tuple(read_yaml_records(data_dir / "benchmarks.yaml", "benchmarks", Benchmark))
    tasks = tuple(read_yaml_records(data_dir / "benchmarks.yaml", "tasks", TaskBenchmark))
    scores = tuple(read_yaml_records(data_dir / "benchmark_scores.yaml", "scores", BenchmarkScore))
    priors = tuple(read_yaml_records(data_dir / "quality_priors.yaml", "priors", QualityPrior))
    check_quality_tables(data_dir, benchmarks, tasks, scores)
    return {
        "benchmarks": benchmarks,
        "task_benchmarks": tasks,
        "benchmark_scores": scores,
        "quality_priors": priors,
    }


def check_quality_tables(
    data_dir: Path,
    benchmarks: tuple[Benchmark, ...],
    tasks: tuple[TaskBenchmark, ...],
    scores: tuple[BenchmarkScore, ...],
) -> None:
    """Every benchmark named exists, and each (model, variant, benchmark) is scored once."""
    known = {b.id for b in benchmarks}
    named = [(t.task, b) for t in tasks for b in (t.benchmark, *t.also)]
    named += [(f"{s.model} score", s.benchmark) for s in scores]
    for where, benchmark in named:
        if benchmark not in known:
            raise CatalogFileError(
                f"names benchmark {benchmark!r} ({where}), which benchmarks.yaml does not define.",
                path=data_dir,
                fix=f"use one of {', '.join(sorted(known))}, or define it in benchmarks.yaml.",
            )
    seen: set[tuple[str, str, str]] = set()
    for s in scores:
        key = (s.model, s.variant, s.benchmark)
        if key in seen:
            raise CatalogFileError(
                f"scores {s.model} ({s.variant}) on {s.benchmark} twice.",
                path=data_dir / "benchmark_scores.yaml",
                fix="keep one row per model, variant and benchmark (the developer's own figure).",
            )
        seen.add(key)


@cache
def load_cloud_tables(data_dir: Path) -> dict:
    """Cloud tiers and side prices, region locations, area round trips and SkyPilot controller
    defaults of ``data_dir``/clouds.yaml, checked against each other (cached per folder)."""
    path = data_dir / "clouds.yaml"
    clouds = tuple(read_yaml_records(path, "clouds", CloudFacts))
    regions = tuple(read_yaml_records(path, "regions", RegionInfo))
    rtts = tuple(read_yaml_records(path, "area_rtt_ms", AreaRtt))
    controllers = tuple(read_yaml_records(path, "controllers", ControllerDefaults))
    check_cloud_tables(path, clouds, regions, rtts, controllers)
    return {
        "cloud_facts_rows": clouds,
        "region_rows": regions,
        "area_rtts": rtts,
        "controllers": controllers,
    }


@cache
def load_quantized_tables(data_dir: Path) -> dict:
    """Published pre-quantized checkpoints, format speeds, unmerged-LoRA costs, quantization
    times and cold starts of ``data_dir``/quantized_checkpoints.yaml (cached per folder); all
    empty when the folder has no such file."""
    path = data_dir / "quantized_checkpoints.yaml"
    facts = (
        read_quantized(path)
        if path.is_file()
        else QuantizedFacts(
            checkpoints=(), format_speed=(), lora_serving=(), quantization_jobs=(), cold_start=()
        )
    )
    return {
        "quantized_checkpoint_rows": facts.checkpoints,
        "format_speed_rows": facts.format_speed,
        "lora_serving_rows": facts.lora_serving,
        "quantization_job_rows": facts.quantization_jobs,
        "cold_start_rows": facts.cold_start,
        "spot_interruption_rows": facts.spot_interruptions,
    }


@cache
def _snapshot_date(data_dir: Path) -> date:
    meta = yaml.safe_load((data_dir / "snapshot.yaml").read_text(encoding="utf-8"))
    return date.fromisoformat(str(meta["snapshot_date"]))


def load_base_catalog(data_dir: Path | None = None) -> Catalog:
    """The catalog of one data folder (default :func:`catalog_data_dir`), without the user's
    additions. Cached per folder."""
    return _base_catalog(data_dir or catalog_data_dir())


@cache
def _base_catalog(data_dir: Path) -> Catalog:
    return Catalog(
        gpus=load_gpus(data_dir),
        offers=_offers(data_dir),
        models=_models(data_dir),
        api_models=_api_models(data_dir),
        snapshot_date=_snapshot_date(data_dir),
        provenance=(str(data_dir),),
        **_quality(data_dir),
        **load_cloud_tables(data_dir),
        **load_quantized_tables(data_dir),
    )


def _merge_offers(shipped: tuple[Offer, ...], refreshed: list[Offer]) -> tuple[Offer, ...]:
    refreshed_clouds = {o.cloud for o in refreshed}
    kept = [o for o in shipped if o.cloud not in refreshed_clouds]
    return tuple(kept + refreshed)


def _merge_models(shipped: tuple[ModelArch, ...], added: list[ModelArch]) -> tuple[ModelArch, ...]:
    added_ids = {m.id for m in added}
    return tuple(added + [m for m in shipped if m.id not in added_ids])


def _skipped(kind: str, error: CatalogFileError) -> str:
    return f"Warning: skipped {kind} {error}"


def _user_models(path: Path) -> tuple[list[ModelArch], list[str]]:
    try:
        models, errors = read_yaml_records_skipping(path, "models", ModelArch)
    except CatalogFileError as exc:
        return [], [_skipped("every user model:", exc)]
    return models, [_skipped("a user model:", e) for e in errors]


def _user_offers(path: Path) -> tuple[list[Offer], list[str]]:
    try:
        offers, errors = read_csv_records_skipping(path, Offer)
    except CatalogFileError as exc:
        return [], [_skipped("every refreshed offer:", exc)]
    return offers, [_skipped("a refreshed offer:", e) for e in errors]


@cache
def _load_catalog_cached(data_dir: Path, home: Path, mtimes: tuple[float, float]) -> Catalog:
    base = load_base_catalog(data_dir)
    models, offers, snapshot = base.models, base.offers, base.snapshot_date
    provenance, problems = list(base.provenance), []
    models_file, offers_file = user_models_path(home), user_offers_path(home)
    if models_file.exists():
        added, skipped = _user_models(models_file)
        models = _merge_models(models, added)
        provenance.append(str(models_file))
        problems += skipped
    if offers_file.exists():
        refreshed, skipped = _user_offers(offers_file)
        offers = _merge_offers(offers, refreshed)
        snapshot = max([snapshot, *(o.retrieved_on for o in refreshed)])
        provenance.append(str(offers_file))
        problems += skipped
    for problem in problems:  # once per change of the files: this function is cached
        _log.warning("%s", problem)
    return Catalog(  # not model_copy: it would carry the base's cached indexes over
        gpus=base.gpus,
        offers=offers,
        models=models,
        api_models=base.api_models,
        benchmarks=base.benchmarks,
        benchmark_scores=base.benchmark_scores,
        task_benchmarks=base.task_benchmarks,
        quality_priors=base.quality_priors,
        cloud_facts_rows=base.cloud_facts_rows,
        region_rows=base.region_rows,
        area_rtts=base.area_rtts,
        controllers=base.controllers,
        quantized_checkpoint_rows=base.quantized_checkpoint_rows,
        format_speed_rows=base.format_speed_rows,
        lora_serving_rows=base.lora_serving_rows,
        quantization_job_rows=base.quantization_job_rows,
        cold_start_rows=base.cold_start_rows,
        spot_interruption_rows=base.spot_interruption_rows,
        snapshot_date=snapshot,
        provenance=tuple(provenance),
        problems=tuple(problems),
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def load_catalog(home: Path | None = None) -> Catalog:
    """The base catalog (:func:`catalog_data_dir`) merged with the user's additions under
    ``home``.

    Cached per (data folder, home); a change to the user's files (add-model, refresh) is
    picked up on the next call.
    """
    home = home or catalog_home()
    mtimes = (_mtime(user_models_path(home)), _mtime(user_offers_path(home)))
    return _load_catalog_cached(catalog_data_dir(), home, mtimes)
