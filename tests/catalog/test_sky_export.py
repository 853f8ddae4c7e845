"""Writing our offers as a SkyPilot v8 catalog: our reader and SkyPilot's own read it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.sky_export import write_sky_catalog
from catalog.sky_import import read_vms_csv
from catalog.tables import Catalog

DAY = date(2026, 5, 20)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_export_round_trips_through_our_reader(tmp_path: Path, catalog) -> None:
    written = write_sky_catalog(catalog, tmp_path, ["gcp", "lambda"])
    assert written["gcp"] == sum(1 for o in catalog.offers if o.cloud == "gcp")
    again = read_vms_csv(
        tmp_path / "gcp" / "vms.csv", cloud="gcp", catalog=catalog, source="t", retrieved_on=DAY
    )
    original = {
        (o.region, o.instance_type, o.gpu, o.gpu_count): o.price_usd_per_hour
        for o in catalog.offers
        if o.cloud == "gcp"
    }
    round_trip = {
        (o.region, o.instance_type, o.gpu, o.gpu_count): o.price_usd_per_hour for o in again.offers
    }
    assert round_trip.keys() == original.keys()
    for key, price in original.items():
        assert round_trip[key] == pytest.approx(price, abs=2e-5)


SKY_READBACK = """
import json
from sky import catalog
out = {
    "lambda_accelerators": sorted(catalog.list_accelerators(gpus_only=True, clouds="lambda")),
    "gcp_accelerators": sorted(catalog.list_accelerators(gpus_only=True, clouds="gcp")),
    "lambda_h100_pcie": catalog.get_hourly_cost(
        "gpu_1x_h100_pcie", use_spot=False, region="us-east-1", zone=None, clouds="lambda"),
    "gcp_host": catalog.get_hourly_cost(
        "a2-highgpu-1g", use_spot=False, region="us-central1", zone=None, clouds="gcp"),
    "gcp_a100": catalog.get_accelerator_hourly_cost(
        "A100", 1, use_spot=False, region="us-central1", zone=None, clouds="gcp"),
}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_skypilot_reads_our_export(tmp_path: Path, catalog) -> None:
    pytest.importorskip("sky")
    write_sky_catalog(catalog, tmp_path / ".sky" / "catalogs" / "v8")
    env = {**os.environ, "SKY_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", SKY_READBACK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ours_lambda = {o.sky_accelerator_name for o in catalog.offers if o.cloud == "lambda"}
    assert set(out["lambda_accelerators"]) == ours_lambda
    assert "H100" in out["gcp_accelerators"] and "L4" in out["gcp_accelerators"]
    lam = next(
        o
        for o in catalog.offers
        if o.cloud == "lambda" and o.region == "us-east-1" and o.instance_type == "gpu_1x_h100_pcie"
    )
    assert out["lambda_h100_pcie"] == pytest.approx(lam.price_usd_per_hour)
    gcp = next(
        o
        for o in catalog.offers
        if o.cloud == "gcp" and o.region == "us-central1" and o.instance_type == "a2-highgpu-1g"
    )
    assert out["gcp_host"] + out["gcp_a100"] == pytest.approx(gcp.price_usd_per_hour, abs=1e-4)
