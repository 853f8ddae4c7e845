"""Property tests: no plan breaks the goal it was made for, and no goal file crashes the CLI.

Goals are generated with hypothesis and planned on a small catalog cut from the shipped rows
(3 GPUs, their offers in 3 clouds × 3 regions, 3 open models, 2 hosted APIs) so each plan takes
milliseconds. Every *candidate* the decision graph keeps is checked, not just the top N:
privacy (no hosted API when data may not leave), clouds and region globs, GPUs, spot policy,
budget, latency, candidates and methods. A fuzzer then mutates the shipped example goals (keys
dropped, wrong types, negative numbers, junk, deep nesting, binary bytes) and runs
`tailor plan FILE --json`: exit 0 or 2, never a traceback.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import Catalog, load_catalog
from catalog.params import active_params, embedding_params
from planner.errors import GoalSpecError, InfeasibleGoalError
from planner.plan import OfferChoice, Plan
from planner.rank import plan_goal
from planner.spec import GoalSpec, Objective, SpotPolicy, load_goal, parse_goal
from planner.types import SECONDS_PER_MONTH, Method
from tests.conftest import REPO_ROOT
from tui.cli import cli

EXAMPLES = sorted((REPO_ROOT / "examples" / "goals").glob("*.yaml"))

GPUS = ("L4", "A100-80GB", "H100")
REGIONS = {
    "aws": ("eu-central-1", "us-east-1", "us-west-2"),
    "gcp": ("europe-west4", "us-central1", "asia-east1"),
    "azure": ("eastus", "westeurope", "swedencentral"),
}
MODELS = ("qwen2.5-0.5b", "llama-3.2-3b", "llama-3.1-8b")
APIS = ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5")
CLOUDS = ("aws", "gcp", "azure", "lambda")  # lambda: allowed, but has no offer here
GLOBS = (
    "us-*",
    "eu-*",
    "europe-*",
    "*europe",
    "*east*",
    "us-east-1",
    "asia-?ast1",
    "[ue]*",
    "*1",
    "*",
    "nowhere-*",
)


@cache
def small_catalog() -> Catalog:
    """A few shipped rows; one L4 offer loses its spot price so `spot: required` must skip it."""
    shipped = load_catalog()
    offers = [o for o in shipped.offers if o.gpu in GPUS and o.region in REGIONS.get(o.cloud, ())]
    no_spot = next(o for o in offers if o.gpu == "L4" and o.cloud == "aws")
    offers.append(
        no_spot.model_copy(update={"instance_type": "no-spot-l4", "spot_price_usd_per_hour": None})
    )
    return Catalog(
        gpus=tuple(shipped.gpu(name) for name in GPUS),
        offers=tuple(offers),
        models=tuple(shipped.model(name) for name in MODELS),
        api_models=tuple(shipped.api_model(name) for name in APIS),
        benchmarks=shipped.benchmarks,
        benchmark_scores=shipped.benchmark_scores,
        task_benchmarks=shipped.task_benchmarks,
        quality_priors=shipped.quality_priors,
        snapshot_date=shipped.snapshot_date,
    )


def test_small_catalog_is_what_the_properties_assume() -> None:
    catalog = small_catalog()
    assert {o.gpu for o in catalog.offers} == set(GPUS)
    assert {o.cloud for o in catalog.offers} == set(REGIONS)
    assert 20 <= len(catalog.offers) <= 80  # 28 rows of the frozen test catalog
    assert any(o.spot_price_usd_per_hour is None for o in catalog.offers)
    assert any(a.fine_tuning for a in catalog.api_models)


# --- goal generation ---------------------------------------------------------------------------


def _optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def _unique(items: tuple[str, ...]) -> st.SearchStrategy:
    return st.lists(st.sampled_from(items), min_size=1, max_size=len(items), unique=True)


def max1(value: float) -> float:
    return max(value, 1.0)  # monthly_usd must be > 0


@st.composite
def goals(draw: st.DrawFn) -> dict[str, Any]:
    """A goal mapping the spec accepts, spread over every constraint the planner applies."""
    examples = draw(st.sampled_from([0, 0, 100, 1_000, 5_000, 60_000]))
    fresh = draw(st.booleans())
    behaviour = examples > 0 and draw(st.sampled_from([True, True, False]))
    requests = draw(st.sampled_from([1_000, 100_000, 1_000_000, 30_000_000]))
    average = requests / SECONDS_PER_MONTH
    money = st.sampled_from([0.0, 1.0, 50.0, 300.0, 2_000.0, 50_000.0])
    goal: dict[str, Any] = {
        "name": "generated",
        "task": {
            "type": draw(st.sampled_from(["chat", "qa", "classification", "code"])),
            "needs_fresh_knowledge": fresh,
            "needs_custom_behavior": behaviour,
            "knowledge_base_tokens": draw(st.sampled_from([1_000, 5_000_000]))
            if fresh
            else draw(st.sampled_from([0, 0, 2_000_000])),
        },
        "traffic": {
            "requests_per_month": requests,
            "peak_requests_per_s": round(average * draw(st.floats(1, 20)), 6) + 1e-3,
            "avg_input_tokens": draw(st.integers(1, 8_000)),
            "avg_output_tokens": draw(st.integers(1, 1_500)),
        },
        "latency": {
            "p95_time_to_first_token_ms": draw(_optional(st.floats(15, 5_000))),
            "min_output_tokens_per_s": draw(_optional(st.floats(1, 150))),
        },
        "budget": {
            "training_usd": draw(_optional(money)),
            "monthly_usd": draw(_optional(st.one_of(st.floats(1, 30_000), money.map(max1)))),
        },
        "privacy": {
            "data_can_leave": draw(st.booleans()),
            "allowed_clouds": draw(_optional(_unique(CLOUDS))),
            "allowed_regions": draw(_optional(_unique(GLOBS))),
        },
        "models": {
            "candidates": draw(st.one_of(st.just([]), _unique(MODELS + APIS))),
            "methods": draw(st.one_of(st.just([]), _unique(tuple(m.value for m in Method)))),
        },
        "preferences": {
            "objective": draw(st.sampled_from([o.value for o in Objective])),
            "spot": draw(st.sampled_from([p.value for p in SpotPolicy])),
            "gpus": draw(st.one_of(st.just([]), _unique(GPUS))),
        },
    }
    quality = draw(
        st.sampled_from(
            [
                None,
                {"min_score": 0},
                {"min_score": draw(st.floats(0.5, 95))},
                {"benchmark": "ifeval", "min_score": draw(st.floats(0.5, 95))},
                {"benchmark": "gpqa"},
                {"benchmark": "ifeval", "at_least_as_good_as": "openai/gpt-4o-mini"},
            ]
        )
    )
    if quality is not None:
        goal["quality"] = quality
    if examples:
        goal["data"] = {
            "train_examples": examples,
            "avg_example_tokens": draw(st.integers(20, 4_000)),
            "epochs": draw(st.integers(1, 4)),
        }
    return goal


# --- the properties ----------------------------------------------------------------------------


def _offers(plan: Plan) -> list[OfferChoice]:
    return [part.offer for part in (plan.training, plan.serving) if part is not None]


def check_offers(goal: GoalSpec, plan: Plan, where: str) -> None:
    """Every instance rented is in an allowed cloud, region and GPU, and honours the spot policy."""
    privacy, spot = goal.privacy, goal.preferences.spot
    for offer in _offers(plan):
        if privacy.allowed_clouds is not None:
            assert offer.cloud in privacy.allowed_clouds, where
        if privacy.allowed_regions is not None:
            assert any(fnmatchcase(offer.region, g) for g in privacy.allowed_regions), where
        if goal.preferences.gpus:
            assert offer.gpu in goal.preferences.gpus, where
        if spot is not SpotPolicy.ALLOWED:
            assert offer.spot is (spot is SpotPolicy.REQUIRED), where


def check_limits(goal: GoalSpec, plan: Plan, where: str) -> None:
    """Budget and latency limits, when the goal sets them."""
    budget, latency = goal.budget, goal.latency
    if budget.monthly_usd is not None:
        assert plan.monthly_usd <= budget.monthly_usd, where
    if budget.training_usd is not None:
        assert plan.one_time_usd <= budget.training_usd, where
    if latency.p95_time_to_first_token_ms is not None:
        assert plan.p95_ttft_s * 1000 <= latency.p95_time_to_first_token_ms, where
    if latency.min_output_tokens_per_s is not None:
        assert plan.output_tokens_per_s >= latency.min_output_tokens_per_s, where


def check_plan(goal: GoalSpec, plan: Plan) -> None:
    """Every constraint of ``goal`` that ``plan`` must meet, and sane numbers."""
    where = f"{plan.strategy} {plan.model} {plan.decision_path}"
    if not goal.privacy.data_can_leave:
        assert plan.api is None and not plan.strategy.hosted_api, where
    assert (plan.api is None) != (plan.serving is None), where  # exactly one answers requests
    check_offers(goal, plan, where)
    check_limits(goal, plan, where)
    if goal.models.candidates:
        assert plan.model.lower() in {c.lower() for c in goal.models.candidates}, where
    if plan.training is not None and goal.models.methods:
        assert plan.training.method in goal.models.methods, where
    for name in ("one_time_usd", "monthly_usd", "first_year_usd", "p95_ttft_s"):
        value = getattr(plan, name)
        assert math.isfinite(value) and value >= 0, f"{where}: {name} = {value}"
    assert plan.output_tokens_per_s > 0, where
    expected = plan.one_time_usd + 12 * plan.monthly_usd
    assert plan.first_year_usd == pytest.approx(expected, rel=1e-9), where
    check_quality(goal, plan, where)


def check_quality(goal: GoalSpec, plan: Plan, where: str) -> None:
    """Every plan has a quality estimate; none is below the goal's floor (its low end)."""
    q = plan.quality
    assert q is not None, where
    if goal.quality.min_score:
        assert q.floor is not None and q.floor >= goal.quality.min_score, where
    if q.floor is not None:
        assert q.expected_low is not None and q.expected_low >= q.floor, where
    if q.expected_low is not None and q.expected_high is not None:
        assert q.expected_low <= q.expected_high, where
        assert q.basis and q.base_score is not None, where


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=goals())
def test_no_plan_breaks_its_goal(data: dict[str, Any]) -> None:
    goal = parse_goal(data)
    try:
        result = plan_goal(goal, small_catalog(), top=4)
    except InfeasibleGoalError as error:
        assert "To fix:" in str(error)
        assert error.reasons, "an infeasible goal must say why"
        return
    assert 1 <= len(result.plans) <= 4
    assert [p.id for p in result.plans] == [f"p{i}" for i in range(1, len(result.plans) + 1)]
    assert result.candidate_count == len(result.graph.candidates)
    for plan in (*result.graph.candidates, *result.plans):
        check_plan(goal, plan)
    for plan, reason in result.graph.over_limits:  # over a limit ⇒ never offered
        assert reason.constraint.startswith(("budget.", "latency."))
        assert plan not in result.graph.candidates
    if result.objective is Objective.COST:
        costs = [p.first_year_usd for p in result.plans]
        assert costs == sorted(costs)
    if result.objective is Objective.LATENCY:
        ttfts = [p.p95_ttft_s for p in result.plans]
        assert ttfts == sorted(ttfts)
    if result.objective is Objective.QUALITY:
        mids = [p.quality.ranking_score for p in result.plans if p.quality is not None]
        known = [m for m in mids if m is not None]
        assert known == sorted(known, reverse=True)
        assert mids[: len(known)] == known  # unknown quality ranks last
    for ref in result.references:  # reference rows meet the goal too, but the pruning rule
        assert ref.reference and ref.id.startswith("r")
        check_quality(goal, ref, ref.reference)


@settings(max_examples=40, deadline=None)
@given(data=goals(), limit=st.floats(0.5, 20_000))
def test_a_monthly_budget_only_removes_plans(data: dict[str, Any], limit: float) -> None:
    """Adding a monthly cap keeps exactly the uncapped candidates under it."""
    data["budget"] = {}
    capped = {**data, "budget": {"monthly_usd": limit}}
    catalog = small_catalog()
    try:
        free = plan_goal(parse_goal(data), catalog).graph.candidates
    except InfeasibleGoalError:
        free = []
    try:
        kept = plan_goal(parse_goal(capped), catalog).graph.candidates
    except InfeasibleGoalError:
        kept = []
    expected = sorted((p.model, p.strategy, p.monthly_usd) for p in free if p.monthly_usd <= limit)
    assert sorted((p.model, p.strategy, p.monthly_usd) for p in kept) == expected


def test_no_replica_prefills_faster_than_its_gpus_can_compute() -> None:
    """rps × prompt tokens × 2 × (non-embedding active params) ≤ TP × peak dense FLOP/s.

    2 FLOPs per weight per token is a lower bound on a forward pass (attention is extra), and
    the GPU's best datasheet figure in any format an upper bound on its throughput.
    """
    catalog, over = load_catalog(), []
    for path in EXAMPLES:
        goal = load_goal(path)
        result = plan_goal(goal, catalog)
        for plan in result.graph.candidates:
            if (s := plan.serving) is None:
                continue
            arch, sku = catalog.model(plan.model), catalog.gpu(s.offer.gpu)
            prompt = goal.traffic.avg_input_tokens + (
                plan.rag.retrieved_tokens_per_request if plan.rag else 0
            )
            flops_per_token = 2 * (active_params(arch) - embedding_params(arch))
            needed = s.requests_per_s_per_replica * prompt * flops_per_token
            peak = (
                s.tensor_parallel
                * 1e12
                * max(
                    x
                    for x in (
                        sku.bf16_dense_tflops,
                        sku.fp16_dense_tflops,
                        sku.fp8_dense_tflops,
                        sku.int8_dense_tops,
                        sku.int4_dense_tops,
                    )
                    if x
                )
            )
            if needed > peak:
                over.append(f"{path.stem}: {plan.model} on {sku.name} needs {needed / peak:.1f}×")
    assert not over, "\n".join(over[:10])


# --- the goal-file fuzzer ----------------------------------------------------------------------

JUNK: tuple[object, ...] = (
    None,
    True,
    "junk",
    "",
    -1,
    -1e9,
    0,
    1e300,
    float("inf"),
    float("nan"),
    2**70,
    [],
    {},
    [1, "two", None],
    {"x": {"y": 1}},
    "1e6",
    "nul\x00byte",
    "ünïcødé ☃",
    "x" * 5_000,
    "${HOME}",
    "../../etc/passwd",
)

WHOLE_FILES: tuple[bytes, ...] = (
    b"",
    b"---\n",
    b"null\n",
    b"- a\n- b\n",
    b"[[[[",
    b"{",
    b"name: x\n\tname: y\n",
    b"name: a\nname: b\n",
    b"!!python/object/apply:os.system ['echo hi']\n",
    b"name: *undefined\n",
    b"name: &a [*a]\n",
    b"a: &a\n  b: *a\nname: *a\n",
    b"\xff\xfe\x00\x01binary",
    b"\x00" * 64,
    b"name: ok\xe9\n",
    b"[" * 50_000,
    b"- " * 5_000 + b"x\n",
    b"{a: " * 40 + b"1" + b"}" * 40,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside a parsed goal (sections, fields, list items)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _parent(data: object, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = [value]
    return value


def _mutate(draw: st.DrawFn, parent: Any, key: Any, kind: str) -> None:
    """Apply one mutation ``kind`` to ``parent[key]``, in place (draws in the order they always
    did, so the CI profile replays the same examples)."""
    if kind == "drop":
        del parent[key]
    elif kind == "junk":  # a copy: a later mutation must not change the shared JUNK row
        parent[key] = copy.deepcopy(draw(st.sampled_from(JUNK)))
    elif kind == "negate":
        old = parent[key]
        number = isinstance(old, int | float) and not isinstance(old, bool)
        parent[key] = -abs(old) - 1 if number else -draw(st.integers(1, 10**6))
    elif kind == "nest":
        parent[key] = _nested(draw(st.sampled_from([3, 31, 33, 200])))
    else:  # unknown
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["extra", "Name", "budget_usd", "42"]))] = 1


@st.composite
def mutated_goal_files(draw: st.DrawFn) -> bytes:
    """An example goal with one to three mutations, or a hostile file, as bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(WHOLE_FILES))
    text = draw(st.sampled_from(EXAMPLES)).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        kind = draw(
            st.sampled_from(["drop", "junk", "negate", "nest", "unknown", "scalar-section"])
        )
        if kind == "scalar-section":
            data = copy.deepcopy(draw(st.sampled_from(JUNK[:12])))
            break
        _mutate(draw, parent, key, kind)
        if not isinstance(data, dict) or not _paths(data):
            break
    out = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if draw(st.integers(0, 4)) == 0:  # then damage the text itself
        at = draw(st.integers(0, len(out)))
        tail = draw(st.sampled_from([b"", b"\x00", b"\xff\xfe", b":\n\t- [", b"\n  - x: {"]))
        out = out[:at] + tail + (out[at:] if draw(st.booleans()) else b"")
    return out


def _cli_plan(path: Path):
    return CliRunner().invoke(cli, ["plan", str(path), "--json"], catch_exceptions=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=mutated_goal_files())
def test_plan_on_mutated_goal_files_never_crashes(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "goal.yaml"
        path.write_bytes(content)
        result = _cli_plan(path)
    assert result.exit_code in (0, 2), result.output[-2_000:]
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert json.loads(result.stdout)["plans"]
    else:
        assert "To fix:" in result.output or "Usage:" in result.output, result.output[-2_000:]


@pytest.mark.parametrize(
    "content",
    [WHOLE_FILES[12], WHOLE_FILES[15], b"name: x\ntraffic: {avg_input_tokens: -5}\n"],
    ids=["binary", "deep-nesting", "negative-and-missing"],
)
def test_plan_in_a_real_process_reports_bad_goals(
    content: bytes, tmp_path: Path, tailor_home: Path
) -> None:
    path = tmp_path / "goal.yaml"
    path.write_bytes(content)
    env = {**os.environ, "TAILOR_HOME": str(tailor_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "plan", str(path), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("Error: ") and "To fix:" in done.stderr
    assert done.stdout == ""


def test_a_valid_goal_in_a_real_process(tmp_path: Path, tailor_home: Path) -> None:
    env = {**os.environ, "TAILOR_HOME": str(tailor_home), "HF_HUB_OFFLINE": "1"}
    goal = REPO_ROOT / "examples" / "goals" / "legal-summarization.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "plan", str(goal), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plans"]


def _laughs(levels: int, width: int = 10) -> str:
    """A 'billion laughs' goal: ``width ** levels`` strings from a file of a few lines."""
    lines = ['l0: &l0 "lol"']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"name: *l{levels}"]) + "\n"


def _seconds_to_reject(text: str, folder: Path) -> float:
    path = folder / "laughs.yaml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(GoalSpecError):
        load_goal(path)
    return time.perf_counter() - start


def test_alias_bombs_are_rejected_as_fast_as_small_goals(tmp_path: Path) -> None:
    small = min(_seconds_to_reject(_laughs(2), tmp_path) for _ in range(3))
    bomb = _seconds_to_reject(_laughs(7), tmp_path)
    assert bomb < 20 * small + 0.05, f"{bomb:.2f} s for the bomb, {small:.4f} s for 10**2"
