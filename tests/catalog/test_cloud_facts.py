"""clouds.yaml: every offer's cloud and region is described, every pair of areas the offers
span has a published round trip (one known gap), every price is sourced; and the loader
refuses a cloud table that breaks those rules."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from catalog.cloud_records import Area, CloudTier, SourceKind
from catalog.datafile import read_csv_records
from catalog.errors import CatalogFileError
from catalog.loaders import load_base_catalog, load_cloud_tables, shipped_data_dir
from catalog.records import Offer
from catalog.tables import Catalog
from tests.conftest import FIXED_CATALOG

# sa-sa: the Azure matrix measures a single South American region (Brazil South).
KNOWN_RTT_GAPS = {frozenset({Area.SA})}

OFFER_FILES = [
    shipped_data_dir() / "offers.csv",
    shipped_data_dir() / "extra_offers.csv",
    FIXED_CATALOG / "offers.csv",
]


def _catalogs() -> list[Catalog]:
    return [load_base_catalog(shipped_data_dir()), load_base_catalog(FIXED_CATALOG.resolve())]


def _offers() -> list[Offer]:
    return [o for path in OFFER_FILES for o in read_csv_records(path, Offer)]


@pytest.mark.parametrize("catalog", _catalogs(), ids=["shipped", "frozen"])
def test_every_offer_cloud_and_region_is_described(catalog: Catalog) -> None:
    offers = _offers()
    assert {o.cloud for o in offers} <= {c.cloud for c in catalog.cloud_facts_rows}
    for offer in offers:
        info = catalog.region_info(offer.cloud, offer.region)
        assert info is not None, (offer.cloud, offer.region)
    assert catalog.cloud_facts("AWS") is catalog.cloud_facts("aws")


@pytest.mark.parametrize("catalog", _catalogs(), ids=["shipped", "frozen"])
def test_every_pair_of_offer_areas_has_a_round_trip(catalog: Catalog) -> None:
    areas = {
        info.area for o in _offers() if (info := catalog.region_info(o.cloud, o.region)) is not None
    }
    assert areas == set(Area)
    missing = {
        frozenset({a, b})
        for a, b in itertools.combinations_with_replacement(sorted(areas), 2)
        if catalog.area_rtt_ms(a, b) is None
    }
    assert missing == KNOWN_RTT_GAPS


def test_round_trips_are_symmetric_and_grow_with_distance() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    assert catalog.area_rtt_ms("na", "eu") == catalog.area_rtt_ms(Area.EU, Area.NA) == 84
    assert catalog.area_rtt_ms("eu", "mars") is None
    for row in catalog.area_rtts:
        if row.a != row.b:  # an area's own figure is below its figure to any other area
            assert row.rtt_ms > (catalog.area_rtt_ms(row.a, row.a) or 0)
            assert row.rtt_ms > (catalog.area_rtt_ms(row.b, row.b) or 0)
        assert row.source.kind is SourceKind.PROVIDER


def test_tiers_follow_who_owns_the_machines() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    tiers = {c.cloud: c.tier for c in catalog.cloud_facts_rows}
    assert tiers["vast"] is CloudTier.MARKETPLACE
    assert {tiers[c] for c in ("aws", "gcp", "azure")} == {CloudTier.HYPERSCALER}
    facts = catalog.cloud_facts("vast")
    assert facts is not None and facts.individually_owned_hosts
    # runpod is specialist only because every shipped offer is Secure Cloud
    runpod = [o for o in _offers() if o.cloud == "runpod"]
    assert runpod and all(o.instance_type.endswith("_SECURE") for o in runpod)
    assert tiers["runpod"] is CloudTier.SPECIALIST


def test_every_price_has_a_dated_source() -> None:
    catalog = load_base_catalog(shipped_data_dir())
    for facts in catalog.cloud_facts_rows:
        assert facts.sources, facts.cloud
        for source in facts.sources:
            assert source.url.startswith("https://") and source.quote
            assert str(source.retrieved_on) == "2026-12-03"
    for controller in catalog.controllers:
        assert controller.basis.startswith("sky/")
        for vm in controller.per_cloud:
            assert (vm.usd_per_hour is None) or (vm.source is not None)
    jobs, serve = catalog.controller("jobs"), catalog.controller("serve")
    assert jobs is not None and (jobs.cpus, jobs.memory, jobs.disk_size_gb) == ("4+", "4x", 50)
    assert serve is not None and (serve.cpus, serve.memory, serve.disk_size_gb) == ("4+", "8+", 256)


SOURCE = {
    "url": "https://example.com",
    "kind": "provider",
    "quote": "q",
    "retrieved_on": "2026-12-03",
}
CLOUD = {"cloud": "aws", "tier": "hyperscaler", "tier_basis": "own hardware", "sources": [SOURCE]}
REGION = {"cloud": "aws", "region": "us-east-1", "area": "na", "country": "US"}
RTT = {"a": "na", "b": "eu", "rtt_ms": 84, "pair": "x → y", "source": SOURCE}


def _table(**changes: object) -> dict:
    table: dict = {"clouds": [CLOUD], "regions": [REGION], "area_rtt_ms": [RTT], "controllers": []}
    table.update(changes)
    return table


def test_a_minimal_table_loads(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump(_table()), encoding="utf-8")
    tables = load_cloud_tables(tmp_path)
    assert tables["region_rows"][0].area is Area.NA


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table(clouds=[{**CLOUD, "tier": "neocloud"}]), "tier"),
        (_table(clouds=[CLOUD, CLOUD]), "cloud 'aws' twice"),
        (_table(regions=[REGION, REGION]), "twice"),
        (_table(regions=[{**REGION, "cloud": "gcp"}]), "no clouds row"),
        (_table(clouds=[{**CLOUD, "egress_usd_per_gb": -0.01}]), "egress_usd_per_gb"),
        (_table(clouds=[{**CLOUD, "disk_usd_per_gb_month": -1}]), "disk_usd_per_gb_month"),
        (_table(area_rtt_ms=[{**RTT, "b": "antarctica"}]), "b:"),
        (_table(area_rtt_ms=[RTT, {**RTT, "a": "eu", "b": "na"}]), "twice"),
        (_table(area_rtt_ms=[{**RTT, "rtt_ms": -5}]), "rtt_ms"),
        (_table(clouds=[{**CLOUD, "sources": []}]), "sources"),
        (_table(clouds=[{**CLOUD, "colour": "orange"}]), "colour"),
    ],
    ids=[
        "unknown-tier",
        "duplicate-cloud",
        "duplicate-region",
        "region-of-unknown-cloud",
        "negative-egress",
        "negative-disk",
        "rtt-unknown-area",
        "duplicate-rtt-pair",
        "negative-rtt",
        "no-source",
        "unknown-field",
    ],
)
def test_loader_refuses_a_bad_table(tmp_path: Path, table: dict, message: str) -> None:
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump(table), encoding="utf-8")
    with pytest.raises(CatalogFileError, match=message):
        load_cloud_tables(tmp_path)


def test_a_controller_price_needs_a_source(tmp_path: Path) -> None:
    vm = {"cloud": "aws", "instance_type": "m6i.xlarge", "vcpus": 4, "memory_gib": 16}
    controller = {
        "kind": "jobs",
        "skypilot_version": "0.14.1",
        "cpus": "4+",
        "memory": "4x",
        "disk_size_gb": 50,
        "autostop_idle_minutes": 10,
        "autostop_down": False,
        "basis": "sky/jobs/constants.py:57",
        "per_cloud": [{**vm, "basis": "b", "usd_per_hour": 0.192}],
    }
    (tmp_path / "clouds.yaml").write_text(
        yaml.safe_dump(_table(controllers=[controller])), encoding="utf-8"
    )
    with pytest.raises(CatalogFileError, match="needs a source"):
        load_cloud_tables(tmp_path)
