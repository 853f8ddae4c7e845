"""Choosing the instance to price a GPU count on: allowed clouds and regions, spot policy."""

from __future__ import annotations

from fnmatch import fnmatch

from catalog import Catalog, Offer
from planner.plan import OfferChoice
from planner.spec import GoalSpec, SpotPolicy

__all__ = ["OfferIndex", "build_offer_index"]


def _allowed(offer: Offer, goal: GoalSpec) -> bool:
    clouds, regions = goal.privacy.allowed_clouds, goal.privacy.allowed_regions
    if clouds is not None and offer.cloud not in clouds:
        return False
    return regions is None or any(fnmatch(offer.region, pattern) for pattern in regions)


def _choice(offer: Offer, spot: bool) -> OfferChoice:
    price = offer.spot_price_usd_per_hour if spot else offer.price_usd_per_hour
    assert price is not None
    return OfferChoice(
        cloud=offer.cloud,
        region=offer.region,
        instance_type=offer.instance_type,
        gpu=offer.gpu,
        gpus_per_instance=offer.gpu_count,
        usd_per_hour=price,
        spot=spot,
        retrieved_on=offer.retrieved_on,
    )


class OfferIndex:
    """Cheapest allowed instance per (GPU, GPUs per instance), for training and for serving.

    Training may run on spot (it checkpoints and resumes) unless the goal says never; serving
    runs on-demand unless the goal requires spot.
    """

    def __init__(self, offers: list[Offer], policy: SpotPolicy) -> None:
        self._train: dict[tuple[str, int], OfferChoice] = {}
        self._serve: dict[tuple[str, int], OfferChoice] = {}
        self.allowed_count = len(offers)
        for offer in offers:
            key = (offer.gpu, offer.gpu_count)
            for spot in self._spot_options(offer, policy, training=True):
                self._keep(self._train, key, _choice(offer, spot))
            for spot in self._spot_options(offer, policy, training=False):
                self._keep(self._serve, key, _choice(offer, spot))

    @staticmethod
    def _spot_options(offer: Offer, policy: SpotPolicy, *, training: bool) -> list[bool]:
        has_spot = offer.spot_price_usd_per_hour is not None
        if policy is SpotPolicy.REQUIRED:
            return [True] if has_spot else []
        if policy is SpotPolicy.NEVER or not training:
            return [False]
        return [False, True] if has_spot else [False]

    @staticmethod
    def _keep(index: dict, key: tuple[str, int], choice: OfferChoice) -> None:
        best = index.get(key)
        if best is None or (choice.usd_per_hour, choice.cloud, choice.region) < (
            best.usd_per_hour,
            best.cloud,
            best.region,
        ):
            index[key] = choice

    def training(self, gpu: str, count: int) -> OfferChoice | None:
        """Cheapest instance with exactly ``count`` of ``gpu`` for training."""
        return self._train.get((gpu, count))

    def serving(self, gpu: str, count: int) -> OfferChoice | None:
        """Cheapest on-demand (or spot, if required) instance with ``count`` of ``gpu``."""
        return self._serve.get((gpu, count))

    def training_shapes(self) -> list[tuple[str, int]]:
        """(GPU, GPUs per instance) that can be rented for training."""
        return sorted(self._train)

    def serving_shapes(self) -> list[tuple[str, int]]:
        """(GPU, GPUs per instance) that can be rented for serving."""
        return sorted(self._serve)


def build_offer_index(goal: GoalSpec, catalog: Catalog) -> OfferIndex:
    """Index the catalog's offers that the goal's clouds, regions, GPUs and spot policy allow."""
    gpus = {catalog.gpu(name).name for name in goal.preferences.gpus}
    offers = [o for o in catalog.offers if _allowed(o, goal) and (not gpus or o.gpu in gpus)]
    return OfferIndex(offers, goal.preferences.spot)
