"""Training metrics as the recipe writes them: one JSON line per logged step in metrics.jsonl.

The file grows while training runs, so its last line may be half-written; readers skip any line
that is blank or does not parse, and a file that does not exist yet means no metrics yet.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from executor.backends.base import LaunchContext

__all__ = ["MetricPoint", "metrics_path", "read_metrics"]


class MetricPoint(BaseModel):
    """One logged training step (the fields a loss curve and a progress line need)."""

    # The recipe also writes peak_memory_gib and time; they are not shown, so they are ignored
    # rather than forbidden (a newer recipe adding a field must not blank the loss curve).
    model_config = ConfigDict(frozen=True, extra="ignore")

    step: int = Field(ge=0, description="Optimizer step, counted from 0 at the start of training.")
    epoch: float = Field(ge=0, description="Passes over the training set so far (fractional).")
    loss: float | None = Field(
        default=None, description="Training loss at this step, nats per token; None on eval-only."
    )
    eval_loss: float | None = Field(
        default=None, description="Held-out loss, nats per token; None when not evaluated."
    )
    tokens_per_s: float | None = Field(
        default=None, description="Training throughput since the previous line, tokens/s."
    )


def metrics_path(ctx: LaunchContext, run_id: str) -> Path:
    """Where the training recipe of run ``run_id`` writes its metrics."""
    return ctx.run_dir(run_id) / "train" / "metrics.jsonl"


def _point(line: str) -> MetricPoint | None:
    try:
        return MetricPoint.model_validate(json.loads(line))
    except (ValueError, ValidationError):  # half-written (JSONDecodeError) or not a metrics line
        return None


def read_metrics(path: Path) -> list[MetricPoint]:
    """Every complete metrics line of ``path`` in file order; [] when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    points = (_point(line) for line in text.splitlines() if line.strip())
    return [p for p in points if p is not None]
