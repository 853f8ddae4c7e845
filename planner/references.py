"""Reference rows: what each strategy a decision rule pruned would have given.

A goal's decision rules (planner.rules) remove whole strategies — "behaviour must change →
fine-tune" removes prompting a hosted model as is. The team still wants to see that option next
to the plans: its cost and its expected quality. So for each pruned strategy that can be costed
for this goal, the planner builds it anyway, under every other constraint of the goal (budget,
latency, privacy of the offers, quality floor), and shows the plan of the highest expected
quality (the cheapest of equals) as a reference row, naming the rule that pruned it. A
reference is never launched.

Strategies a rule prunes for a reason that leaves nothing to cost are not shown: retrieval with
no documents (no-documents-no-rag), fine-tuning with no examples.
"""

from __future__ import annotations

import math

from planner.graph import DecisionGraph
from planner.plan import Plan
from planner.rules import FINE_TUNE_STRATEGIES, RULES, Rule
from planner.spec import GoalSpec
from planner.types import Strategy

__all__ = ["reference_plans", "reference_strategies"]


def _costable(goal: GoalSpec, strategy: Strategy) -> bool:
    if strategy.uses_rag and goal.task.knowledge_base_tokens == 0:
        return False
    if strategy in FINE_TUNE_STRATEGIES:
        return goal.data.train_examples > 0 and goal.data.avg_example_tokens is not None
    return True


def _pruning_rule(goal: GoalSpec, strategy: Strategy) -> Rule | None:
    return next((r for r in RULES if r.applies(goal) and strategy in r.removes), None)


def _best(plans: list[Plan]) -> Plan:
    def key(p: Plan) -> tuple:
        q = p.quality.expected_mid if p.quality is not None else None
        return (q is None, -(q if q is not None else -math.inf), p.first_year_usd, p.model)

    return min(plans, key=key)


def reference_strategies(goal: GoalSpec) -> dict[Strategy, Rule]:
    """The strategies a rule pruned that can be costed for this goal, with that rule."""
    pruned = {s: rule for s in Strategy if (rule := _pruning_rule(goal, s)) is not None}
    return {s: rule for s, rule in pruned.items() if _costable(goal, s)}


def reference_plans(goal: GoalSpec, graph: DecisionGraph) -> list[Plan]:
    """One reference plan per pruned, costable strategy, in strategy order, from the graph's
    ``references`` (built with ``also=reference_strategies(goal)``)."""
    if graph.references is None:
        return []
    refs = []
    for strategy, rule in reference_strategies(goal).items():
        plans = [p for p in graph.references.candidates if p.strategy is strategy]
        if not plans:
            continue
        best = _best(plans)
        refs.append(
            best.model_copy(
                update={
                    "reference": f"strategy {strategy} pruned by rule '{rule.id}': "
                    f"{rule.statement} ({rule.constraint}); shown for comparison only",
                }
            )
        )
    return refs
