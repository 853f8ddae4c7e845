"""Reading SkyPilot's catalog format (``<cloud>/vms.csv``) into our offers, without importing sky.

Any SkyPilot catalog version (v7, v8, v9 — they differ in column order and extra columns, so
columns are read by name). GCP lists each GPU and its host VM in separate rows; they are paired
here the way SkyPilot's gcp_catalog pairs them (A100 → a2-highgpu-Ng, L4 → g2-standard,
T4/V100/P100/P4 attach to an n1-highmem host) and the two prices are added. Rows are compacted
to one Offer per (cloud, region, instance type): the cheapest zone.

Writing our offers in SkyPilot's format is :mod:`catalog.sky_export`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from catalog.datafile import describe_validation_error, read_text
from catalog.errors import CatalogFileError
from catalog.records import GpuSku, Offer
from catalog.tables import Catalog

__all__ = ["ReadResult", "read_sky_catalog_dir", "read_vms_csv"]

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


def _sky_reader(path: Path) -> csv.DictReader[str]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    try:
        header = reader.fieldnames or ()
    except csv.Error as exc:
        raise _csv_error(path, exc, 1) from None
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogFileError(
            f"is not a SkyPilot vms.csv: missing column(s) {missing}.",
            path=path,
            line=1,
            fix="point at a SkyPilot catalog folder (e.g. ~/.sky/catalogs/v8/<cloud>/vms.csv).",
        )
    return reader


def _csv_error(path: Path, exc: csv.Error, line: int) -> CatalogFileError:
    return CatalogFileError(
        f"is not a readable CSV table ({exc}); nothing was imported.",
        path=path,
        line=line,
        fix="correct that row (fields over 128 KB are refused) or re-download the catalog.",
    )


def _rows(path: Path) -> Iterable[_Row]:
    reader = _sky_reader(path)
    rows = []
    try:
        for row in reader:
            rows.append(
                _Row(
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
            )
    except csv.Error as exc:
        raise _csv_error(path, exc, reader.line_num + 1) from None
    return rows


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


def _checked_offer(path: Path, group: _Group, cloud: str, source: str, retrieved_on: date) -> Offer:
    """The offer of one group, or a CatalogFileError naming the row that makes it invalid."""
    try:
        return _offer(group, cloud, source, retrieved_on)
    except ValidationError as exc:
        raise CatalogFileError(
            f"row of {group.row.instance_type[:64]!r} in {group.row.region[:64]!r} makes an "
            f"invalid offer: {describe_validation_error(exc)} Nothing was imported.",
            path=path,
            line=group.row.line,
            fix="correct or delete that row (prices from $0.0001 to $10,000 an hour, names "
            "up to 256 printable characters), or re-download the catalog.",
        ) from None


def read_vms_csv(
    path: Path, *, cloud: str, catalog: Catalog, source: str, retrieved_on: date
) -> ReadResult:
    """Offers of GPU instances in a SkyPilot ``vms.csv``, one per (region, instance type).

    Rows tailor does not plan with are skipped and counted (no GPU, a TPU, a GPU not in the
    catalog, no on-demand price: empty, zero, negative, NaN or infinite). A file that cannot be
    read (not a regular file, not UTF-8, a field over 128 KB) or a GPU row that makes an invalid
    Offer (a price outside $0.0001–$10,000/h, a name over 256 characters or with control
    characters) raises CatalogFileError naming file:line: the import is all or nothing.
    """
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
        result.offers.append(_checked_offer(path, group, cloud, source, retrieved_on))
    return result


def read_sky_catalog_dir(
    folder: Path, *, catalog: Catalog, source: str, retrieved_on: date | None = None
) -> dict[str, ReadResult]:
    """Read every ``<cloud>/vms.csv`` under a SkyPilot catalog version folder.

    ``retrieved_on`` defaults to each file's modification date.
    """
    if not folder.is_dir():
        raise CatalogFileError(
            "is not a folder.",
            path=folder,
            fix="pass a SkyPilot catalog version folder such as ~/.sky/catalogs/v8.",
        )
    results = {}
    for vms in sorted(folder.glob("*/vms.csv")):
        cloud = vms.parent.name.lower()
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", cloud):
            raise CatalogFileError(
                f"is named {cloud[:64]!r}, not a cloud name; nothing was imported.",
                path=vms.parent,
                fix="name each folder as SkyPilot names the cloud (aws, gcp, lambda, ...).",
            )
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
            "holds no <cloud>/vms.csv files.",
            path=folder,
            fix="pass a SkyPilot catalog version folder such as ~/.sky/catalogs/v8.",
        )
    return results
