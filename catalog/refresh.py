"""``tailor catalog refresh``: SkyPilot's catalog into the user's offers.csv, all or nothing.

The rule: a refresh replaces the user's offers of the clouds it brings offers for and keeps
those of every other cloud, so refreshing ``lambda`` today and ``aws`` tomorrow leaves both.
(The loader then lets the user's offers of a cloud replace that cloud's base offers.)

Every row of every ``<cloud>/vms.csv`` is read and checked before anything is written (see
:func:`catalog.sky_import.read_vms_csv`); any problem raises CatalogFileError and the previous
offers.csv stays byte for byte. The rows kept from the previous file are written back as they
were, even ones this version cannot read (the loader skips and names those); a previous file
that cannot be read as a whole (not UTF-8, not CSV, unknown columns) refuses the refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.datafile import read_csv_rows, write_csv_rows
from catalog.errors import CatalogError, CatalogFileError
from catalog.records import Offer
from catalog.sky_import import ReadResult, read_sky_catalog_dir
from catalog.tables import Catalog

__all__ = ["RefreshResult", "refresh_user_offers"]


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh read and wrote."""

    read: dict[str, ReadResult]
    """Per cloud folder: the offers read and the rows skipped, with why."""
    replaced_clouds: tuple[str, ...]
    """Clouds whose offers the refresh wrote (those it brought at least one offer for)."""
    kept_clouds: tuple[str, ...]
    """Clouds of the previous offers.csv kept as they were."""
    offer_count: int
    """Offers written for the replaced clouds."""


def _previous_rows(target: Path) -> list[dict[str, str]]:
    if not target.exists():
        return []
    try:
        return [row for _, row in read_csv_rows(target, Offer)]
    except CatalogFileError as exc:
        raise CatalogFileError(
            f"{exc.problem} The refresh would drop the offers it holds, so nothing was written.",
            path=target,
            line=exc.line,
            fix=f"repair that file or move it away, then refresh again ({exc.fix})",
        ) from None


def refresh_user_offers(folder: Path, *, catalog: Catalog, target: Path) -> RefreshResult:
    """Read a SkyPilot catalog folder and merge its offers into ``target`` by cloud."""
    results = read_sky_catalog_dir(folder, catalog=catalog, source=f"SkyPilot catalog {folder}")
    offers = [o for r in results.values() for o in r.offers]
    if not offers:
        raise CatalogError(
            f"{folder}: no GPU offers found in {', '.join(sorted(results))}; your catalog is "
            "unchanged. To fix: point --from at a SkyPilot catalog with GPU instances of GPUs "
            "in `tailor catalog gpus`."
        )
    replaced = sorted({o.cloud for o in offers})
    kept = [r for r in _previous_rows(target) if r.get("cloud") not in replaced]
    write_csv_rows(target, [*kept, *offers], Offer)
    return RefreshResult(
        read=results,
        replaced_clouds=tuple(replaced),
        kept_clouds=tuple(sorted({r.get("cloud", "") for r in kept})),
        offer_count=len(offers),
    )
