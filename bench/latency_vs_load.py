"""Latency vs load of one example plan's replica: the queue model against the scheduler
simulation.

Plans examples/goals/financial-report-analysis.yaml with the test catalog, takes its first
plan's serving replica (model, GPU, format, tensor parallelism, request lengths), and prints
for 10 % … 100 % of saturation the queue model's (planner.estimators.load) concurrency, mean
step and p95 TTFT next to tests/planner/vllm_sim.py's discrete-event simulation of vLLM's V1
scheduler driven by the same step times (2,500 Poisson requests, lognormal lengths).

Run: .venv/bin/python bench/latency_vs_load.py   (about 1 min on 2 cores)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TAILOR_CATALOG_DIR", str(ROOT / "tests" / "data" / "catalog"))
os.environ.setdefault("TAILOR_PLANNING_DATE", "2026-12-03")

from catalog import load_catalog  # noqa: E402
from planner.rank import plan_goal  # noqa: E402
from planner.spec import load_goal  # noqa: E402
from tests.planner.test_load_model import Case, _setup, _simulate  # noqa: E402
from tests.planner.vllm_sim import quantile  # noqa: E402

GOAL = ROOT / "examples" / "goals" / "financial-report-analysis.yaml"
SHARES = (0.1, 0.25, 0.5, 0.62, 0.8, 0.9, 1.0)


def _ms(seconds: float) -> str:
    """Milliseconds, or "saturated" where the queue has no steady state (ρ → 1)."""
    return "saturated" if seconds > 60 else f"{seconds * 1e3:.0f}"


def main() -> None:
    goal = load_goal(GOAL)
    result = plan_goal(goal, load_catalog())
    plan = result.plans[0]
    s = plan.serving
    assert s is not None
    case = Case(
        plan.model,
        s.offer.gpu,
        str(s.quantization),
        s.tensor_parallel,
        goal.traffic.avg_input_tokens,
        goal.traffic.avg_output_tokens,
    )
    queue, *_ = _setup(case)
    saturation = queue.saturation_rate()
    print(
        f"{GOAL.name} {plan.id}: {plan.model} {s.quantization} on {s.tensor_parallel}× "
        f"{s.offer.gpu}, {case.input_tokens} → {case.output_tokens} tokens; saturation "
        f"{saturation:.2f} req/s, planned {s.requests_per_s_per_replica:.2f} req/s "
        f"({s.utilization:.0%}), max_num_seqs {s.max_concurrent_sequences}"
    )
    print(
        "| load | req/s | concurrency model / sim | step ms model / sim | p95 TTFT ms model / sim |"
    )
    print("| --- | --- | --- | --- | --- |")
    for share in SHARES:
        rate = saturation * share
        m = queue.at(rate)
        sim = _simulate(case, rate)
        tpot = sum(sim.tpot_s) / len(sim.tpot_s)
        print(
            f"| {share:.0%} | {rate:.2f} | {m.decode_concurrency:.1f} / {sim.mean_running:.1f} "
            f"| {m.step_s * 1e3:.1f} / {tpot * 1e3:.1f} "
            f"| {_ms(m.ttft_p95_s)} / {quantile(sim.ttft_s, 0.95) * 1e3:.0f} |"
        )


if __name__ == "__main__":
    main()
