"""A spot training run as it costs: preemptions, checkpoints, restarts.

Preemptions arrive as a Poisson process of rate λ per job-hour (the catalog's
``spot_interruptions`` rate per instance × the nodes: a lost node stops a synchronous job). The
run checkpoints every τ hours, each write taking C hours; a preemption loses the work since the
last checkpoint (τ/2 on average) and costs a restart of R hours (a new instance, setup, the base
weights again: the run's start-up hours). Young's first-order optimum (Young 1974, "A first
order approximation to the optimum checkpoint interval") is τ = √(2C/λ); the planner takes it
at the worst cited rate.

Expected billed hours E of W hours of training work after S start-up hours: the time is the
start-up, the work and its checkpoint writes, and the rework and restarts of the λ·E
preemptions expected while it runs::

    E = S + W·(1 + C/τ) + λ·E·(R + τ/2)  ⇒  E = (S + W·(1 + C/τ)) / (1 − λ·(R + τ/2))

A run that would lose more than MAX_LOST_SHARE of its time to preemptions (λ·(R + τ/2)) is not
planned on spot: it might never finish. Against a simulation of the same process
(tests/planner/test_spot.py) the formula is +0.2 % and +0.3 % at lost shares of 7 %, +5.6 % at
34 %: first order, it errs long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.estimators.terms import num

__all__ = [
    "CAPACITY_WARNING_GPUS",
    "CHECKPOINT_WRITE_BYTES_PER_S",
    "MAX_LOST_SHARE",
    "MIN_INTERVAL_H",
    "SpotRun",
    "checkpoint_bytes",
    "spot_run",
]

CHECKPOINT_WRITE_BYTES_PER_S = 200e6
"""Assumption: one node writes a checkpoint to its bucket mount at 200 MB/s (a single-stream
object-store upload; no published figure for SkyPilot's MOUNT mode was found)."""
MAX_LOST_SHARE = 0.5
MIN_INTERVAL_H = 5 / 60  # checkpoint at most every 5 minutes (each one pauses training)
CAPACITY_WARNING_GPUS = 8
"""Spot instances of 8 GPUs are often unobtainable: in SkyPilot's 2022 AWS availability trace
an 8× V100 spot instance could be launched 46.6–48.0 % of the time against 71.6–79.3 % for
1× V100 (github.com/skypilot-org/spot-traces, availability/1-node/aws-10-26-2022); newer
8-GPU shapes (H100, B200) are expected to be scarcer, with no trace published."""


def checkpoint_bytes(trainable_params: int, total_params: int, *, full: bool) -> float:
    """Bytes a resumable checkpoint holds: full fine-tuning saves the bf16 weights, the fp32
    master copy and two fp32 Adam moments (2 + 4 + 8 = 14 B per parameter); LoRA the fp32
    adapters and their moments (4 + 8 = 12 B per trainable parameter)."""
    return 14.0 * total_params if full else 12.0 * trainable_params


@dataclass(frozen=True)
class SpotRun:
    """One spot run's expected time (numbers only; hours)."""

    rate_per_hour: float  # λ: preemptions per job-hour
    checkpoint_write_h: float  # C
    interval_h: float  # τ
    restart_h: float  # R
    startup_h: float  # S
    work_h: float  # W

    @property
    def lost_share(self) -> float:
        """λ·(R + τ/2): the share of the run's time lost to preemptions."""
        return self.rate_per_hour * (self.restart_h + self.interval_h / 2)

    @property
    def feasible(self) -> bool:
        """Whether the run loses at most MAX_LOST_SHARE of its time."""
        return self.lost_share <= MAX_LOST_SHARE

    @property
    def expected_hours(self) -> float:
        """E = (S + W·(1 + C/τ)) / (1 − λ·(R + τ/2)), billed hours."""
        useful = self.startup_h + self.work_h * (1 + self.checkpoint_write_h / self.interval_h)
        return useful / (1 - self.lost_share)

    @property
    def expected_preemptions(self) -> float:
        """λ·E."""
        return self.rate_per_hour * self.expected_hours

    def formula(self) -> str:
        """``expected_hours`` with the numbers in."""
        return (
            f"({num(self.startup_h, 12)} + {num(self.work_h, 12)} × (1 + "
            f"{num(self.checkpoint_write_h, 12)} / {num(self.interval_h, 12)})) / (1 − "
            f"{num(self.rate_per_hour, 12)} × ({num(self.restart_h, 12)} + "
            f"{num(self.interval_h, 12)} / 2))"
        )


def spot_run(
    *,
    rate_per_instance_hour: float,
    nodes: int,
    checkpoint_bytes_total: float,
    startup_h: float,
    work_h: float,
    interval_h: float | None = None,
) -> SpotRun:
    """The run at Young's interval for its rate (or the ``interval_h`` given): each node writes
    its share of the checkpoint at CHECKPOINT_WRITE_BYTES_PER_S; a restart is the start-up."""
    rate = rate_per_instance_hour * nodes
    write_h = checkpoint_bytes_total / nodes / CHECKPOINT_WRITE_BYTES_PER_S / 3600
    if interval_h is None:
        young = math.sqrt(2 * write_h / rate) if rate > 0 else math.inf
        interval_h = min(max(young, MIN_INTERVAL_H), max(work_h, MIN_INTERVAL_H))
    return SpotRun(
        rate_per_hour=rate,
        checkpoint_write_h=write_h,
        interval_h=interval_h,
        restart_h=startup_h,
        startup_h=startup_h,
        work_h=work_h,
    )
