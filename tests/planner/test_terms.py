"""Every number a plan shows is its formula: the formula text evaluates to the value shown.

The formulas are built from the same numbers the estimate was made from (not recomputed for
display), so a formula that drifted from the code that made the value shows up here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from catalog import load_catalog
from planner.estimate import estimate_serve, estimate_train
from planner.estimators.serving import ServingSetup
from planner.estimators.terms import Term, evaluate_formula
from planner.estimators.training_setup import TrainingSetup
from planner.rank import plan_goal
from planner.spec import load_goal
from planner.types import Method, Quantization
from tests.conftest import REPO_ROOT

EXAMPLES = sorted((REPO_ROOT / "examples" / "goals").glob("*.yaml"))
REL = 1e-4  # numbers in formulas carry 6 significant digits


def _mismatches(terms: tuple[Term, ...]) -> list[str]:
    bad = []
    for term in terms:
        value = evaluate_formula(term.formula)
        if not math.isclose(value, term.value, rel_tol=REL, abs_tol=1e-9):
            bad.append(f"{term.name}: {term.formula} = {value!r}, shown {term.value!r}")
    return bad


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_term_of_every_example_plan_evaluates_to_its_value(path: Path) -> None:
    result = plan_goal(load_goal(path), load_catalog())
    for plan in result.plans:
        assert plan.estimates, plan.id
        assert not _mismatches(plan.estimates), plan.id
        names = [t.name for t in plan.estimates]
        assert len(names) == len(set(names)), f"{plan.id}: a term is shown twice"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_plan_numbers_are_the_terms_numbers(path: Path) -> None:
    """The plan's fields and its terms are one computation: no second estimate to disagree."""
    for plan in plan_goal(load_goal(path), load_catalog()).plans:
        terms = {t.name: t.value for t in plan.estimates}
        assert terms["total.first_year_usd"] == pytest.approx(plan.first_year_usd)
        assert terms["total.one_time_usd"] == pytest.approx(plan.one_time_usd)
        if plan.training is not None:
            t = plan.training
            if t.spot is None:
                assert terms["train.hours"] == pytest.approx(t.hours)
            else:  # expected hours, preemptions included, between the calm and worst rates
                spot_hours = (terms["train.spot.hours_low"] + terms["train.spot.hours_high"]) / 2
                assert spot_hours == pytest.approx(t.hours)
                assert terms["train.spot.expected_cost_usd"] == pytest.approx(t.spot.expected_usd)
            assert terms["train.cost_usd"] == pytest.approx(t.cost_usd)
            assert terms["train.memory.peak_per_gpu"] == pytest.approx(
                t.peak_memory_gib_per_gpu, abs=0.005
            )
        if plan.serving is not None:
            s = plan.serving
            assert terms["serve.ttft"] == pytest.approx(s.p95_ttft_s)
            assert terms["serve.replicas"] == s.replicas
            assert terms["serve.monthly_usd"] == pytest.approx(s.monthly_usd)
            assert terms["serve.max_num_seqs"] == s.max_concurrent_sequences
            assert terms["serve.max_num_batched_tokens"] == s.max_num_batched_tokens
            assert terms["serve.max_model_len"] == s.max_model_len
            assert terms["serve.rate_per_replica"] == pytest.approx(s.requests_per_s_per_replica)
            assert terms["serve.operating_concurrency"] == pytest.approx(s.operating_concurrency)
            assert terms["serve.concurrency_p999"] == pytest.approx(s.concurrency_p999)
            assert terms["serve.concurrency_p999"] <= s.max_concurrent_sequences
            assert 1 / terms["serve.step_at_load"] == pytest.approx(
                s.output_tokens_per_s_per_stream
            )


@pytest.mark.parametrize("method", list(Method))
def test_estimate_train_terms_evaluate(method: Method) -> None:
    setup = TrainingSetup(method=method, seq_len_tokens=2048, micro_batch=2, gpus=2)
    report = estimate_train(
        load_catalog(), model="llama-3.1-8b", gpu="H100", setup=setup, tokens=10_000_000
    )
    assert not _mismatches(report.terms)


@pytest.mark.parametrize("quantization", list(Quantization))
def test_estimate_serve_terms_evaluate(quantization: Quantization) -> None:
    setup = ServingSetup(
        quantization=quantization, tensor_parallel=2, batch=32, input_tokens=1500, output_tokens=300
    )
    report = estimate_serve(load_catalog(), model="qwen3-30b-a3b", gpu="H100", setup=setup)
    assert not _mismatches(report.terms)


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("1,234 × 2", 2468),
        ("max(0, 1 − 2) + min(3, 4)", 3),
        ("ceil(2.1) + floor(2.9) + 2^10 / GiB", 5 + 1024 / 2**30),
        ("1.5e-3 × 8,030,261,248", 1.5e-3 * 8_030_261_248),
    ],
)
def test_formula_grammar(formula: str, value: float) -> None:
    assert evaluate_formula(formula) == pytest.approx(value)


@pytest.mark.parametrize("formula", ["__import__('os')", "x + 1", "(1).real", "1 if 1 else 2"])
def test_formulas_are_arithmetic_only(formula: str) -> None:
    with pytest.raises(ValueError, match="not a formula"):
        evaluate_formula(formula)
