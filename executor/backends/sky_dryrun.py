"""`tailor launch --dryrun`: SkyPilot's real optimizer on the rendered tasks, offline.

tailor's offers are exported as a SkyPilot v8 catalog into an isolated SkyPilot home
(``<state dir>/sky-dryrun``); the plan's clouds are marked enabled there; SkyPilot's optimizer
(``sky.optimizer.Optimizer.optimize``, minimize cost) picks an instance among the task's
``any_of`` resources; its choice and price are compared with the plan's. File mounts are left
out of the dryrun copy (buckets cannot be created offline). Nothing is provisioned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from catalog import Catalog
from catalog.sky_export import SKY_CLOUD_NAMES, write_sky_catalog
from executor.errors import BackendError
from planner.plan import OfferChoice

__all__ = ["SkyChoice", "optimize_offline"]

PRICE_TOLERANCE = 0.01  # relative: prices agree within 1 %


class SkyChoice(BaseModel):
    """What SkyPilot's optimizer chose, next to what the plan priced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = Field(description="Task name.")
    cloud: str = Field(description="Cloud SkyPilot chose.")
    region: str | None = Field(description="Region SkyPilot chose.")
    instance_type: str | None = Field(description="Instance type SkyPilot chose.")
    use_spot: bool = Field(description="Spot.")
    usd_per_hour: float = Field(description="SkyPilot's hourly price of one node / replica.")
    plan_offer: OfferChoice = Field(description="The plan's priced instance.")
    agrees: bool = Field(description="Same cloud and instance type, price within 1 %.")


def _as_any_of(task: dict) -> dict:
    """Let the optimizer choose among the plan's offers (ordered → any_of), without mounts."""
    resources = dict(task["resources"])
    resources["any_of"] = resources.pop("ordered")
    return {k: v for k, v in {**task, "resources": resources}.items() if k != "file_mounts"}


def optimize_offline(
    task: dict, plan_offer: OfferChoice, *, catalog: Catalog, work_dir: Path, timeout_s: float = 600
) -> SkyChoice:
    """Run SkyPilot's optimizer on ``task`` in an isolated, offline SkyPilot home."""
    clouds = sorted({r["cloud"] for r in task["resources"]["ordered"]})
    write_sky_catalog(catalog, work_dir / ".sky" / "catalogs" / "v8", clouds)
    task_file = work_dir / f"{task['name']}.dryrun.yaml"
    task_file.write_text(yaml.safe_dump(_as_any_of(task), sort_keys=False), encoding="utf-8")
    env = {**os.environ, "SKY_RUNTIME_DIR": str(work_dir), "HOME": str(work_dir)}
    args = [
        sys.executable,
        "-m",
        "executor.backends.sky_optimize",
        str(task_file),
        *(SKY_CLOUD_NAMES.get(c, c) for c in clouds),
    ]
    proc = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise BackendError(
            f"SkyPilot's optimizer failed on {task['name']}: {tail}.",
            fix="check that the `cloud` extra is installed (`make test` installs "
            "it) and that the plan's clouds are in `tailor catalog gpus`.",
        )
    chosen = json.loads(proc.stdout.strip().splitlines()[-1])
    agrees = (
        chosen["cloud"] == plan_offer.cloud
        and chosen["instance_type"] == plan_offer.instance_type
        and abs(chosen["usd_per_hour"] - plan_offer.usd_per_hour)
        <= PRICE_TOLERANCE * plan_offer.usd_per_hour
    )
    return SkyChoice(
        task=task["name"],
        cloud=chosen["cloud"],
        region=chosen["region"],
        instance_type=chosen["instance_type"],
        use_spot=chosen["use_spot"],
        usd_per_hour=chosen["usd_per_hour"],
        plan_offer=plan_offer,
        agrees=agrees,
    )
