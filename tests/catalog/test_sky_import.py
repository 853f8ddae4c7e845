"""Reading SkyPilot vms.csv: v7/v8/v9 layouts, GCP host + GPU rows, not-a-catalog errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from catalog import CatalogFileError, load_catalog
from catalog.sky_import import read_vms_csv
from catalog.tables import Catalog

GPU_INFO = "\"{'Gpus': [{'Name': 'A100', 'Count': 8.0, 'MemoryInfo': {'SizeInMiB': 40960}}]}\""
DAY = date(2026, 5, 20)

# The same two offers in the column layouts of three SkyPilot catalog versions.
LAYOUTS = {
    "v7-lambda": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,"
        "SpotPrice\n"
        f"gpu_8x_a100,A100,8.0,124.0,1800.0,14.32,us-east-1,{GPU_INFO},\n"
        f"gpu_8x_a100,A100,8.0,124.0,1800.0,15.00,us-west-1,{GPU_INFO},\n"
    ),
    "v8-runpod": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Region,SpotPrice,Price,"
        "AvailabilityZone,GpuInfo\n"
        f"gpu_8x_a100,A100,8,124,1800,us-east-1,7.0,14.32,us-east-1a,{GPU_INFO}\n"
        f"gpu_8x_a100,A100,8,124,1800,us-west-1,,15.00,us-west-1a,{GPU_INFO}\n"
    ),
    "v9-aws": (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
        "Region,AvailabilityZone,Arch,LocalDiskType,NVMeSupported,LocalDiskSize,LocalDiskCount\n"
        f"gpu_8x_a100,A100,8,124,1800,{GPU_INFO},14.32,7.0,us-east-1,use1-az1,x86_64,ssd,True,"
        "8000,8\n"
        f"gpu_8x_a100,A100,8,124,1800,{GPU_INFO},14.32,6.5,us-east-1,use1-az2,x86_64,ssd,True,"
        "8000,8\n"
        f"gpu_8x_a100,A100,8,124,1800,{GPU_INFO},15.00,,us-west-1,usw1-az1,x86_64,ssd,True,"
        "8000,8\n"
    ),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_catalog_version_layout_reads_the_same(tmp_path: Path, catalog, layout) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(LAYOUTS[layout])
    result = read_vms_csv(path, cloud="test", catalog=catalog, source="t", retrieved_on=DAY)
    by_region = {o.region: o for o in result.offers}
    assert set(by_region) == {"us-east-1", "us-west-1"}
    east = by_region["us-east-1"]
    assert (east.gpu, east.gpu_count, east.price_usd_per_hour) == ("A100", 8, 14.32)
    assert east.price_usd_per_gpu_hour == pytest.approx(1.79)
    if layout == "v9-aws":  # cheapest spot across the region's zones
        assert east.spot_price_usd_per_hour == 6.5
        assert east.zones == ("use1-az1", "use1-az2")


def test_gcp_gpu_rows_are_paired_with_their_host_vm(tmp_path: Path, catalog) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
        "AvailabilityZone,Price,SpotPrice\n"
        "a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,0.73948,0.36975\n"
        ",,,A100,1,,us-central1,us-central1-a,2.93391,1.4341\n"
        "n1-highmem-4,4.0,26.0,,,,us-central1,us-central1-a,0.23661,0.08638\n"
        "n1-standard-4,4.0,15.0,,,,us-central1,us-central1-a,0.19,0.07\n"
        "n1-highmem-8,8.0,52.0,,,,us-central1,us-central1-a,0.47321,0.17276\n"
        ",,,T4,1,,us-central1,us-central1-a,0.35,0.1654\n"
        ",,,T4,1,,us-central1,us-central1-b,0.35,0.15\n"
        ",,,P4,1,,us-central1,us-central1-a,0.6,0.3\n"
    )
    result = read_vms_csv(path, cloud="gcp", catalog=catalog, source="t", retrieved_on=DAY)
    offers = {o.instance_type: o for o in result.offers}
    a100 = offers["a2-highgpu-1g"]
    assert a100.price_usd_per_hour == pytest.approx(3.67339)
    assert a100.spot_price_usd_per_hour == pytest.approx(1.80385)
    # T4 x1 needs >= 4 vCPUs and >= 16 GiB: n1-standard-4 (15 GiB) is too small.
    t4 = offers["n1-highmem-4"]
    assert t4.gpu == "T4" and t4.price_usd_per_hour == pytest.approx(0.58661)
    assert result.skipped["GCP GPU without its host VM in that zone"] == 1  # zone b has no host
    assert result.skipped["GPU not in catalog: P4"] == 1


def test_not_a_vms_csv_names_file_and_fix(tmp_path: Path, catalog) -> None:
    path = tmp_path / "vms.csv"
    path.write_text("name,price\nx,1\n")
    with pytest.raises(CatalogFileError) as info:
        read_vms_csv(path, cloud="aws", catalog=catalog, source="t", retrieved_on=DAY)
    assert f"{path}:1" in str(info.value) and "To fix:" in str(info.value)
