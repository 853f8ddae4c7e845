"""The serving search's shortcuts change its speed, never its answer.

- ``ReplicaQueue._ttft_if_meets`` (the operating-point search's inner loop) agrees with
  ``_meets(at_concurrency(d))`` everywhere on a grid of concurrencies and limits;
- a TTFT cutoff stops the search only where the operating point's p95 TTFT is above it, and
  otherwise returns the very point the uncut search finds;
- a goal's searches sharing one ``SearchMemo`` (with and without retrieved context, published
  and fine-tuned weights) give the same plans and reasons as searches that share nothing;
- the staircase of priced options (``_Front``) answers "is this floor beaten?" and "the
  fastest option at most this dear" as a scan of every priced option does.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from catalog import load_catalog
from planner.estimators.load import Beyond, LoadPoint
from planner.offers import build_offer_index
from planner.quantization import ServedWeights, cold_start_seconds, served_formats
from planner.serving_options import SearchMemo, _Front, serving_options
from planner.spec import load_goal
from tests.planner.test_load_model import CASES, _setup

GOALS = Path(__file__).resolve().parents[2] / "examples" / "goals"
LIMITS = [
    (math.inf, math.inf),
    (1 / 20, 1.5),
    (1 / 40, 0.3),
    (1 / 10, 0.05),
    (1 / 80, 5.0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.model}-{c.gpu}-{c.quantization}")
def test_the_lean_check_agrees_with_the_full_load_point(case) -> None:
    queue, *_ = _setup(case)
    high = min(queue._max_concurrency(), queue._seqs_limit)
    checked = 0
    for step_limit, ttft_limit in LIMITS:
        for i in range(1, 200):
            d = high * 1.1 * i / 200
            full = queue.at_concurrency(d)
            expected = full.ttft_p95_s if queue._meets(full, step_limit, ttft_limit) else None
            assert queue._ttft_if_meets(d, step_limit, ttft_limit) == expected, (case, d)
            checked += expected is not None
    assert 0 < checked < len(LIMITS) * 199  # the grid reaches both sides of the limits


def test_a_cutoff_stops_the_search_only_above_the_operating_points_ttft() -> None:
    stopped = 0
    for case in CASES:
        queue, *_ = _setup(case)
        for step_limit, ttft_limit in LIMITS:
            whole = queue.operating_rate(step_limit_s=step_limit, ttft_limit_s=ttft_limit)
            if whole is None:
                continue
            assert isinstance(whole, LoadPoint)
            for share in (0.0, 0.5, 0.9, 0.99, 1.0, 1.01, 2.0):
                cutoff = whole.ttft_p95_s * share
                cut = queue.operating_rate(
                    step_limit_s=step_limit, ttft_limit_s=ttft_limit, ttft_cutoff_s=cutoff
                )
                if isinstance(cut, Beyond):
                    assert cutoff < cut.ttft_floor_s <= whole.ttft_p95_s, case
                    stopped += 1
                else:
                    assert cut == whole, case
    assert stopped > 0


@pytest.mark.parametrize("name", ["eu-bank-kyc-assistant", "changing-docs-qa"])
def test_searches_sharing_a_memo_answer_as_searches_that_share_nothing(name: str) -> None:
    goal = load_goal(GOALS / f"{name}.yaml")
    catalog = load_catalog()
    index = build_offer_index(goal, catalog)
    gpus = {g.name: g for g in catalog.gpus}
    shared = SearchMemo()
    compared = 0
    for arch in list(catalog.models)[:6]:
        for extra in (0, 2000):
            for weights in (ServedWeights.PUBLISHED, ServedWeights.FINE_TUNED):

                def search(memo: SearchMemo | None, arch=arch, extra=extra, weights=weights):
                    return serving_options(
                        goal,
                        arch,
                        index,
                        gpus,
                        formats=lambda sku: served_formats(catalog, arch, sku, weights=weights),
                        engine_start=lambda tp, per_weight: cold_start_seconds(
                            catalog, arch, tensor_parallel=tp, bytes_per_weight=per_weight
                        ),
                        extra_input_tokens=extra,
                        memo=memo,
                    )

                alone_plans, alone_reasons = search(None)
                plans, reasons = search(shared)
                assert [p.model_dump() for p in plans] == [p.model_dump() for p in alone_plans]
                assert [p.built_terms() for p in plans] == [p.built_terms() for p in alone_plans]
                assert reasons == alone_reasons
                compared += len(plans)
    assert compared > 0
    assert shared.points and shared.candidates  # the memo was used


_PRICE = st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0])  # ties are the hard cases


@given(
    options=st.lists(st.tuples(_PRICE, _PRICE), max_size=12),
    floors=st.lists(st.tuples(_PRICE, _PRICE), min_size=1, max_size=6),
)
@example(options=[(2.0, 3.0), (2.0, 1.0), (1.0, 3.0)], floors=[(2.0, 3.0), (1.0, 3.0)])
@example(options=[(1.0, 1.0), (1.0, 1.0)], floors=[(1.0, 1.0), (2.0, 1.0), (1.0, 2.0)])
def test_the_staircase_answers_as_a_scan_of_every_option(options, floors) -> None:
    front = _Front()
    for cost, ttft in options:
        front.add(cost, ttft)
    assert front.costs == sorted(set(front.costs))  # dearer steps are faster
    assert all(a > b for a, b in zip(front.ttfts, front.ttfts[1:], strict=False))
    for cost_floor, ttft_floor in floors:
        scan = any(
            c <= cost_floor and t <= ttft_floor and (c < cost_floor or t < ttft_floor)
            for c, t in options
        )
        assert front.beats(cost_floor, ttft_floor) is scan
        fastest = min((t for c, t in options if c <= cost_floor), default=math.inf)
        assert front.fastest_within(cost_floor) == fastest
