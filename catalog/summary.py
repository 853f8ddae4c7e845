"""Summaries of the catalog for listings: each GPU with its cheapest offers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from catalog.records import GpuSku, Offer
from catalog.tables import Catalog

__all__ = ["GpuSummary", "OfferPrice", "cheapest_offer", "gpu_summaries", "price_rows"]


class OfferPrice(BaseModel):
    """An offer's price per GPU-hour and where it is sold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd_per_gpu_hour: float = Field(description="Instance price divided by its GPUs, $/GPU-h.")
    cloud: str = Field(description="Cloud.")
    region: str = Field(description="Region.")
    instance_type: str = Field(description="Instance type.")
    gpu_count: int = Field(description="GPUs per instance.")


class GpuSummary(BaseModel):
    """One GPU SKU with the cheapest on-demand and spot offers for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu: GpuSku = Field(description="The SKU.")
    offer_count: int = Field(description="Offers (cloud × region × instance type) that carry it.")
    cheapest_on_demand: OfferPrice | None = Field(description="Cheapest on-demand $/GPU-h.")
    cheapest_spot: OfferPrice | None = Field(description="Cheapest spot $/GPU-h.")


def _price(offer: Offer, spot: bool) -> float | None:
    total = offer.spot_price_usd_per_hour if spot else offer.price_usd_per_hour
    return None if total is None else total / offer.gpu_count


def cheapest_offer(offers: tuple[Offer, ...] | list[Offer], *, spot: bool) -> OfferPrice | None:
    """The offer with the lowest $/GPU-h (spot or on-demand), or None if none has that price."""
    priced = [(p, o) for o in offers if (p := _price(o, spot)) is not None]
    if not priced:
        return None
    usd, best = min(priced, key=lambda pair: (pair[0], pair[1].cloud, pair[1].region))
    return OfferPrice(
        usd_per_gpu_hour=round(usd, 4),
        cloud=best.cloud,
        region=best.region,
        instance_type=best.instance_type,
        gpu_count=best.gpu_count,
    )


def gpu_summaries(
    catalog: Catalog, *, min_memory_gib: float = 0.0, cloud: str | None = None
) -> list[GpuSummary]:
    """Every GPU with at least ``min_memory_gib``, with its cheapest offers (on ``cloud``).

    With ``cloud`` set, GPUs that cloud does not sell are left out.
    """
    rows = []
    for sku in sorted(catalog.gpus, key=lambda g: (g.memory_gib, g.matmul_dense_tflops)):
        if sku.memory_gib < min_memory_gib:
            continue
        offers = [o for o in catalog.offers_for(sku.name) if cloud is None or o.cloud == cloud]
        if cloud is not None and not offers:
            continue
        rows.append(
            GpuSummary(
                gpu=sku,
                offer_count=len(offers),
                cheapest_on_demand=cheapest_offer(offers, spot=False),
                cheapest_spot=cheapest_offer(offers, spot=True),
            )
        )
    return rows


def price_rows(catalog: Catalog, gpu: str, *, cloud: str | None = None) -> list[Offer]:
    """Every offer for ``gpu`` (on ``cloud``), cheapest per GPU-hour first."""
    offers = [o for o in catalog.offers_for(gpu) if cloud is None or o.cloud == cloud]
    return sorted(offers, key=lambda o: (o.price_usd_per_gpu_hour, o.cloud, o.region))
