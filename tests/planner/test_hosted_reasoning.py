"""Reasoning models bill hidden reasoning tokens as output and answer later (planner.hosted)."""

from __future__ import annotations

import pytest

from catalog import load_catalog
from planner.hosted import API_P95_TTFT_S, API_TOKENS_PER_S, REASONING_TOKENS_PER_REQUEST, api_usage
from planner.spec import parse_goal

GOAL = {
    "name": "reasoning",
    "task": {"type": "chat"},
    "traffic": {
        "requests_per_month": 1_000_000,
        "peak_requests_per_s": 2,
        "avg_input_tokens": 500,
        "avg_output_tokens": 500,
    },
    "privacy": {"data_can_leave": True},
}


def test_reasoning_tokens_are_billed_as_output_and_delay_the_first_token() -> None:
    api = load_catalog().api_model("openai/gpt-5-mini")
    assert api.reasoning_tokens
    usage, terms = api_usage(parse_goal(GOAL), api, fine_tuned=False)
    output = 500 + REASONING_TOKENS_PER_REQUEST
    expected = 1_000_000 * (500 * api.input_usd_per_mtok + output * api.output_usd_per_mtok) / 1e6
    assert usage.monthly_usd == pytest.approx(expected)
    assert usage.p95_ttft_s == pytest.approx(
        API_P95_TTFT_S + REASONING_TOKENS_PER_REQUEST / API_TOKENS_PER_S
    )
    assert "assumption REASONING_TOKENS_PER_REQUEST" in terms[0].basis


def test_the_goal_can_give_its_measured_reasoning_tokens() -> None:
    api = load_catalog().api_model("openai/gpt-5-mini")
    goal = {**GOAL, "traffic": {**GOAL["traffic"], "avg_reasoning_tokens": 0}}  # type: ignore[dict-item]
    usage, _ = api_usage(parse_goal(goal), api, fine_tuned=False)
    assert usage.p95_ttft_s == pytest.approx(API_P95_TTFT_S)


def test_a_model_that_does_not_reason_bills_only_visible_output() -> None:
    api = load_catalog().api_model("openai/gpt-4o-mini")
    usage, _ = api_usage(parse_goal(GOAL), api, fine_tuned=False)
    assert usage.monthly_usd == pytest.approx(1_000_000 * (500 * 0.15 + 500 * 0.60) / 1e6)
