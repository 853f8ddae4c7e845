"""Child process: run SkyPilot's own optimizer on a task, offline, and print its choice as JSON.

Run as ``python -m executor.backends.sky_optimize TASK.yaml CLOUD [CLOUD ...]`` with
SKY_RUNTIME_DIR and HOME pointing at an isolated folder that holds a SkyPilot v8 catalog (tailor's
export). The listed clouds are marked as enabled in that folder's SkyPilot state so the
optimizer can price them; nothing can be launched from it (there are no credentials).
"""

from __future__ import annotations

import json
import sys

import yaml


def _enable(clouds: list[str]) -> None:
    from sky import check as sky_check
    from sky import global_user_state
    from sky.clouds import cloud as cloud_lib
    from sky.skylet import constants

    workspace = constants.SKYPILOT_DEFAULT_WORKSPACE
    allowed = sky_check._get_workspace_allowed_clouds(workspace)
    global_user_state.set_allowed_clouds(allowed, workspace)
    global_user_state.set_enabled_clouds(clouds, cloud_lib.CloudCapability.COMPUTE, workspace)


def main(argv: list[str]) -> int:
    """Optimize the task in argv[0] over the clouds argv[1:]; print the best resources."""
    import sky
    from sky import optimizer
    from sky.utils import common

    with open(argv[0], encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    _enable(argv[1:])
    task = sky.Task.from_yaml_config(config)
    dag = sky.Dag()
    dag.add(task)
    optimizer.Optimizer.optimize(dag, minimize=common.OptimizeTarget.COST, quiet=True)
    best = task.best_resources
    if best is None:  # optimize() raises when nothing fits, so this is SkyPilot's bug
        raise SystemExit(f"SkyPilot's optimizer returned no resources for {argv[0]}")
    accelerators = best.accelerators or {}
    print(
        json.dumps(
            {
                "cloud": str(best.cloud).lower(),
                "region": best.region,
                "instance_type": best.instance_type,
                "accelerators": accelerators,
                "use_spot": best.use_spot,
                "usd_per_hour": best.get_cost(3600),
                "num_nodes": task.num_nodes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
