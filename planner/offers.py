"""Choosing the instance to price a GPU count on: allowed clouds and regions, spot policy."""

from __future__ import annotations

from fnmatch import fnmatch, fnmatchcase

from catalog import Area, Catalog, GpuSku, Offer, Vendor
from planner.errors import PlannerError
from planner.plan import OfferChoice
from planner.spec import GoalSpec, SpotPolicy

__all__ = [
    "LAUNCHABLE_ARCHITECTURES",
    "MOUNTED_SERVE_NEEDS",
    "SERVE_NEEDS",
    "TRAIN_NEEDS",
    "OfferIndex",
    "UserDistance",
    "build_offer_index",
    "launch_refusal",
    "marketplace_clouds",
    "trusts_marketplace",
    "user_areas",
]


TRAIN_NEEDS = frozenset({"STORAGE_MOUNTING"})
"""SkyPilot features every training task needs: its checkpoint bucket is a MOUNT
(sky.Task.get_required_cloud_features). Multi-node training also needs MULTI_NODE; every cloud
SkyPilot 0.14.1 lists without it also lacks STORAGE_MOUNTING (a test keeps that true), so the
training index holds multi-node-capable clouds only."""
SERVE_NEEDS = frozenset({"OPEN_PORTS"})
"""What a service of published weights needs: the endpoint's port (``ports: 8000``)."""
MOUNTED_SERVE_NEEDS = SERVE_NEEDS | {"STORAGE_MOUNTING"}
"""What a service of fine-tuned weights (the bucket's merged weights, a MOUNT) or a batch job
(input weights and results in the bucket, a MOUNT) needs."""


LAUNCHABLE_ARCHITECTURES = frozenset({"turing", "ampere", "ada", "hopper", "blackwell"})
"""NVIDIA architectures the launched software runs on. The remote lock's torch 2.13.0 (PyPI,
a CUDA 13 build: executor/locks.py) has kernels for compute capability 7.5 and up: CUDA 13
dropped Volta (sm_70), PyTorch's CUDA 12.8+ wheels already left out Pascal and Volta; and
SkyPilot 0.14.1 gives pre-Turing GPUs its legacy image with driver 535, below the 580 CUDA 13
needs (sky/clouds/utils/gpu_utils.py LEGACY_DRIVER_GPUS). AMD GPUs would need a ROCm build of
torch and vLLM, which the lock is not."""
ARM_HOST_GPUS = frozenset({"GH200"})
"""GPUs whose host CPU is Arm (Grace Hopper: NVIDIA's Grace CPU): the lock is x86_64 wheels."""


def launch_refusal(sku: GpuSku) -> str | None:
    """Why tailor cannot launch its locked stack on ``sku`` (None: it can)."""
    if sku.vendor is not Vendor.NVIDIA:
        return (
            f"{sku.name} is an {sku.vendor.value.upper()} GPU: the launched stack is CUDA builds "
            "of torch 2.13.0 and vLLM 0.32.0 (no ROCm lock)"
        )
    if sku.architecture not in LAUNCHABLE_ARCHITECTURES:
        return (
            f"{sku.name} is {sku.architecture} (before Turing): the launched torch 2.13.0 is a "
            "CUDA 13 build with kernels for compute capability 7.5 and up, and SkyPilot gives "
            "it a driver-535 image"
        )
    if sku.name in ARM_HOST_GPUS:
        return f"{sku.name}'s host CPU is Arm (Grace): the launched stack is x86_64 wheels"
    return None


def _allowed(offer: Offer, goal: GoalSpec, marketplace: frozenset[str]) -> bool:
    clouds, regions = goal.privacy.allowed_clouds, goal.privacy.allowed_regions
    if clouds is not None and offer.cloud not in clouds:
        return False
    if offer.cloud in marketplace and not trusts_marketplace(goal):
        return False
    return regions is None or any(fnmatch(offer.region, pattern) for pattern in regions)


def trusts_marketplace(goal: GoalSpec) -> bool:
    """Whether the goal lets its data onto community-marketplace hosts (individually owned
    machines): when the data may leave anyway, or the goal says so."""
    return goal.privacy.data_can_leave or goal.privacy.allow_marketplace


def marketplace_clouds(catalog: Catalog) -> frozenset[str]:
    """Clouds whose catalog tier is 'marketplace'."""
    return frozenset(
        offer.cloud
        for offer in catalog.offers
        if (facts := catalog.cloud_facts(offer.cloud)) is not None
        and facts.individually_owned_hosts
    )


def _choice(offer: Offer, spot: bool, tier: str = "unknown") -> OfferChoice:
    price = offer.spot_price_usd_per_hour if spot else offer.price_usd_per_hour
    assert price is not None
    return OfferChoice(
        tier=tier,
        cloud=offer.cloud,
        region=offer.region,
        instance_type=offer.instance_type,
        gpu=offer.gpu,
        accelerator=offer.sky_accelerator_name,
        gpus_per_instance=offer.gpu_count,
        usd_per_hour=price,
        spot=spot,
        retrieved_on=offer.retrieved_on,
    )


_Entry = tuple[float, str, str, str, bool, Offer]  # price, cloud, region, instance, spot, offer


def user_areas(goal: GoalSpec, catalog: Catalog) -> tuple[Area, ...] | None:
    """The areas ``traffic.user_regions`` names (areas or ISO countries, globs, any case);
    None when the goal does not say. PlannerError for a pattern that names nothing."""
    patterns = goal.traffic.user_regions
    if patterns is None:
        return None
    country_area = {r.country: r.area for r in catalog.region_rows if r.country}
    found: set[Area] = set()
    for pattern in patterns:
        areas = {a for a in Area if fnmatchcase(a.value, pattern.lower())}
        areas |= {a for c, a in country_area.items() if fnmatchcase(c, pattern.upper())}
        if not areas:
            raise PlannerError(
                f"traffic.user_regions: {pattern!r} names no area and no country of a catalog "
                f"region. To fix: use an area ({', '.join(a.value for a in Area)}) or an ISO "
                f"country code of a catalog region ({', '.join(sorted(country_area))})."
            )
        found |= areas
    return tuple(sorted(found, key=list(Area).index))


class UserDistance:
    """Round trip from an offer's region to the farthest of the goal's user areas, from the
    catalog's published area-to-area measurements (``area_rtt_ms``)."""

    def __init__(self, catalog: Catalog, areas: tuple[Area, ...]) -> None:
        self.areas = areas
        self._catalog = catalog
        known = [r.rtt_ms for r in catalog.area_rtts]
        self.worst_ms = max(known, default=0.0)
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def rtt(self, cloud: str, region: str) -> tuple[float, str]:
        """(round trip in ms, basis) from this region to the farthest user area."""
        key = (cloud, region)
        if key not in self._cache:
            self._cache[key] = self._measure(cloud, region)
        return self._cache[key]

    def _measure(self, cloud: str, region: str) -> tuple[float, str]:
        info = self._catalog.region_info(cloud, region)
        if info is None:
            return self.worst_ms, (
                f"{cloud}/{region} has no area in the catalog: the largest published round "
                f"trip ({self.worst_ms:g} ms) is assumed"
            )
        parts, worst = [], 0.0
        for area in self.areas:
            rtt = self._catalog.area_rtt_ms(info.area, area)
            if rtt is None:
                rtt = self.worst_ms
                parts.append(f"{info.area.value}→{area.value} unmeasured, {rtt:g} ms assumed")
            else:
                parts.append(f"{info.area.value}→{area.value} {rtt:g} ms")
            worst = max(worst, rtt)
        return worst, (
            f"round trip from {cloud}/{region} ({info.area.value}) to the farthest user area "
            f"({'; '.join(parts)}; catalog clouds.yaml area_rtt_ms); assumption: each listed "
            "place sends at least 5 % of the requests, so the farthest one sets the p95"
        )


class OfferIndex:
    """Allowed instances per (GPU, GPUs per instance), cheapest first, for training and serving.

    Training may run on spot (it checkpoints and resumes) unless the goal says never; serving
    runs on-demand unless the goal requires spot.
    """

    def __init__(
        self,
        offers: list[Offer],
        policy: SpotPolicy,
        tiers: dict[str, str] | None = None,
        users: UserDistance | None = None,
        *,
        unsupported: dict[str, frozenset[str]] | None = None,
        serve_needs: frozenset[str] = SERVE_NEEDS,
    ) -> None:
        self.tiers = tiers or {}
        lacks = unsupported or {}
        self.serve_needs = serve_needs
        self.users = users
        self._train: dict[tuple[str, int], list[_Entry]] = {}
        self._serve: dict[tuple[str, int], list[_Entry]] = {}
        self._serving_choices: dict[tuple[str, int], list[tuple[OfferChoice, float, str]]] = {}
        self.allowed_count = len(offers)
        for offer in offers:
            key = (offer.gpu, offer.gpu_count)
            missing = lacks.get(offer.cloud, frozenset())
            for index, training in ((self._train, True), (self._serve, False)):
                if (TRAIN_NEEDS if training else serve_needs) & missing:
                    continue  # SkyPilot would refuse the task on this cloud
                for spot in self._spot_options(offer, policy, training=training):
                    if spot and "SPOT_INSTANCE" in missing:
                        continue
                    price = offer.spot_price_usd_per_hour if spot else offer.price_usd_per_hour
                    assert price is not None
                    index.setdefault(key, []).append(
                        (price, offer.cloud, offer.region, offer.instance_type, spot, offer)
                    )
        for index in (self._train, self._serve):
            for entries in index.values():
                entries.sort(key=lambda e: e[:5])

    @staticmethod
    def _spot_options(offer: Offer, policy: SpotPolicy, *, training: bool) -> list[bool]:
        has_spot = offer.spot_price_usd_per_hour is not None
        if policy is SpotPolicy.REQUIRED:
            return [True] if has_spot else []
        if policy is SpotPolicy.NEVER or not training:
            return [False]
        return [False, True] if has_spot else [False]

    def _first(self, index: dict, gpu: str, count: int) -> OfferChoice | None:
        entries = index.get((gpu, count))
        if not entries:
            return None
        offer, spot = entries[0][5], entries[0][4]
        return _choice(offer, spot, self.tiers.get(offer.cloud, "unknown"))

    def _alternatives(
        self, index: dict, gpu: str, count: int, limit: int
    ) -> tuple[OfferChoice, ...]:
        seen: set[tuple[str, str]] = set()
        kept: list[OfferChoice] = []
        for _, cloud, region, _, spot, offer in index.get((gpu, count), [])[1:]:
            if (cloud, region) not in seen and len(kept) < limit:
                seen.add((cloud, region))
                kept.append(_choice(offer, spot, self.tiers.get(offer.cloud, "unknown")))
        return tuple(kept)

    def training_prices(self, gpu: str, count: int) -> dict[bool, float]:
        """{spot: $/h} of the cheapest training instance of that shape of each kind the goal's
        spot policy allows (on-demand False, spot True)."""
        prices: dict[bool, float] = {}
        for price, _, _, _, spot, _ in self._train.get((gpu, count), []):
            prices.setdefault(spot, price)
        return prices

    def training_of(
        self, gpu: str, count: int, *, spot: bool, cloud: str | None = None
    ) -> OfferChoice | None:
        """Cheapest training instance of that shape and kind (and cloud, when given)."""
        for _, where, _, _, kind, offer in self._train.get((gpu, count), []):
            if kind is spot and cloud in (None, where):
                return _choice(offer, spot, self.tiers.get(offer.cloud, "unknown"))
        return None

    def spot_clouds(self, gpu: str, count: int) -> list[str]:
        """Clouds with a spot training instance of that shape, cheapest first (each prices
        preemptions at its own rate)."""
        clouds: list[str] = []
        for _, cloud, _, _, kind, _ in self._train.get((gpu, count), []):
            if kind and cloud not in clouds:
                clouds.append(cloud)
        return clouds

    def training_alternatives_of(
        self, gpu: str, count: int, *, spot: bool, cloud: str | None = None, limit: int = 5
    ) -> tuple[OfferChoice, ...]:
        """Next-cheapest training instances of that shape and kind (and cloud, when given),
        one per (cloud, region)."""
        entries = [
            e for e in self._train.get((gpu, count), []) if e[4] is spot and cloud in (None, e[1])
        ]
        seen: set[tuple[str, str]] = set()
        kept: list[OfferChoice] = []
        for _, where, region, _, kind, offer in entries[1:]:
            if (where, region) not in seen and len(kept) < limit:
                seen.add((where, region))
                kept.append(_choice(offer, kind, self.tiers.get(offer.cloud, "unknown")))
        return tuple(kept)

    def training_price(self, gpu: str, count: int) -> float | None:
        """$/h of the cheapest training instance of that shape (no OfferChoice built)."""
        entries = self._train.get((gpu, count))
        return entries[0][0] if entries else None

    def training(self, gpu: str, count: int) -> OfferChoice | None:
        """Cheapest instance with exactly ``count`` of ``gpu`` for training."""
        return self._first(self._train, gpu, count)

    def serving(self, gpu: str, count: int) -> OfferChoice | None:
        """Cheapest on-demand (or spot, if required) instance with ``count`` of ``gpu``."""
        return self._first(self._serve, gpu, count)

    def serving_choices(self, gpu: str, count: int) -> list[tuple[OfferChoice, float, str]]:
        """(offer, round trip to the users in s, its basis) to try for a serving shape: the
        cheapest, and — when the goal says where its users are — the cheapest of the nearest
        regions too, if it is another one."""
        key = (gpu, count)
        if key not in self._serving_choices:
            self._serving_choices[key] = self._solve_serving_choices(gpu, count)
        return list(self._serving_choices[key])  # a copy: the cached list stays as solved

    def _solve_serving_choices(self, gpu: str, count: int) -> list[tuple[OfferChoice, float, str]]:
        entries = self._serve.get((gpu, count))
        if not entries:
            return []
        cheapest = entries[0]
        if self.users is None:
            return [(self._entry_choice(cheapest), 0.0, "")]
        rtts = [self.users.rtt(e[1], e[2]) for e in entries]
        nearest = min(r[0] for r in rtts)
        near = next(i for i, r in enumerate(rtts) if r[0] == nearest)
        picked = [0] if near == 0 else [0, near]
        return [(self._entry_choice(entries[i]), rtts[i][0] / 1000, rtts[i][1]) for i in picked]

    def _entry_choice(self, entry: _Entry) -> OfferChoice:
        offer, spot = entry[5], entry[4]
        return _choice(offer, spot, self.tiers.get(offer.cloud, "unknown"))

    def training_alternatives(
        self, gpu: str, count: int, limit: int = 5
    ) -> tuple[OfferChoice, ...]:
        """Next-cheapest training instances of that shape, one per (cloud, region)."""
        return self._alternatives(self._train, gpu, count, limit)

    def serving_alternatives(self, gpu: str, count: int, limit: int = 5) -> tuple[OfferChoice, ...]:
        """Next-cheapest serving instances of that shape, one per (cloud, region)."""
        return self._alternatives(self._serve, gpu, count, limit)

    def training_shapes(self) -> list[tuple[str, int]]:
        """(GPU, GPUs per instance) that can be rented for training."""
        return sorted(self._train)

    def serving_shapes(self) -> list[tuple[str, int]]:
        """(GPU, GPUs per instance) that can be rented for serving."""
        return sorted(self._serve)


def build_offer_index(
    goal: GoalSpec, catalog: Catalog, *, serve_needs: frozenset[str] = SERVE_NEEDS
) -> OfferIndex:
    """Index the catalog's offers that the goal's clouds, regions, GPUs and spot policy allow,
    on clouds that support what the tasks need (``serve_needs`` for serving / batch)."""
    gpus = {catalog.gpu(name).name for name in goal.preferences.gpus}
    market = marketplace_clouds(catalog)
    launchable = {g.name for g in catalog.gpus if launch_refusal(g) is None}
    offers = [
        o
        for o in catalog.offers
        if _allowed(o, goal, market) and (not gpus or o.gpu in gpus) and o.gpu in launchable
    ]
    areas = user_areas(goal, catalog)
    users = UserDistance(catalog, areas) if areas is not None else None
    unsupported = {
        cloud: frozenset(facts.unsupported_features)
        for cloud in {o.cloud for o in offers}
        if (facts := catalog.cloud_facts(cloud)) is not None
    }
    return OfferIndex(
        offers,
        goal.preferences.spot,
        tiers=_tiers(catalog),
        users=users,
        unsupported=unsupported,
        serve_needs=serve_needs,
    )


def _tiers(catalog: Catalog) -> dict[str, str]:
    clouds = {o.cloud for o in catalog.offers}
    return {
        cloud: str(facts.tier) if (facts := catalog.cloud_facts(cloud)) else "unknown"
        for cloud in clouds
    }
