"""Writing our offers as a SkyPilot v8 catalog, without importing sky.

The catalog directory (``<cloud>/vms.csv``, ``common/accelerators.csv``, ``common/metadata.csv``)
is what SkyPilot's optimizer reads offline. GCP offers are written back as separate host-VM and
GPU rows, as SkyPilot lists them. Reading SkyPilot's catalogs is :mod:`catalog.sky_import`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from catalog.files import write_text_atomic
from catalog.records import GpuSku, Offer
from catalog.tables import Catalog

__all__ = ["SKY_CLOUD_NAMES", "write_sky_catalog"]

# Our cloud names -> SkyPilot's display names (common/accelerators.csv "Clouds" column).
SKY_CLOUD_NAMES = {
    "aws": "AWS",
    "gcp": "GCP",
    "azure": "Azure",
    "lambda": "Lambda",
    "runpod": "RunPod",
    "vast": "Vast",
    "nebius": "nebius",
    "oci": "OCI",
    "paperspace": "Paperspace",
    "fluidstack": "Fluidstack",
    "cudo": "Cudo",
    "do": "DO",
}

# v8 column layouts SkyPilot's per-cloud catalog modules read.
_V8_COLUMNS: dict[str, tuple[str, ...]] = {
    "gcp": (
        "InstanceType",
        "vCPUs",
        "MemoryGiB",
        "AcceleratorName",
        "AcceleratorCount",
        "GpuInfo",
        "Region",
        "AvailabilityZone",
        "Price",
        "SpotPrice",
    ),
    "aws": (
        "InstanceType",
        "AcceleratorName",
        "AcceleratorCount",
        "vCPUs",
        "MemoryGiB",
        "GpuInfo",
        "Price",
        "SpotPrice",
        "Region",
        "AvailabilityZone",
    ),
    "azure": (
        "InstanceType",
        "AcceleratorName",
        "AcceleratorCount",
        "vCPUs",
        "MemoryGiB",
        "GpuInfo",
        "Price",
        "SpotPrice",
        "Region",
        "Generation",
    ),
    "runpod": (
        "InstanceType",
        "AcceleratorName",
        "AcceleratorCount",
        "vCPUs",
        "MemoryGiB",
        "Region",
        "SpotPrice",
        "Price",
        "AvailabilityZone",
        "GpuInfo",
    ),
}
_V8_DEFAULT_COLUMNS = (
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "Price",
    "Region",
    "GpuInfo",
    "SpotPrice",
)


def _gpu_info(sku: GpuSku, name: str, count: int) -> str:
    mib = round(sku.memory_gib * 1024)
    info = {
        "Gpus": [
            {
                "Name": name,
                "Manufacturer": sku.vendor.value.upper(),
                "Count": float(count),
                "MemoryInfo": {"SizeInMiB": mib},
            }
        ],
        "TotalGpuMemoryInMiB": mib * count,
    }
    return repr(info)


def _price(value: float | None) -> str:
    return "" if value is None else f"{value:.5f}".rstrip("0").rstrip(".")


def _offer_rows(offer: Offer, sku: GpuSku) -> list[dict[str, str]]:
    """SkyPilot rows for one offer: one per zone; GCP as separate host-VM and GPU rows."""
    zones = offer.zones or ("",)
    common = {
        "AcceleratorName": offer.sky_accelerator_name,
        "AcceleratorCount": str(offer.gpu_count),
        "GpuInfo": _gpu_info(sku, offer.sky_accelerator_name, offer.gpu_count),
        "Region": offer.region,
        "Generation": "V2",
    }
    rows = []
    for zone in zones:
        host = offer.host_price_usd_per_hour
        if offer.cloud == "gcp" and host is not None:
            host_spot = offer.host_spot_price_usd_per_hour
            rows.append(
                {
                    "InstanceType": offer.instance_type,
                    "vCPUs": _price(offer.vcpus),
                    "MemoryGiB": _price(offer.memory_gib),
                    "Region": offer.region,
                    "AvailabilityZone": zone,
                    "Price": _price(host),
                    "SpotPrice": _price(host_spot),
                }
            )
            gpu_spot = None
            if offer.spot_price_usd_per_hour is not None and host_spot is not None:
                gpu_spot = offer.spot_price_usd_per_hour - host_spot
            rows.append(
                {
                    **common,
                    "InstanceType": "",
                    "AvailabilityZone": zone,
                    "Price": _price(offer.price_usd_per_hour - host),
                    "SpotPrice": _price(gpu_spot),
                }
            )
            continue
        rows.append(
            {
                **common,
                "InstanceType": offer.instance_type,
                "vCPUs": _price(offer.vcpus),
                "MemoryGiB": _price(offer.memory_gib),
                "AvailabilityZone": zone,
                "Price": _price(offer.price_usd_per_hour),
                "SpotPrice": _price(offer.spot_price_usd_per_hour),
            }
        )
    return rows


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = tuple(row.get(c, "") for c in columns)
        if key not in seen:  # GCP host rows repeat across GPU offers sharing a host type
            seen.add(key)
            writer.writerow(row)
    write_text_atomic(path, buffer.getvalue())


def write_sky_catalog(
    catalog: Catalog, out_dir: Path, clouds: Iterable[str] | None = None
) -> dict[str, int]:
    """Write ``catalog``'s offers as a SkyPilot v8 catalog under ``out_dir``.

    Returns the number of offers written per cloud. ``out_dir`` is the version folder, e.g.
    ``~/.sky/catalogs/v8``.
    """
    wanted = set(clouds) if clouds is not None else set(catalog.clouds())
    by_cloud: dict[str, list[Offer]] = {}
    for offer in catalog.offers:
        if offer.cloud in wanted:
            by_cloud.setdefault(offer.cloud, []).append(offer)
    accelerator_clouds: dict[str, set[str]] = {}
    written = {}
    for cloud, offers in sorted(by_cloud.items()):
        rows = []
        for offer in offers:
            sku = catalog.gpu(offer.gpu)
            rows.extend(_offer_rows(offer, sku))
            display = SKY_CLOUD_NAMES.get(cloud, cloud)
            accelerator_clouds.setdefault(offer.sky_accelerator_name, set()).add(display)
        columns = _V8_COLUMNS.get(cloud, _V8_DEFAULT_COLUMNS)
        _write_csv(out_dir / cloud / "vms.csv", columns, rows)
        written[cloud] = len(offers)
    _write_csv(
        out_dir / "common" / "accelerators.csv",
        ("AcceleratorName", "Clouds"),
        (
            {"AcceleratorName": name, "Clouds": repr(sorted(c))}
            for name, c in sorted(accelerator_clouds.items())
        ),
    )
    _write_csv(
        out_dir / "common" / "metadata.csv",
        ("GPU", "MemoryGB", "Manufacturer"),
        (
            {
                "GPU": name,
                "MemoryGB": _price(catalog.gpu(name).memory_gb),
                "Manufacturer": catalog.gpu(name).vendor.value.upper(),
            }
            for name in sorted(accelerator_clouds)
        ),
    )
    return written
