"""Every shipped example goal plans, in the library and through `tailor plan --json`, and its
plan files feed `tailor explain`, `tailor compare` and `load_plan_file` unchanged."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog import load_catalog
from planner.plan import load_plan_file
from planner.rank import plan_goal
from planner.spec import load_goal
from tests.conftest import REPO_ROOT
from tui.cli import cli

EXAMPLES = sorted((REPO_ROOT / "examples" / "goals").glob("*.yaml"))
IDS = [path.stem for path in EXAMPLES]


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def numbers(value: object, where: str = "") -> Iterator[tuple[str, float]]:
    """Every number inside a JSON value, with its path (booleans are not numbers here)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{where}[{index}]")


def plan_json(goal: Path, *extra: object) -> dict:
    result = invoke("plan", goal, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_example_plans_in_the_library(path: Path) -> None:
    goal = load_goal(path)
    result = plan_goal(goal, load_catalog())
    assert result.plans, path.name
    assert [p.id for p in result.plans] == [f"p{i}" for i in range(1, len(result.plans) + 1)]
    assert result.candidate_count >= len(result.plans)
    for plan in result.plans:
        assert plan.estimates, f"{plan.id} has no estimates"
        if not goal.privacy.data_can_leave:
            assert plan.api is None, f"{plan.id} sends private data to {plan.api}"


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_example_plans_through_the_cli(path: Path) -> None:
    goal = load_goal(path)
    out = plan_json(path)
    assert out["goal"] == goal.name
    assert len(out["plans"]) >= 1
    for row in out["plans"]:
        for where, value in numbers(row):
            assert math.isfinite(value) and value >= 0, f"{row['id']}{where} = {value}"
        plan = row["plan"]
        one_time, monthly = plan["one_time_usd"], plan["monthly_usd"]
        assert plan["first_year_usd"] == pytest.approx(one_time + 12 * monthly, rel=1e-6)
        assert row["first_year_usd"] == pytest.approx(plan["first_year_usd"], abs=0.01)
        if not goal.privacy.data_can_leave:
            assert plan["api"] is None, f"{row['id']} uses a hosted API"
            assert not row["strategy"].startswith(("prompt-api", "rag-api", "api-"))


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_example_plan_files_explain_compare_and_round_trip(path: Path, tmp_path: Path) -> None:
    x_json, x_yaml, y_json = tmp_path / "x.json", tmp_path / "x.yaml", tmp_path / "y.json"
    ids = [row["id"] for row in plan_json(path, "--out", x_json)["plans"]]
    other = "p2" if "p2" in ids else "p1"  # a goal with a single feasible plan compares p1 to p1
    plan_json(path, "--plan", other, "--out", y_json)
    plan_json(path, "--out", x_yaml)

    explained = invoke("explain", x_json)
    assert explained.exit_code == 0, explained.output
    assert explained.output.startswith("p1 "), explained.output[:200]
    assert "Decision path" in explained.output

    compared = invoke("compare", x_json, y_json)
    assert compared.exit_code == 0, compared.output
    assert "Δ: each −" in compared.output and "quality_low" in compared.output
    assert "x.json" in compared.output and "y.json" in compared.output
    rows = json.loads(invoke("compare", x_json, y_json, "--json").stdout)
    by_name = {row["name"]: row for row in rows}
    a, b = load_plan_file(x_json).plan, load_plan_file(y_json).plan
    assert (a.id, b.id) == ("p1", other)
    assert by_name["first_year_usd"]["delta_from_first"]["y.json"] == pytest.approx(
        round(b.first_year_usd, 2) - round(a.first_year_usd, 2), abs=0.011
    )

    from_yaml, from_json = load_plan_file(x_yaml), load_plan_file(x_json)
    assert from_yaml == from_json
    assert from_yaml.plan.id == "p1"
    assert [p.id for p in from_yaml.alternatives] == ids[1:]
    assert from_yaml.goal == load_goal(path)
