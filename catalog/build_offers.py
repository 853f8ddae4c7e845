"""Build the shipped offers table (catalog/data/offers.csv) from SkyPilot-format catalogs.

Usage (from the repository root)::

    python -m catalog.build_offers \\
        --snapshot ../shared/catalog-snapshot/anycloud-sh_catalog/HEAD_62ff0a98_2026-05-20 \\
        --label "anycloud-sh/catalog@62ff0a98 (SkyPilot vms.csv format)" \\
        --extra catalog/data/extra_offers.csv

Each ``--snapshot`` folder holds ``<cloud>/vms.csv`` files; its date is the ``_YYYY-MM-DD``
suffix of the folder name (or ``--date``). ``--extra`` adds hand-collected offers (AWS, RunPod,
…) with their own source and date. Only the derived table is committed, never the raw CSVs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

from catalog.datafile import read_csv_records, write_csv_records
from catalog.errors import CatalogError
from catalog.files import write_text_atomic
from catalog.loaders import load_gpus, shipped_data_dir
from catalog.records import Offer
from catalog.sky_import import read_sky_catalog_dir
from catalog.tables import Catalog

_DATE_SUFFIX = re.compile(r"_(\d{4}-\d{2}-\d{2})$")


def _snapshot_date(folder: Path, explicit: str | None) -> date:
    if explicit:
        return date.fromisoformat(explicit)
    match = _DATE_SUFFIX.search(folder.name)
    if not match:
        raise SystemExit(f"{folder}: no _YYYY-MM-DD suffix. To fix: pass --date YYYY-MM-DD.")
    return date.fromisoformat(match.group(1))


def _canonical_extra(catalog: Catalog, extra: list[Offer], skipped: Counter[str]) -> list[Offer]:
    rows = []
    for offer in extra:
        sku = catalog.find_gpu(offer.gpu)
        if sku is None:
            skipped[f"extra: GPU not in catalog: {offer.gpu}"] += 1
            continue
        accelerator = offer.accelerator_name or (offer.gpu if offer.gpu != sku.name else None)
        rows.append(offer.model_copy(update={"gpu": sku.name, "accelerator_name": accelerator}))
    return rows


def build(
    snapshots: list[Path], label: str, extra: Path | None, when: str | None, catalog: Catalog
) -> tuple[list[Offer], Counter[str], date]:
    """All offers from the snapshots plus the extra table, and what was skipped."""
    offers: list[Offer] = []
    skipped: Counter[str] = Counter()
    newest = date.min
    for folder in snapshots:
        day = _snapshot_date(folder, when)
        newest = max(newest, day)
        for cloud, result in read_sky_catalog_dir(
            folder, catalog=catalog, source=label, retrieved_on=day
        ).items():
            offers.extend(result.offers)
            skipped.update({f"{cloud}: {k}": v for k, v in result.skipped.items()})
    if extra is not None:
        offers.extend(_canonical_extra(catalog, read_csv_records(extra, Offer), skipped))
    offers.sort(key=lambda o: (o.cloud, o.gpu, o.gpu_count, o.region, o.instance_type))
    return offers, skipped, newest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints a summary of what was built."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, action="append", required=True)
    parser.add_argument("--label", required=True, help="source label recorded on each offer")
    parser.add_argument("--date", help="snapshot date if the folder name has none")
    parser.add_argument("--extra", type=Path, help="CSV of extra offers (Offer columns)")
    parser.add_argument("--out", type=Path, default=shipped_data_dir() / "offers.csv")
    args = parser.parse_args(argv)
    catalog = Catalog(gpus=load_gpus(shipped_data_dir()), snapshot_date=date.today())
    try:
        offers, skipped, newest = build(args.snapshot, args.label, args.extra, args.date, catalog)
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        return 2
    write_csv_records(args.out, offers, Offer)
    meta = {
        "snapshot_date": newest.isoformat(),
        "built_on": date.today().isoformat(),
        "sources": [args.label] + ([str(args.extra.name)] if args.extra else []),
        "offers": len(offers),
    }
    write_text_atomic(args.out.parent / "snapshot.yaml", yaml.safe_dump(meta, sort_keys=False))
    per_cloud = Counter(o.cloud for o in offers)
    print(f"wrote {len(offers)} offers to {args.out}: {dict(sorted(per_cloud.items()))}")
    for reason, count in sorted(skipped.items()):
        print(f"  skipped {count:5d}  {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
