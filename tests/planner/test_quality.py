"""Quality-aware planning: published scores, the priors' arithmetic, floors, the quality
objective, reference rows and hosted-model lifecycle, on the frozen test catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog import load_catalog, total_params
from planner.errors import InfeasibleGoalError, PlannerError
from planner.pareto import pareto_front_3
from planner.rank import plan_goal
from planner.spec import Objective, load_goal, parse_goal
from tests.planner.test_properties import goals, small_catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "goals"
DAY = date(2026, 12, 3)


def _goal(name: str, **update: object):
    goal = load_goal(EXAMPLES / f"{name}.yaml")
    return goal.model_copy(update=update) if update else goal


def test_a_published_score_is_read_with_its_source() -> None:
    # Llama 3.1 model card, instruction-tuned table: IFEval 80.4 for Llama-3.1-8B-Instruct.
    score = load_catalog().score("llama-3.1-8b", "ifeval")
    assert score is not None and score.score == pytest.approx(80.4)
    assert score.checkpoint == "meta-llama/Llama-3.1-8B-Instruct"
    assert score.source.startswith("https://") and score.retrieved_on
    assert load_catalog().score("llama-3.1-8b", "no-such-benchmark") is None  # never imputed


def test_every_plan_carries_quality_with_its_basis() -> None:
    result = plan_goal(_goal("private-support-assistant"), load_catalog(), as_of=DAY)
    for plan in (*result.plans, *result.references):
        q = plan.quality
        assert q is not None and q.benchmark == "ifeval"
        assert q.base_score is not None and q.expected_low is not None
        assert q.expected_low <= q.expected_high  # type: ignore[operator]
        assert q.basis[0].startswith("published: IFEval")
        assert q.default_floor and q.floor == pytest.approx(69.9)
        assert q.expected_low >= q.floor


def test_the_range_is_the_priors_arithmetic() -> None:
    """LoRA on llama-3.1-8b with 3,600 training examples: IFEval 80.4 moved by the catalog's
    data.1k-10k (headroom), method.lora and served-format (relative) priors."""
    catalog = load_catalog()
    goal = _goal(
        "private-support-assistant",
        models=_goal("private-support-assistant").models.model_copy(
            update={"candidates": ("llama-3.1-8b",), "methods": ("lora",)}
        ),
    )
    result = plan_goal(goal, catalog, as_of=DAY)
    plan = result.plans[0]
    assert plan.serving is not None
    priors = {p.id: p for p in catalog.quality_priors}
    data, lora = priors["data.1k-10k"], priors["method.lora"]
    served = priors[f"quantization.{plan.serving.quantization}"]
    low = (80.4 + data.low * (100 - 80.4)) * (1 + lora.low) * (1 + served.low)
    high = min(100.0, (80.4 + data.high * (100 - 80.4)) * (1 + lora.high) * (1 + served.high))
    assert plan.quality is not None
    assert plan.quality.expected_low == pytest.approx(low, abs=1e-3)
    assert plan.quality.expected_high == pytest.approx(high, abs=1e-3)


def test_code_benchmarks_use_the_code_math_lora_prior() -> None:
    catalog = load_catalog()
    ids = {p.id for p in catalog.quality_priors if "humaneval" in p.benchmarks}
    assert {"method.lora.code-math", "method.qlora.code-math"} <= ids


@pytest.mark.parametrize(
    "name", ["private-support-assistant", "eu-bank-kyc-assistant", "code-assistant"]
)
def test_no_sub_1b_model_comes_first_by_default(name: str) -> None:
    catalog = load_catalog()
    result = plan_goal(_goal(name), catalog, as_of=DAY)
    first = result.plans[0]
    if first.serving is not None:
        assert total_params(catalog.model(first.model)) >= 1e9, first.model


def test_a_floor_no_plan_reaches_is_infeasible_with_the_nearest() -> None:
    goal = _goal("private-support-assistant")
    goal = goal.model_copy(update={"quality": goal.quality.model_copy(update={"min_score": 99.5})})
    with pytest.raises(InfeasibleGoalError) as error:
        plan_goal(goal, load_catalog(), as_of=DAY)
    assert "quality" in str(error.value) and error.value.nearest


def test_at_least_as_good_as_takes_that_models_score() -> None:
    data = load_goal(EXAMPLES / "api-vs-self-hosted-1m.yaml").model_dump(mode="json")
    data["quality"] = {"at_least_as_good_as": "openai/gpt-4o-mini"}
    result = plan_goal(parse_goal(data), load_catalog(), as_of=DAY)
    floor = load_catalog().score("openai/gpt-4o-mini", "ifeval").score  # type: ignore[union-attr]
    assert result.quality_target is not None and result.quality_target.floor == floor
    assert all(p.quality.expected_low >= floor for p in result.plans)  # type: ignore[union-attr,operator]


def test_an_unknown_benchmark_is_a_clear_error() -> None:
    data = load_goal(EXAMPLES / "api-vs-self-hosted-1m.yaml").model_dump(mode="json")
    data["quality"] = {"benchmark": "nosuch"}
    with pytest.raises(PlannerError, match=r"quality.benchmark.*To fix"):
        plan_goal(parse_goal(data), load_catalog(), as_of=DAY)


def test_objective_quality_ranks_by_expected_quality() -> None:
    result = plan_goal(
        _goal("private-support-assistant"), load_catalog(), objective=Objective.QUALITY, as_of=DAY
    )
    mids = [p.quality.ranking_score for p in result.plans]  # type: ignore[union-attr]
    assert mids == sorted(mids, reverse=True)  # type: ignore[type-var]


def test_seed_001_shows_its_three_options_side_by_side() -> None:
    """Seed 001 §8: a large hosted model as is, a fine-tuned small hosted model, a self-hosted
    8B fine-tune, each with cost and quality."""
    result = plan_goal(_goal("api-vs-self-hosted-1m"), load_catalog(), as_of=DAY)
    rows = {(p.strategy.value, p.model) for p in (*result.plans, *result.references)}
    assert ("prompt-api", "openai/gpt-4o") in rows
    assert ("api-fine-tune", "openai/gpt-4o-mini") in rows
    assert ("fine-tune", "llama-3-8b") in rows
    ref = next(p for p in result.references if p.model == "openai/gpt-4o")
    assert "behavior-needs-fine-tune" in (ref.reference or "")
    with pytest.raises(PlannerError, match="reference row"):
        result.plan_file(ref.id)
    mini = next(p for p in result.plans if p.model == "openai/gpt-4o-mini")
    assert any("shuts down on 2027-01-14" in w for w in mini.warnings)


def test_a_retired_model_and_a_closed_fine_tuning_offer_are_pruned() -> None:
    result = plan_goal(_goal("api-vs-self-hosted-1m"), load_catalog(), as_of=date(2027, 2, 1))
    shown = [p for p in (*result.plans, *result.references) if p.model.startswith("openai/")]
    assert shown == []
    reasons = [str(r) for r in result.graph.reasons if r.constraint == "catalog lifecycle"]
    assert any("shut down on 2027-01-14" in r for r in reasons)


def _brute_front(points: list[tuple[float, float, float]]) -> set[tuple[float, float, float]]:
    def dominated(p: tuple[float, float, float]) -> bool:
        return any(q != p and all(a <= b for a, b in zip(q, p, strict=True)) for q in points)

    return {p for p in points if not dominated(p)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 6).map(float)] * 3), max_size=30))
def test_the_three_way_front_matches_brute_force(points: list[tuple[float, float, float]]) -> None:
    front = pareto_front_3(points, keys=(lambda p: p[0], lambda p: p[1], lambda p: p[2]))
    assert set(front) == _brute_front(points)
    assert len(front) == len(set(front))


@settings(max_examples=40, deadline=None)
@given(data=goals(), floor=st.floats(1, 95))
def test_a_quality_floor_only_removes_plans_below_it(data: dict, floor: float) -> None:
    """The floor (with the early pruning of models that cannot reach it) keeps exactly the
    unfloored candidates whose pessimistic expected score reaches it."""
    catalog = small_catalog()
    free_goal = {**data, "quality": {"min_score": 0}}
    floored = {**data, "quality": {"min_score": floor}}

    def candidates(goal: dict) -> list:
        try:
            return plan_goal(parse_goal(goal), catalog, as_of=DAY).graph.candidates
        except InfeasibleGoalError:
            return []

    def key(p) -> tuple:
        return (p.strategy, p.model, p.training.method if p.training else None, p.monthly_usd)

    free = candidates(free_goal)
    expected = sorted(
        key(p)
        for p in free
        if p.quality and p.quality.expected_low is not None and p.quality.expected_low >= floor
    )
    assert sorted(key(p) for p in candidates(floored)) == expected


def test_a_plan_file_holding_a_reference_row_is_refused(tmp_path: Path) -> None:
    """Copying a reference row into a plan file by hand does not make it launchable."""
    from planner.plan import PlanFile, load_plan_file, save_plan_file

    result = plan_goal(_goal("api-vs-self-hosted-1m"), load_catalog(), as_of=DAY)
    sealed = result.plan_file("p1")
    data = sealed.model_dump(mode="json")
    data["plan"] = result.references[0].model_dump(mode="json")
    with pytest.raises(ValueError, match="reference row"):
        PlanFile.model_validate(data)
    path = tmp_path / "ref.json"
    save_plan_file(sealed, path)
    text = path.read_text().replace(
        '"reference": null', f'"reference": "{result.references[0].reference}"', 1
    )
    path.write_text(text)
    with pytest.raises(PlannerError, match="reference row"):
        load_plan_file(path)


def test_reference_rows_name_every_rule_that_pruned_them() -> None:
    data = load_goal(EXAMPLES / "private-support-assistant.yaml").model_dump(mode="json")
    result = plan_goal(parse_goal(data), load_catalog(), as_of=DAY)
    prompt_api = [r for r in result.references if r.strategy.value == "prompt-api"]
    for ref in prompt_api:
        assert (
            "private-data-self-host" in ref.reference
            and "behavior-needs-fine-tune" in ref.reference
        )  # type: ignore[operator]
    shown = {r.strategy for r in result.references}
    assert all(line.startswith("no reference row for ") for line in result.missing_references)
    assert len(shown) + len(result.missing_references) >= 1
