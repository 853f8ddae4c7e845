"""Benchmark: how often the parser accepts a goal that `tailor schema`'s JSON Schema accepts.

Draws goals from the schema (tests/planner/schema_strategy.py: its structure, bounds and
patterns, then kept only if ``jsonschema`` accepts the whole schema), parses each with
``parse_goal``, and prints the share accepted and, for the rest, the fields the parser refused.
Issue #10 point 10 measured 70 % refused (the schema left out every cross-field rule). Prints
figures; asserts nothing.

Run: .venv/bin/python bench/goal_schema.py [N]   (default 2000 goals)
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.errors import GoalSpecError
from planner.spec import goal_json_schema, parse_goal
from tests.planner.schema_strategy import schema_valid


def main(count: int) -> None:
    """Print the share of schema-valid goals the parser accepts, and what refused the rest."""
    refused: collections.Counter[str] = collections.Counter()
    seen = [0, 0]  # goals drawn, goals accepted

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(schema_valid(goal_json_schema()))
    def draw(goal: dict[str, Any]) -> None:
        seen[0] += 1
        try:
            parse_goal(goal)
            seen[1] += 1
        except GoalSpecError as error:
            refused.update(sorted({p.field for p in error.problems}))

    draw()
    drawn, accepted = seen
    print(f"{drawn:,} schema-valid goals: {accepted:,} parsed ({accepted / drawn:.1%}), ")
    print(f"{drawn - accepted:,} refused ({(drawn - accepted) / drawn:.1%}); fields refused:")
    for field, times in refused.most_common():
        print(f"  {field:<40} {times:>6,}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
