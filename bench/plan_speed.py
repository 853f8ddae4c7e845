"""Benchmark: planning speed, in-process and as a cold `tailor plan` command.

Prints figures; asserts nothing. Targets (issue #3): a typical goal over the full shipped catalog
≤ 0.2 s in-process; `tailor plan` cold start ≤ 1.5 s.

A shared machine's speed drifts between runs (the same pure-Python loop has measured 0.84–1.41 s
here), so the bench times a fixed reference loop before and after the goals: compare two runs'
figures only after dividing by their reference, and read the warm minimum (the least disturbed of
the repeats) beside the median.

Run: .venv/bin/python bench/plan_speed.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = sorted((ROOT / "examples" / "goals").glob("*.yaml"))
TAILOR = str(Path(sys.executable).with_name("tailor"))


REFERENCE_STEPS = 2_000_000


def _reference_s(repeats: int = 5) -> float:
    """Seconds for a fixed pure-Python loop (least of `repeats`): this machine's speed right now."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        total = 0
        for step in range(REFERENCE_STEPS):
            total += step
        best = min(best, time.process_time() - start)
    return best


def _in_process(path: Path, repeats: int = 7) -> tuple[float, float, float, int]:
    """(first run s, median and least of the next runs s, candidates) in a fresh process."""
    code = (
        "import statistics, sys, time\n"
        "from pathlib import Path\n"
        "from catalog import load_catalog\n"
        "from planner.rank import plan_goal\n"
        "from planner.spec import load_goal\n"
        "catalog = load_catalog()\n"
        f"goal = load_goal(Path({str(path)!r}))\n"
        "times = []\n"
        f"for _ in range({repeats + 1}):\n"
        "    start = time.perf_counter(); r = plan_goal(goal, catalog)\n"
        "    times.append(time.perf_counter() - start)\n"
        "print(times[0], statistics.median(times[1:]), min(times[1:]), r.candidate_count)\n"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True).split()
    return float(out[0]), float(out[1]), float(out[2]), int(out[3])


def _cold_cli(path: Path, repeats: int = 3) -> float:
    env = {**os.environ, "TAILOR_HOME": str(ROOT / ".bench-home")}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [TAILOR, "plan", str(path), "--json"], check=True, env=env, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print per-goal in-process planning time and the cold CLI time."""
    from planner.spec import load_goal

    before = _reference_s()
    print(
        f"machine reference before: {before:.3f} s ({REFERENCE_STEPS:,}-step Python loop, CPU time)"
    )
    print(
        f"{'goal':36s} {'models':>6s} {'cands':>6s} {'first s':>8s} {'warm s':>8s} "
        f"{'warm min':>8s} {'cold CLI s':>10s}"
    )
    for path in GOALS:
        first, warm, least, candidates = _in_process(path)
        models = len(load_goal(path).models.candidates) or "all"
        print(
            f"{path.stem:36s} {models!s:>6s} {candidates:6d} {first:8.3f} {warm:8.3f} "
            f"{least:8.3f} {_cold_cli(path):10.2f}"
        )
    after = _reference_s()
    print(f"machine reference after:  {after:.3f} s (a drift of {after / before - 1:+.0%})")


if __name__ == "__main__":
    main()
