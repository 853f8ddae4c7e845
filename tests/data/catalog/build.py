"""Freeze the test catalog: copy catalog/data here and keep a small subset of its offers.

Run from the repository root, after a deliberate decision to move the tests to newer data::

    .venv/bin/python tests/data/catalog/build.py

The tests read this folder (``TAILOR_CATALOG_DIR``, set in tests/conftest.py), never the
shipped data, so ``make offers`` or ``tailor catalog refresh`` changes no test's prices or
plans. Re-running this script is the one way to change them; expect SVG snapshots
(``pytest tests/tui/test_snapshots.py --snapshot-update``) and price assertions to move.

Offers rule, per (cloud, GPU, GPU count), offers ordered by on-demand $/h, then region, then
instance type: keep the cheapest offer of at most three regions: the cheapest region overall,
the cheapest region in the EU and the cheapest region in the US (one region may be several of
these). So every GPU shape of every cloud is still offered, EU-only goals still plan, and the
rows are a fixed point of the rule (``is_subset_fixed_point`` checks it).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from catalog.datafile import read_csv_records, write_csv_records  # noqa: E402
from catalog.files import write_text_atomic  # noqa: E402
from catalog.loaders import DATA_FILES, OPTIONAL_DATA_FILES, shipped_data_dir  # noqa: E402
from catalog.records import Offer  # noqa: E402

HERE = Path(__file__).resolve().parent
# Regions inside the EU, as the shipped clouds name them (AWS eu-*, GCP and Lambda europe-*,
# Azure *europe and its EU country regions, Vast "<place>, <country>, EU").
EU_REGIONS = (
    "eu-*",
    "europe-*",
    "*europe",
    "francecentral",
    "germanywestcentral",
    "swedencentral",
    "polandcentral",
    "italynorth",
    "spaincentral",
    "*, EU",
)
# Regions in the US: AWS/GCP/Lambda us-*, Azure *us / *us2 / *us3, RunPod US, Vast "…, US, NA".
US_REGIONS = ("us-*", "*us", "*us[0-9]", "US", "*US, NA")


def _in(region: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(region, pattern) for pattern in patterns)


def subset(offers: Iterable[Offer]) -> list[Offer]:
    """The rule of the module docstring, in the shipped file's order."""
    groups: dict[tuple[str, str, int], list[Offer]] = {}
    for offer in offers:
        groups.setdefault((offer.cloud, offer.gpu, offer.gpu_count), []).append(offer)
    kept: list[Offer] = []
    for rows in groups.values():
        rows.sort(key=lambda o: (o.price_usd_per_hour, o.region, o.instance_type))
        regions = [rows[0].region]
        regions += [next((o.region for o in rows if _in(o.region, EU_REGIONS)), None)]
        regions += [next((o.region for o in rows if _in(o.region, US_REGIONS)), None)]
        for region in dict.fromkeys(r for r in regions if r is not None):
            kept.append(next(o for o in rows if o.region == region))
    return sorted(kept, key=lambda o: (o.cloud, o.gpu, o.gpu_count, o.region, o.instance_type))


def is_subset_fixed_point(offers: list[Offer]) -> bool:
    """True when applying the rule to ``offers`` keeps every one of them."""
    return subset(offers) == sorted(
        offers, key=lambda o: (o.cloud, o.gpu, o.gpu_count, o.region, o.instance_type)
    )


def main() -> int:
    """Copy the shipped tables here and write the offers subset and the frozen snapshot.yaml."""
    shipped = shipped_data_dir()
    tables = ("gpus.yaml", "models.yaml", "api_prices.yaml", "benchmarks.yaml")
    copied = (*tables, "benchmark_scores.yaml", "quality_priors.yaml", "clouds.yaml")
    for name in (*copied, *OPTIONAL_DATA_FILES):
        shutil.copyfile(shipped / name, HERE / name)
    offers = read_csv_records(shipped / "offers.csv", Offer)
    kept = subset(offers)
    write_csv_records(HERE / "offers.csv", kept, Offer)
    meta = yaml.safe_load((shipped / "snapshot.yaml").read_text(encoding="utf-8"))
    frozen = {
        "note": "Frozen test catalog (tests/data/catalog/build.py): a copy of catalog/data "
        f"as of {date.today().isoformat()} with {len(kept)} of its {len(offers)} offers. "
        "Tests read it instead of the shipped data; do not refresh it with make offers.",
        "frozen_on": date.today().isoformat(),
        **meta,
        "offers": len(kept),
    }
    write_text_atomic(HERE / "snapshot.yaml", yaml.safe_dump(frozen, sort_keys=False))
    every = (*DATA_FILES, *OPTIONAL_DATA_FILES)
    assert sorted(every) == sorted(p.name for p in HERE.iterdir() if p.name in every)
    print(f"kept {len(kept)} of {len(offers)} offers in {HERE / 'offers.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
