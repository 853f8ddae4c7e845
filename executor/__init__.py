"""tailor executor: plans → SkyPilot tasks and the local backend; run state.

The public face: the UI imports from here (an import-linter contract keeps ``tui`` to these
names). SkyPilot is imported only inside the sky backend's methods and its dry-run child
process, so importing ``executor`` never loads ``sky``.

Errors::

    TailorError (catalog)    root of everything tailor raises
    └── ExecutorError        launch, state, rendering; ``problem`` + ``fix``
        └── BackendError     a backend (SkyPilot, local processes) failed
"""

from executor.backends import BACKEND_NAMES, default_backends, make_backend
from executor.backends.base import Backend, LaunchContext
from executor.backends.sky_dryrun import optimize_offline
from executor.errors import BackendError, ExecutorError
from executor.launch import (
    LaunchPreview,
    check_budget,
    cost_ceiling_usd,
    launch,
    launch_context,
    preview,
    teardown,
    wait,
)
from executor.metrics import MetricPoint, metrics_path, read_metrics
from executor.render import RenderOptions, render_serve_task, render_train_task, task_yaml
from executor.state import Event, Phase, Resource, Run, RunStore, plan_hash

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendError",
    "Event",
    "ExecutorError",
    "LaunchContext",
    "LaunchPreview",
    "MetricPoint",
    "Phase",
    "RenderOptions",
    "Resource",
    "Run",
    "RunStore",
    "check_budget",
    "cost_ceiling_usd",
    "default_backends",
    "launch",
    "launch_context",
    "make_backend",
    "metrics_path",
    "optimize_offline",
    "plan_hash",
    "preview",
    "read_metrics",
    "render_serve_task",
    "render_train_task",
    "task_yaml",
    "teardown",
    "wait",
]
