"""The backend protocol: what `launch`, `status`, `logs` and `down` ask of a place to run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from executor.state import Run, RunStore
from planner.plan import PlanFile

__all__ = ["Backend", "LaunchContext"]


@dataclass(frozen=True)
class LaunchContext:
    """Everything a backend needs besides the plan: where state and files go, the data."""

    store: RunStore
    runs_dir: Path  # one folder per run (configs, logs, outputs) lives under it
    data_path: Path | None = None  # training JSONL (local) / source for the data mount (sky)
    data_format: str = "chat"
    extra: dict = field(default_factory=dict)  # backend-specific settings

    def run_dir(self, run_id: str) -> Path:
        """The run's own folder."""
        return self.runs_dir / run_id

    def make_run_dir(self, run_id: str) -> Path:
        """Create the run's folder, 0700 (its configs and logs quote private data)."""
        folder = self.run_dir(run_id)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is masked by the umask
        return folder


class Backend(Protocol):
    """A place to run plans. Implementations record every resource before creating it."""

    name: str

    def check(self, plan_file: PlanFile, ctx: LaunchContext, *, trained: bool = False) -> None:
        """ExecutorError when the tasks still to run (``trained``: training is done) could not
        start from here — a missing secret, no access to the model — before anything is made."""
        ...

    def start(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Begin the run (training, or serving when nothing is trained); return it updated."""
        ...

    def poll(self, run: Run, plan_file: PlanFile, ctx: LaunchContext) -> Run:
        """Advance the run from what the backend reports (phase, spend, endpoint)."""
        ...

    def logs(self, run: Run, ctx: LaunchContext, *, follow: bool) -> Iterator[str]:
        """Lines of the run's logs (training, then serving)."""
        ...

    def teardown(self, run: Run, ctx: LaunchContext) -> list[str]:
        """Remove everything the run created; return what was removed."""
        ...
