"""Loading the catalog: the shipped snapshot plus the user's own additions.

Nothing is read at import time; every loader is cached. The user's data lives in
``catalog_home()`` (``$TAILOR_HOME`` or the platform's user data dir):

- ``catalog/models.yaml`` — models imported with ``tailor catalog add-model``;
- ``catalog/offers.csv`` — prices refreshed with ``tailor catalog refresh``; for the clouds it
  covers it replaces the shipped offers.
"""

from __future__ import annotations

import os
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from catalog.datafile import read_csv_records, read_yaml_records
from catalog.records import ApiModel, GpuSku, ModelArch, Offer
from catalog.tables import Catalog

__all__ = [
    "catalog_home",
    "load_catalog",
    "shipped_data_dir",
    "user_models_path",
    "user_offers_path",
]


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


@cache
def _shipped_gpus() -> tuple[GpuSku, ...]:
    return tuple(read_yaml_records(shipped_data_dir() / "gpus.yaml", "gpus", GpuSku))


@cache
def _shipped_models() -> tuple[ModelArch, ...]:
    return tuple(read_yaml_records(shipped_data_dir() / "models.yaml", "models", ModelArch))


@cache
def _shipped_api_models() -> tuple[ApiModel, ...]:
    return tuple(read_yaml_records(shipped_data_dir() / "api_prices.yaml", "api_models", ApiModel))


@cache
def _shipped_offers() -> tuple[Offer, ...]:
    return tuple(read_csv_records(shipped_data_dir() / "offers.csv", Offer))


@cache
def _shipped_snapshot_date() -> date:
    meta = yaml.safe_load((shipped_data_dir() / "snapshot.yaml").read_text(encoding="utf-8"))
    return date.fromisoformat(str(meta["snapshot_date"]))


def _merge_offers(shipped: tuple[Offer, ...], refreshed: list[Offer]) -> tuple[Offer, ...]:
    refreshed_clouds = {o.cloud for o in refreshed}
    kept = [o for o in shipped if o.cloud not in refreshed_clouds]
    return tuple(kept + refreshed)


def _merge_models(shipped: tuple[ModelArch, ...], added: list[ModelArch]) -> tuple[ModelArch, ...]:
    added_ids = {m.id for m in added}
    return tuple(added + [m for m in shipped if m.id not in added_ids])


@cache
def _load_catalog_cached(home: Path, mtimes: tuple[float, float]) -> Catalog:
    provenance = [str(shipped_data_dir())]
    models, offers = _shipped_models(), _shipped_offers()
    snapshot = _shipped_snapshot_date()
    models_file, offers_file = user_models_path(home), user_offers_path(home)
    if models_file.exists():
        models = _merge_models(models, read_yaml_records(models_file, "models", ModelArch))
        provenance.append(str(models_file))
    if offers_file.exists():
        refreshed = read_csv_records(offers_file, Offer)
        offers = _merge_offers(offers, refreshed)
        snapshot = max([snapshot, *(o.retrieved_on for o in refreshed)])
        provenance.append(str(offers_file))
    return Catalog(
        gpus=_shipped_gpus(),
        offers=offers,
        models=models,
        api_models=_shipped_api_models(),
        snapshot_date=snapshot,
        provenance=tuple(provenance),
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def load_catalog(home: Path | None = None) -> Catalog:
    """The shipped catalog merged with the user's additions under ``home``.

    Cached; a change to the user's files (add-model, refresh) is picked up on the next call.
    """
    home = home or catalog_home()
    mtimes = (_mtime(user_models_path(home)), _mtime(user_offers_path(home)))
    return _load_catalog_cached(home, mtimes)
