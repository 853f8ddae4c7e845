"""Cloud facts: who runs each cloud's machines, where its regions are, how far apart the areas
are, what it charges besides the instance, and what SkyPilot's controllers cost on it.

The planner reads these to keep private goals off community-marketplace hosts, to add the
network round trip to TTFT when the serving region is far from the users, and to put the
hidden costs (egress, disks, object storage, the SkyPilot controller VMs) on the bill.

Every number carries a source quote and the day it was read. A figure that is not published
as one number (a marketplace host sets its own) or that was not found is None, never a guess.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from catalog.errors import CatalogFileError

__all__ = [
    "Area",
    "AreaRtt",
    "CloudFacts",
    "CloudTier",
    "ControllerDefaults",
    "ControllerKind",
    "ControllerVm",
    "RegionInfo",
    "SourceKind",
    "SourceRef",
    "check_cloud_tables",
]


def _printable(value: str) -> str:
    for char in value:
        if not char.isprintable():
            raise ValueError(f"contains the unprintable character {char!r}")
    return value


_Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_printable)]
_CloudName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
_Region = Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9 ,._-]{0,78}[A-Za-z0-9])?$")]
_Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
# Prices: never negative; bounds far above any list price so every bill stays finite.
_UsdPerGb = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
_UsdPerHour = Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False)]
_Gb = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_CloudFeature = Annotated[str, Field(pattern=r"^[A-Z][A-Z_]{1,40}$")]
"""A SkyPilot CloudImplementationFeatures name (STORAGE_MOUNTING, MULTI_NODE, …)."""


class CloudTier(StrEnum):
    """Who owns and operates the machines a cloud rents out."""

    HYPERSCALER = "hyperscaler"  # the provider's own data centres, its own staff (AWS, GCP, Azure)
    SPECIALIST = (
        "specialist"  # a GPU cloud's own or contracted data centres (Lambda, RunPod Secure)
    )
    MARKETPLACE = "marketplace"  # independent hosts list their own machines (Vast.ai)


class Area(StrEnum):
    """Coarse geographic area of a region (continent-level), for the round-trip table."""

    NA = "na"  # North America (incl. Mexico)
    SA = "sa"  # South America
    EU = "eu"  # Europe
    ME = "me"  # Middle East
    AF = "af"  # Africa
    APAC = "apac"  # Asia (incl. India)
    OCEANIA = "oceania"  # Australia, New Zealand


class SourceKind(StrEnum):
    """How close a source is to the provider."""

    PROVIDER = "provider"  # the provider's own page, docs or repository
    SECONDARY = "secondary"  # a third party quoting the provider's price (weaker; see quote)
    PACKAGE_SOURCE = "package-source"  # installed package code, read at file:line


class SourceRef(_Record):
    """Where one figure (or one family of figures) was read, with a verbatim quote."""

    url: _Text = Field(description="URL of the page, or file:line of installed package code.")
    kind: SourceKind = Field(description="provider, secondary or package-source.")
    quote: _Text = Field(description="Short verbatim quote the figure is read from.")
    stored_copy: _Text | None = Field(
        default=None, description="Where the copy that was read is stored, when not the URL."
    )
    retrieved_on: date = Field(description="Day the source was read.")


class CloudFacts(_Record):
    """One cloud: its tier and the per-GB prices that come on top of the instance price."""

    cloud: _CloudName = Field(description="Cloud name as SkyPilot spells it.")
    tier: CloudTier = Field(description="hyperscaler, specialist or marketplace.")
    tier_basis: _Text = Field(description="Why: who owns and operates the machines.")
    egress_usd_per_gb: _UsdPerGb | None = Field(
        default=None,
        description="Internet egress, first paid tier, $/GB; None: not one published figure "
        "or not found (see notes).",
    )
    egress_free_gb_per_month: _Gb | None = Field(
        default=None, description="Internet egress free each month, GB; None: none found."
    )
    object_storage_usd_per_gb_month: _UsdPerGb | None = Field(
        default=None,
        description="Storage that outlives instances, for checkpoints and adapters, $/GB-month "
        "(object storage, or the provider's persistent volume where it has no object store).",
    )
    object_storage_kind: _Text | None = Field(
        default=None, description="Which product object_storage_usd_per_gb_month prices."
    )
    disk_usd_per_gb_month: _UsdPerGb | None = Field(
        default=None,
        description="The disk SkyPilot attaches to each node, $/GB-month; None: priced per "
        "host, per size tier, or not found (see notes).",
    )
    disk_kind: _Text | None = Field(
        default=None, description="Which disk disk_usd_per_gb_month prices (gp3, pd-balanced…)."
    )
    disk_included_gb: _Gb | None = Field(
        default=None, description="Disk included in the instance price, where the provider says."
    )
    notes: _Text | None = Field(default=None, description="Caveats about any figure here.")
    unsupported_features: tuple[_CloudFeature, ...] = Field(
        default=(),
        description="SkyPilot CloudImplementationFeatures the cloud lacks (its class's "
        "_CLOUD_UNSUPPORTED_FEATURES in SkyPilot 0.14.1, sky/clouds/<cloud>.py): a task that "
        "needs one (STORAGE_MOUNTING for a MOUNT bucket, MULTI_NODE, SPOT_INSTANCE, "
        "OPEN_PORTS) is infeasible there.",
    )
    sources: tuple[SourceRef, ...] = Field(
        min_length=1, description="One source per family of figures (tier, egress, storage…)."
    )

    def supports(self, *features: str) -> bool:
        """Whether SkyPilot can run a task needing every one of ``features`` on this cloud."""
        return not set(features) & set(self.unsupported_features)

    @property
    def individually_owned_hosts(self) -> bool:
        """True when machines belong to independent hosts (no goal with private data)."""
        return self.tier is CloudTier.MARKETPLACE


class RegionInfo(_Record):
    """Where one region of one cloud is."""

    cloud: _CloudName = Field(description="Cloud name as SkyPilot spells it.")
    region: _Region = Field(description="Region name on that cloud, as in offers.csv.")
    area: Area = Field(description="Continent-level area (see the file header for the rule).")
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country; None where not known for sure."
    )


class AreaRtt(_Record):
    """A measured round trip between a representative region of each of two areas."""

    a: Area = Field(description="One area.")
    b: Area = Field(description="The other area (may equal a: the same-area figure).")
    rtt_ms: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = Field(
        description="Published round-trip time between the two named regions, ms."
    )
    pair: _Text = Field(description="The two regions measured (source → destination).")
    source: SourceRef = Field(description="The published measurement.")

    @property
    def key(self) -> frozenset[Area]:
        """The unordered pair of areas (the table is symmetric)."""
        return frozenset((self.a, self.b))


class ControllerKind(StrEnum):
    """Which SkyPilot controller."""

    JOBS = "jobs"  # managed-jobs controller (sky jobs launch)
    SERVE = "serve"  # SkyServe controller and load balancer (sky serve up)


class ControllerVm(_Record):
    """The instance SkyPilot's default picks for a controller on one cloud, and its price."""

    cloud: _CloudName = Field(description="Cloud name as SkyPilot spells it.")
    instance_type: _Sku = Field(description="Cheapest instance of the default families meeting it.")
    vcpus: Annotated[float, Field(gt=0, le=1024)] = Field(description="vCPUs of that instance.")
    memory_gib: Annotated[float, Field(gt=0, le=1e5)] = Field(description="RAM, GiB.")
    region: _Region | None = Field(default=None, description="Region the price is for.")
    usd_per_hour: _UsdPerHour | None = Field(
        default=None, description="On-demand Linux $/h; None: not found in a retrieved source."
    )
    basis: _Text = Field(description="Why this instance: the rule and where it is read.")
    source: SourceRef | None = Field(default=None, description="Where the price was read.")

    @model_validator(mode="after")
    def _priced_with_source(self) -> ControllerVm:
        if self.usd_per_hour is not None and self.source is None:
            raise ValueError("usd_per_hour needs a source")
        return self


class ControllerDefaults(_Record):
    """A SkyPilot controller's default resources (as the installed SkyPilot states them)."""

    kind: ControllerKind = Field(description="jobs or serve.")
    skypilot_version: _Text = Field(description="SkyPilot version the defaults were read from.")
    cpus: _Text = Field(description="SkyPilot cpus spec, e.g. '4+' (at least 4).")
    memory: _Text = Field(description="SkyPilot memory spec: '8+' GiB or '4x' (GiB per vCPU).")
    disk_size_gb: Annotated[int, Field(ge=1, le=65536)] = Field(description="Boot disk, GB.")
    autostop_idle_minutes: Annotated[int, Field(ge=0, le=100000)] = Field(
        description="Idle minutes before SkyPilot stops the controller."
    )
    autostop_down: bool = Field(description="True: torn down at autostop; False: only stopped.")
    basis: _Text = Field(description="sky/…py:LINE where each default is read.")
    per_cloud: tuple[ControllerVm, ...] = Field(
        default=(), description="The instance the defaults pick on each hyperscaler."
    )


def _duplicate(keys: list[object]) -> object | None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None


def _refuse(path: Path, problem: str, fix: str) -> None:
    raise CatalogFileError(problem, path=path, fix=fix)


def check_cloud_tables(
    path: Path,
    clouds: tuple[CloudFacts, ...],
    regions: tuple[RegionInfo, ...],
    rtts: tuple[AreaRtt, ...],
    controllers: tuple[ControllerDefaults, ...],
) -> None:
    """Refuse the cross-table mistakes one row cannot see: a cloud or (cloud, region) twice,
    a region or controller VM on a cloud with no clouds row, an area pair twice, a controller
    kind twice."""
    known = {c.cloud for c in clouds}
    twice = _duplicate([c.cloud for c in clouds])
    if twice is not None:
        _refuse(path, f"lists cloud {twice!r} twice.", "keep one clouds row per cloud.")
    twice = _duplicate([(r.cloud, r.region) for r in regions])
    if twice is not None:
        _refuse(path, f"lists region {twice!r} twice.", "keep one regions row per region.")
    for where, cloud in [(f"region {r.region!r}", r.cloud) for r in regions] + [
        (f"{c.kind} controller", vm.cloud) for c in controllers for vm in c.per_cloud
    ]:
        if cloud not in known:
            _refuse(
                path,
                f"names cloud {cloud!r} ({where}), which has no clouds row.",
                f"add a clouds row for {cloud!r} or use one of {', '.join(sorted(known))}.",
            )
    twice = _duplicate([r.key for r in rtts])
    if twice is not None:
        pair = "–".join(sorted(str(a) for a in twice))  # type: ignore[attr-defined]
        _refuse(path, f"gives the round trip {pair} twice.", "keep one area_rtt_ms row per pair.")
    twice = _duplicate([c.kind for c in controllers])
    if twice is not None:
        _refuse(path, f"describes the {twice} controller twice.", "keep one row per kind.")
