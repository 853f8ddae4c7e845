"""Reading the training recipe's metrics.jsonl while it is still being written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from executor.backends.base import LaunchContext
from executor.metrics import MetricPoint, metrics_path, read_metrics
from executor.state import RunStore

# Lines as executor/recipes/train.py writes them (extra fields are ignored).
STEP_1 = {
    "step": 1,
    "epoch": 0.1,
    "loss": 2.5,
    "tokens_per_s": 1200.0,
    "peak_memory_gib": 1.2,
    "time": 1e9,
}
STEP_2 = {**STEP_1, "step": 2, "epoch": 0.2, "loss": 2.1, "eval_loss": 2.3}
EVAL_ONLY = {"step": 3, "epoch": 0.3, "loss": None, "eval_loss": 2.2, "tokens_per_s": 0.0}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_complete_lines_are_read_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.jsonl", "".join(json.dumps(x) + "\n" for x in (STEP_1, STEP_2)))
    points = read_metrics(path)
    assert [p.step for p in points] == [1, 2]
    assert points[0] == MetricPoint(step=1, epoch=0.1, loss=2.5, tokens_per_s=1200.0)
    assert points[1].eval_loss == pytest.approx(2.3)


def test_half_written_last_line_is_skipped(tmp_path: Path) -> None:
    partial = json.dumps(STEP_2)[:25]
    path = _write(tmp_path / "m.jsonl", json.dumps(STEP_1) + "\n" + partial)
    assert [p.step for p in read_metrics(path)] == [1]


def test_blank_and_invalid_lines_are_skipped(tmp_path: Path) -> None:
    lines = ["", json.dumps(STEP_1), "   ", "[1, 2]", '{"epoch": 1}', json.dumps(EVAL_ONLY), ""]
    points = read_metrics(_write(tmp_path / "m.jsonl", "\n".join(lines)))
    assert [(p.step, p.loss, p.eval_loss) for p in points] == [(1, 2.5, None), (3, None, 2.2)]


def test_missing_file_means_no_metrics_yet(tmp_path: Path) -> None:
    assert read_metrics(tmp_path / "nothing" / "metrics.jsonl") == []


def test_points_are_frozen_and_steps_not_negative() -> None:
    point = MetricPoint(step=1, epoch=0.0)
    with pytest.raises(ValidationError):
        point.step = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        MetricPoint(step=-1, epoch=0.0)


def test_metrics_path_is_in_the_runs_training_folder(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
    try:
        ctx = LaunchContext(store=store, runs_dir=tmp_path / "runs")
        assert metrics_path(ctx, "r1") == tmp_path / "runs" / "r1" / "train" / "metrics.jsonl"
    finally:
        store.close()
