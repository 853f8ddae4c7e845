"""Bridge to SkyPilot's catalog format (``vms.csv`` per cloud), both ways, without importing sky.

Reading: any SkyPilot catalog version (v7, v8, v9 — they differ in column order and extra
columns, so columns are read by name). GCP lists each GPU and its host VM in separate rows; they
are paired here the way SkyPilot's gcp_catalog pairs them (A100 → a2-highgpu-Ng, L4 →
g2-standard, T4/V100/P100/P4 attach to an n1-highmem host) and the two prices are added.
Rows are compacted to one Offer per (cloud, region, instance type): the cheapest zone.

Writing: our offers as a SkyPilot v8 catalog directory (``<cloud>/vms.csv``,
``common/accelerators.csv``, ``common/metadata.csv``) that SkyPilot's optimizer reads offline.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from catalog.errors import CatalogFileError
from catalog.records import GpuSku, Offer
from catalog.tables import Catalog

__all__ = ["SKY_CLOUD_NAMES", "ReadResult", "read_vms_csv", "write_sky_catalog"]

_REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")

# GCP: accelerator -> {count: host instance type}. Fixed pairings, as in SkyPilot's gcp_catalog
# (_ACC_INSTANCE_TYPE_DICTS); L4 takes the smallest g2 host.
_GCP_FIXED_HOSTS: dict[str, dict[int, str]] = {
    "A100": {
        1: "a2-highgpu-1g",
        2: "a2-highgpu-2g",
        4: "a2-highgpu-4g",
        8: "a2-highgpu-8g",
        16: "a2-megagpu-16g",
    },
    "A100-80GB": {
        1: "a2-ultragpu-1g",
        2: "a2-ultragpu-2g",
        4: "a2-ultragpu-4g",
        8: "a2-ultragpu-8g",
    },
    "L4": {1: "g2-standard-4", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
    "H100": {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
    "H100-MEGA": {8: "a3-megagpu-8g"},
    "H200": {8: "a3-ultragpu-8g"},
    "B200": {8: "a4-highgpu-8g"},
}
# GCP attached GPUs: vCPUs of the n1-highmem host per GPU count (SkyPilot's _NUM_ACC_TO_NUM_CPU).
_GCP_N1_VCPUS: dict[str, dict[int, int]] = {
    "T4": {1: 4, 2: 8, 4: 48},
    "V100": {1: 8, 2: 16, 4: 32, 8: 64},
    "P100": {1: 8, 2: 16, 4: 32},
    "DEFAULT": {1: 8, 2: 16, 4: 32, 8: 64},
}
_GCP_N1_FAMILIES = ("n1-standard", "n1-highmem", "n1-highcpu")
_GCP_GPU_HOST_GIB_PER_VCPU = 4
# Instance types whose GPU is a different SKU than the catalog's accelerator name says.
_GPU_OVERRIDES: tuple[tuple[str, str, str, str], ...] = (
    # (cloud, instance-type substring, catalog accelerator, our SKU)
    ("lambda", "h100_pcie", "H100", "H100-PCIe"),
    ("azure", "_H100_v5", "H100", "H100-NVL"),  # NCads H100 v5 carry H100 NVL 94 GB
    ("azure", "ads_A100_v4", "A100-80GB", "A100-80GB-PCIe"),  # NC A100 v4: PCIe cards
    ("vast", "H100_NVL", "H100", "H100-NVL"),
)

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


@dataclass
class ReadResult:
    """Offers read from one vms.csv, and why the other rows were left out."""

    offers: list[Offer]
    skipped: Counter[str] = field(default_factory=Counter)


def _number(text: str | None) -> float | None:
    """A positive price or size, else None (empty, NaN, zero)."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class _Row:
    instance_type: str
    accelerator: str
    count: float
    vcpus: float | None
    memory_gib: float | None
    price: float | None
    spot: float | None
    region: str
    zone: str
    line: int


def _rows(path: Path) -> Iterable[_Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise CatalogFileError(
                str(path),
                1,
                f"is not a SkyPilot vms.csv: missing column(s) {missing}.",
                "point at a SkyPilot catalog folder (e.g. ~/.sky/catalogs/v8/<cloud>/vms.csv).",
            )
        for row in reader:
            yield _Row(
                instance_type=(row.get("InstanceType") or "").strip(),
                accelerator=(row.get("AcceleratorName") or "").strip(),
                count=_number(row.get("AcceleratorCount")) or 0.0,
                vcpus=_number(row.get("vCPUs")),
                memory_gib=_number(row.get("MemoryGiB")),
                price=_number(row.get("Price")),
                spot=_number(row.get("SpotPrice")),
                region=(row.get("Region") or "").strip(" ,"),  # Vast: ", US, NA"
                zone=(row.get("AvailabilityZone") or "").strip(),
                line=reader.line_num,
            )


def _gcp_host(
    accelerator: str,
    count: int,
    zone: str,
    hosts: dict[tuple[str, str], _Row],
    n1_hosts: dict[str, list[_Row]],
) -> _Row | None:
    """The host VM SkyPilot's gcp_catalog pairs with this GPU row in this zone."""
    fixed = _GCP_FIXED_HOSTS.get(accelerator)
    if fixed is not None:
        return hosts.get((fixed.get(count, ""), zone))
    vcpus = _GCP_N1_VCPUS.get(accelerator, _GCP_N1_VCPUS["DEFAULT"]).get(count)
    if vcpus is None:
        return None
    # As SkyPilot: the cheapest n1 host with >= vcpus and >= 4 GiB per requested vCPU.
    fitting = [
        h
        for h in n1_hosts.get(zone, ())
        if (h.vcpus or 0) >= vcpus and (h.memory_gib or 0) >= _GCP_GPU_HOST_GIB_PER_VCPU * vcpus
    ]
    return min(fitting, key=lambda h: (h.price or math.inf, h.instance_type), default=None)


def _resolve_sku(catalog: Catalog, cloud: str, row: _Row) -> GpuSku | None:
    for o_cloud, fragment, accelerator, sku in _GPU_OVERRIDES:
        if cloud == o_cloud and fragment in row.instance_type and row.accelerator == accelerator:
            return catalog.find_gpu(sku)
    return catalog.find_gpu(row.accelerator)


@dataclass
class _Group:
    """The cheapest zone of one (region, instance type, GPU, count), and all its zones."""

    row: _Row  # the GPU row, carrying the host's instance type, vCPUs and RAM on GCP
    sku: GpuSku
    price: float
    spot: float | None
    host: _Row | None
    zones: set[str] = field(default_factory=set)


def _add_to_group(groups: dict[tuple, _Group], candidate: _Group) -> None:
    row = candidate.row
    key = (row.region, row.instance_type, candidate.sku.name, int(row.count))
    group = groups.get(key)
    if group is None or candidate.price < group.price:
        if group is not None:
            candidate.zones = group.zones
        groups[key] = group = candidate
    elif candidate.spot is not None and (group.spot is None or candidate.spot < group.spot):
        group.spot = candidate.spot
    if row.zone:
        group.zones.add(row.zone)


def _with_gcp_host(row: _Row, hosts: dict, n1_hosts: dict) -> tuple[_Row, _Row] | None:
    """The GPU row re-labelled with its host VM's type, size and zone, and the host row."""
    host = _gcp_host(row.accelerator, int(row.count), row.zone or row.region, hosts, n1_hosts)
    if host is None or host.price is None:
        return None
    labelled = _Row(
        host.instance_type,
        row.accelerator,
        row.count,
        host.vcpus,
        host.memory_gib,
        row.price,
        row.spot,
        row.region,
        row.zone,
        row.line,
    )
    return labelled, host


def _index_hosts(rows: list[_Row]) -> tuple[dict, dict]:
    hosts = {
        (r.instance_type, r.zone or r.region): r
        for r in rows
        if r.instance_type and not r.accelerator
    }
    n1_hosts: dict[str, list[_Row]] = {}
    for (instance_type, zone), host in hosts.items():
        if instance_type.startswith(_GCP_N1_FAMILIES) and host.price is not None:
            n1_hosts.setdefault(zone, []).append(host)
    return hosts, n1_hosts


def _candidate(
    row: _Row, cloud: str, catalog: Catalog, hosts: dict, n1_hosts: dict
) -> _Group | str:
    """The priced offer one GPU row makes, or why it is skipped."""
    if row.count < 1 or int(row.count) != row.count:
        return "fractional GPU"
    if row.accelerator.lower().startswith("tpu"):
        return "TPU (tailor plans GPUs)"
    sku = _resolve_sku(catalog, cloud, row)
    if sku is None:
        return f"GPU not in catalog: {row.accelerator}"
    host = None
    if cloud == "gcp" and not row.instance_type:
        paired = _with_gcp_host(row, hosts, n1_hosts)
        if paired is None:
            return "GCP GPU without its host VM in that zone"
        row, host = paired
    if row.price is None or not row.instance_type:
        return "no on-demand price"
    price = row.price + (host.price or 0.0 if host else 0.0)
    spot = None
    if row.spot is not None and (host is None or host.spot is not None):
        spot = row.spot + (host.spot or 0.0 if host else 0.0)
    return _Group(row, sku, price, spot, host)


def _offer(group: _Group, cloud: str, source: str, retrieved_on: date) -> Offer:
    row, host = group.row, group.host
    host_spot = host.spot if host is not None and group.spot is not None else None
    return Offer(
        cloud=cloud,
        region=row.region,
        instance_type=row.instance_type,
        gpu=group.sku.name,
        gpu_count=int(row.count),
        vcpus=row.vcpus,
        memory_gib=row.memory_gib,
        price_usd_per_hour=round(group.price, 5),
        spot_price_usd_per_hour=round(group.spot, 5) if group.spot else None,
        host_price_usd_per_hour=host.price if host else None,
        host_spot_price_usd_per_hour=host_spot,
        accelerator_name=row.accelerator if row.accelerator != group.sku.name else None,
        zones=tuple(sorted(group.zones)),
        source=source,
        retrieved_on=retrieved_on,
    )


def read_vms_csv(
    path: Path, *, cloud: str, catalog: Catalog, source: str, retrieved_on: date
) -> ReadResult:
    """Offers of GPU instances in a SkyPilot ``vms.csv``, one per (region, instance type)."""
    result = ReadResult(offers=[])
    rows = list(_rows(path))
    hosts, n1_hosts = _index_hosts(rows)
    groups: dict[tuple, _Group] = {}
    for row in rows:
        if not row.accelerator:
            continue
        candidate = _candidate(row, cloud, catalog, hosts, n1_hosts)
        if isinstance(candidate, str):
            result.skipped[candidate] += 1
        else:
            _add_to_group(groups, candidate)
    for _, group in sorted(groups.items()):
        result.offers.append(_offer(group, cloud, source, retrieved_on))
    return result


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        seen: set[tuple[str, ...]] = set()
        for row in rows:
            key = tuple(row.get(c, "") for c in columns)
            if key not in seen:  # GCP host rows repeat across GPU offers sharing a host type
                seen.add(key)
                writer.writerow(row)
    tmp.replace(path)


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


def read_sky_catalog_dir(
    folder: Path, *, catalog: Catalog, source: str, retrieved_on: date | None = None
) -> dict[str, ReadResult]:
    """Read every ``<cloud>/vms.csv`` under a SkyPilot catalog version folder.

    ``retrieved_on`` defaults to each file's modification date.
    """
    if not folder.is_dir():
        raise CatalogFileError(
            str(folder),
            None,
            "is not a folder.",
            "pass a SkyPilot catalog version folder such as ~/.sky/catalogs/v8.",
        )
    results = {}
    for vms in sorted(folder.glob("*/vms.csv")):
        cloud = vms.parent.name.lower()
        day = retrieved_on or date.fromtimestamp(vms.stat().st_mtime)
        results[cloud] = read_vms_csv(
            vms,
            cloud=cloud,
            catalog=catalog,
            source=f"{source} {cloud}/vms.csv",
            retrieved_on=day,
        )
    if not results:
        raise CatalogFileError(
            str(folder),
            None,
            "holds no <cloud>/vms.csv files.",
            "pass a SkyPilot catalog version folder such as ~/.sky/catalogs/v8.",
        )
    return results
