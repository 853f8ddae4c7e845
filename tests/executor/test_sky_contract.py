"""Contract with SkyPilot 0.14.1 itself: the clouds' features in the catalog are SkyPilot's,
and every example plan's rendered tasks need only what the clouds of all their offers support
(``sky.Task.get_required_cloud_features`` and each cloud's ``check_features_are_supported``,
the checks SkyPilot's optimizer applies before provisioning). A task its priced cloud cannot
run is not just a failed launch: SkyPilot moves it to a failover offer at another price."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import load_catalog
from executor.render import (
    RenderOptions,
    render_batch_task,
    render_serve_task,
    render_train_task,
)
from planner.offers import TRAIN_NEEDS
from planner.rank import plan_goal
from planner.spec import load_goal

sky = pytest.importorskip("sky")
from sky.utils import registry  # noqa: E402  (after importorskip: SkyPilot is optional)

GOALS = sorted((Path(__file__).resolve().parents[2] / "examples" / "goals").glob("*.yaml"))
OPTIONS = RenderOptions("run-1", "train.jsonl", "tailor-run-1", "executor/recipes")


def _sky_unsupported(cloud: str) -> set[str]:
    cls = type(registry.CLOUD_REGISTRY.from_str(cloud))
    return {f.name for f in getattr(cls, "_CLOUD_UNSUPPORTED_FEATURES", {})}


def test_catalog_cloud_features_are_skypilots() -> None:
    catalog = load_catalog()
    clouds = {o.cloud for o in catalog.offers}
    for cloud in sorted(clouds):
        facts = catalog.cloud_facts(cloud)
        assert facts is not None, cloud
        assert set(facts.unsupported_features) == _sky_unsupported(cloud), cloud


def test_every_cloud_without_multi_node_also_lacks_storage_mounting() -> None:
    # planner.offers.TRAIN_NEEDS relies on it to keep multi-node training off such clouds
    catalog = load_catalog()
    for cloud in sorted({o.cloud for o in catalog.offers}):
        lacks = _sky_unsupported(cloud)
        assert "MULTI_NODE" not in lacks or TRAIN_NEEDS & lacks, cloud


def _tasks(plan_file) -> list[dict]:
    plan, tasks = plan_file.plan, []
    if plan.training is not None:
        tasks.append(render_train_task(plan_file, OPTIONS))
    if plan.serving is not None:
        tasks.append(render_serve_task(plan_file, OPTIONS))
    if plan.batch is not None:
        tasks.append(render_batch_task(plan_file, OPTIONS))
    return tasks


@pytest.mark.parametrize("goal_path", GOALS, ids=[g.stem for g in GOALS])
def test_every_offer_of_every_example_plan_supports_its_tasks(goal_path: Path) -> None:
    goal, catalog = load_goal(goal_path), load_catalog()
    result = plan_goal(goal, catalog, references=False)
    checked = 0
    for plan in result.plans:
        plan_file = result.plan_file(plan.id, goal_dir=goal_path.parent)
        for task in _tasks(plan_file):
            parsed = sky.Task.from_yaml_config(dict(task))
            needs = parsed.get_required_cloud_features()
            for resources in parsed.resources:
                # raises NotSupportedError naming the feature, as the optimizer would
                resources.cloud.check_features_are_supported(resources, needs)
                checked += 1
    assert checked > 0
