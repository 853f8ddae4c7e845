"""`executor.launch.teardown`: down only when the store holds nothing live of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.backends.base import LaunchContext
from executor.errors import ExecutorError
from executor.launch import teardown
from executor.state import Phase, Run, RunStore


class RemovesOnly:
    """A backend whose teardown removes the resources named in ``removable``."""

    name = "local"

    def __init__(self, removable: set[str]) -> None:
        self.removable = removable

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        removed = []
        for resource in ctx.store.resources(run.id, live_only=True):
            if resource.name in self.removable:
                ctx.store.mark_deleted(run.id, resource.kind, resource.name)
                removed.append(f"{resource.kind} {resource.name}")
        return removed


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[LaunchContext]:
    store = RunStore(tmp_path / "state.db")
    store.create_run("r1", plan_json={"p": 1}, backend="local", goal_name="g", cost_ceiling_usd=1)
    store.add_resource("r1", "process", "train:1")
    store.add_resource("r1", "process", "serve:2")
    yield LaunchContext(store=store, runs_dir=tmp_path / "runs")
    store.close()


def test_everything_removed_means_down(ctx: LaunchContext) -> None:
    removed = teardown(ctx.store.get("r1"), RemovesOnly({"train:1", "serve:2"}), ctx)
    assert removed == ["process train:1", "process serve:2"]
    assert [(e.phase, e.message) for e in ctx.store.events("r1")][1:] == [
        (Phase.STOPPING, "teardown requested"),
        (Phase.DOWN, "removed 2 resource(s)"),
    ]


def test_something_left_raises_and_the_run_stays_stopping(ctx: LaunchContext) -> None:
    with pytest.raises(ExecutorError, match=r"still live after teardown.*serve:2.*To fix:"):
        teardown(ctx.store.get("r1"), RemovesOnly({"train:1"}), ctx)
    assert ctx.store.get("r1").phase is Phase.STOPPING
