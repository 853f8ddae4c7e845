"""Benchmark: how long reporting a goal's problems takes as the number of problems grows.

A goal file with N unknown top-level keys (every one a problem) is validated and its problems
turned into the error the CLI prints, in a fresh process each, under a time limit. Issue #10
point 9 measured 12 s for 16,000 keys and more than 300 s for 200,000 (each problem looked up its
line by scanning every key: quadratic). Also: how long `load_goal` takes to refuse a file over
the size cap. Prints figures; asserts nothing.

Run: .venv/bin/python bench/goal_errors.py [N ...]   (default 16000 200000; limit 600 s each)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
LIMIT_S = 600

REPORT = """
import sys, time
from pathlib import Path
import yaml
from pydantic import ValidationError
from planner.errors import GoalSpecError
from planner.problems import problems_from_validation
from planner.spec import GoalSpec
text = Path(sys.argv[1]).read_text(encoding="utf-8")
data = yaml.safe_load(text)
start = time.perf_counter()
try:
    GoalSpec.model_validate(data)
except ValidationError as error:
    count = error.error_count()
    problems = problems_from_validation(error, GoalSpec, text=text)
    message = str(GoalSpecError(problems, source=sys.argv[1]))
print(count, len(problems), len(message), time.perf_counter() - start)
"""

LOAD = """
import sys, time
from pathlib import Path
from planner.errors import GoalSpecError
from planner.spec import load_goal
start = time.perf_counter()
try:
    load_goal(Path(sys.argv[1]))
except GoalSpecError as error:
    message = str(error)
print(len(message), time.perf_counter() - start, message.splitlines()[-1][:100])
"""


def _goal_text(unknown_keys: int) -> str:
    """The example goal plus ``unknown_keys`` keys no section defines, one short line each."""
    keys = "".join(f"k{i:x}: 0\n" for i in range(unknown_keys))
    return GOAL.read_text(encoding="utf-8") + keys


def _run(code: str, path: Path) -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
            check=True,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return f"> {LIMIT_S} s (stopped)"
    return done.stdout.strip()


def main(sizes: list[int]) -> None:
    """Print, per size, the problems found and reported and the seconds it took."""
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"goal-{size}.yaml"
            path.write_text(_goal_text(size), encoding="utf-8")
            kib = path.stat().st_size / 1024
            out = _run(REPORT, path).split()
            if len(out) == 4:
                count, shown, chars, seconds = out
                print(
                    f"{size:>8,} unknown keys ({kib:,.0f} KiB): {int(count):,} problems, "
                    f"{int(shown):,} reported, {int(chars):,} characters, {float(seconds):.2f} s"
                )
            else:
                print(f"{size:>8,} unknown keys ({kib:,.0f} KiB): {' '.join(out)}")
            print(f"{'':>8}  load_goal on that file: {_run(LOAD, path)}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [16_000, 200_000])
