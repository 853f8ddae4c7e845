"""TAILOR_CATALOG_DIR: another base data folder instead of catalog/data, cached per folder,
with the user's files still merged on top; and the frozen test catalog the suite runs on."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

from catalog import CatalogFileError, load_catalog
from catalog.datafile import read_csv_records, write_csv_records
from catalog.loaders import (
    CATALOG_DIR_ENV,
    DATA_FILES,
    catalog_data_dir,
    shipped_data_dir,
    user_offers_path,
)
from catalog.records import Offer
from tests.conftest import FIXED_CATALOG


def _build_module():
    spec = importlib.util.spec_from_file_location("freeze", FIXED_CATALOG / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy_with_offers(folder: Path, offers: list[Offer]) -> Path:
    folder.mkdir()
    for name in DATA_FILES:
        shutil.copyfile(FIXED_CATALOG / name, folder / name)
    write_csv_records(folder / "offers.csv", offers, Offer)
    return folder


def test_the_suite_runs_on_the_frozen_catalog(fixed_catalog: Path) -> None:
    assert fixed_catalog == FIXED_CATALOG.resolve() == catalog_data_dir()
    catalog = load_catalog()
    assert catalog.provenance[0] == str(FIXED_CATALOG.resolve())
    meta = yaml.safe_load((FIXED_CATALOG / "snapshot.yaml").read_text(encoding="utf-8"))
    assert meta["note"].startswith("Frozen test catalog")
    assert meta["offers"] == len(catalog.offers) < 400


def test_frozen_offers_are_a_fixed_point_of_their_rule() -> None:
    offers = read_csv_records(FIXED_CATALOG / "offers.csv", Offer)
    assert _build_module().is_subset_fixed_point(offers)


def test_frozen_tables_keep_every_gpu_shape_and_eu_regions() -> None:
    build = _build_module()
    frozen = {
        (o.cloud, o.gpu, o.gpu_count) for o in read_csv_records(FIXED_CATALOG / "offers.csv", Offer)
    }
    assert len(frozen) > 100
    eu_clouds = {
        o.cloud
        for o in read_csv_records(FIXED_CATALOG / "offers.csv", Offer)
        if build._in(o.region, build.EU_REGIONS)
    }
    assert {"aws", "gcp", "azure", "lambda", "vast"} <= eu_clouds


@pytest.mark.shipped_catalog
def test_marked_tests_read_the_shipped_data(fixed_catalog: Path) -> None:
    assert fixed_catalog == shipped_data_dir() == catalog_data_dir()
    assert load_catalog().provenance[0] == str(shipped_data_dir())


def test_folder_replaces_the_base_and_user_offers_still_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offers = read_csv_records(FIXED_CATALOG / "offers.csv", Offer)
    aws = next(o for o in offers if o.cloud == "aws")
    gcp = next(o for o in offers if o.cloud == "gcp")
    folder = _copy_with_offers(tmp_path / "one", [aws, gcp])
    monkeypatch.setenv(CATALOG_DIR_ENV, str(folder))
    assert load_catalog().offers == (aws, gcp)
    refreshed = gcp.model_copy(update={"price_usd_per_hour": 0.01})
    write_csv_records(user_offers_path(), [refreshed], Offer)
    assert load_catalog().offers == (aws, refreshed)  # the user's gcp rows replace the base's


def test_caches_key_on_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offers = read_csv_records(FIXED_CATALOG / "offers.csv", Offer)
    one = _copy_with_offers(tmp_path / "one", offers[:1])
    two = _copy_with_offers(tmp_path / "two", offers[1:3])
    for folder, expected in [(one, offers[:1]), (two, offers[1:3]), (one, offers[:1])]:
        monkeypatch.setenv(CATALOG_DIR_ENV, str(folder))
        assert list(load_catalog().offers) == expected


def test_folder_without_the_data_files_is_a_catalog_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gpus.yaml").write_text("gpus: []\n")
    monkeypatch.setenv(CATALOG_DIR_ENV, str(tmp_path))
    with pytest.raises(CatalogFileError) as info:
        load_catalog()
    message = str(info.value)
    assert "offers.csv" in message and CATALOG_DIR_ENV in message and "To fix:" in message
