"""planner.estimators.autoscale against SkyPilot's RequestRateAutoscaler, over many traffic shapes.

Each case is planned with ``replica_plan`` and simulated with SkyPilot 0.14.1's own autoscaler
(``tests.planner.test_autoscale.simulate``: Poisson arrivals, the load balancer's 20 s reports,
the controller's decisions, replicas billed from launch to termination) over several seeds.
Prints, per case, the model's replica-hours per month, the simulated mean (and range over the
seeds) and the gap, next to the gap of plain ceil(rate / target) per hour (no hysteresis, no
Poisson noise); for scale-to-zero cases also the share of time up and the chance a request
meets no ready replica. Nothing here is fitted: the model has no free parameter.

Run: .venv/bin/python bench/autoscale_check.py [--seeds N]   (about 3 min on 2 cores, 2 seeds)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.estimators.autoscale import HourlyProfile, replica_plan
from planner.types import HOURS_PER_MONTH, SECONDS_PER_MONTH

# (name, peak/average, mean requests/s, requests/s per replica, min, max, simulated hours)
CASES = [
    *(("flat", 1.0, x, 1.0, 1, 40, 168) for x in (0.5, 0.95, 2.5, 3.5, 3.9, 6.6, 9.9, 24.5)),
    *(("peaky", p, m, r, 1, 60, 48) for p in (2.0, 3.0, 5.0) for m, r in ((2.0, 0.5), (8.0, 1.0))),
    *(
        ("zero", p, n / SECONDS_PER_MONTH, 1.0, 0, 4, 730)
        for p in (1.0, 3.0)
        for n in (300, 1e3, 1e4, 1e5)
    ),
    ("zero-busy", 3.0, 0.5, 0.5, 0, 10, 48),
]


def _one(args: tuple[tuple, int]) -> tuple[int, float, float, float]:
    from tests.planner.test_autoscale import simulate

    (_, ratio, mean, per, lo, hi, hours), seed = args
    warnings.simplefilter("ignore")
    profile = HourlyProfile.from_peak_to_average(ratio)
    rates = [mean * w for w in profile.weights]
    sim = simulate(
        rates, rate_per_replica=per, min_replicas=lo, max_replicas=hi, hours=hours, seed=seed
    )
    return seed, sim.replica_hours_per_month, sim.up_fraction, sim.p_cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one seed")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    jobs = [(case, seed) for case in CASES for seed in range(seeds)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(_one, jobs))
    print(
        f"{'case':10} {'pk/avg':>6} {'req/s':>9} {'per':>4} {'min':>3} {'model':>9} "
        f"{'SkyPilot':>9} {'range':>17} {'gap':>7} {'ceil-only':>9}  "
        "scale to zero: up model/sim, cold model/sim"
    )
    gaps = []
    for i, (name, ratio, mean, per, lo, hi, _) in enumerate(CASES):
        runs = results[i * seeds : (i + 1) * seeds]
        plan = replica_plan(
            profile=HourlyProfile.from_peak_to_average(ratio),
            requests_per_month=mean * SECONDS_PER_MONTH,
            rate_per_replica=per,
            min_replicas=lo,
            max_replicas=hi,
            cold_start_s=300.0,
            ttft_s=0.5,
        )
        sim = statistics.mean(r[1] for r in runs)
        gap = plan.replica_hours_per_month / sim - 1
        naive = sum(plan.needed_by_hour) * HOURS_PER_MONTH / 24
        gaps.append(abs(gap))
        spread = f"{min(r[1] for r in runs):8.1f}-{max(r[1] for r in runs):8.1f}"
        line = (
            f"{name:10} {ratio:6.1f} {mean:9.5f} {per:4.1f} {lo:3d} "
            f"{plan.replica_hours_per_month:9.1f} {sim:9.1f} {spread} {gap:+7.1%} "
            f"{naive / sim - 1:+9.1%}"
        )
        if lo == 0:
            up = statistics.mean(r[2] for r in runs)
            cold = statistics.mean(r[3] for r in runs)
            line += f"  up {plan.up_fraction:.3f}/{up:.3f}  cold {plan.p_cold_start:.3f}/{cold:.3f}"
        print(line)
    print(
        f"|gap|: median {statistics.median(gaps):.1%}, max {max(gaps):.1%} over {len(gaps)} cases"
    )


if __name__ == "__main__":
    main()
