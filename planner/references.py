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

__all__ = ["missing_references", "reference_plans", "reference_strategies"]


def _costable(goal: GoalSpec, strategy: Strategy) -> bool:
    if strategy.uses_rag and goal.task.knowledge_base_tokens == 0:
        return False
    if strategy in FINE_TUNE_STRATEGIES:
        return goal.data.train_examples > 0 and goal.data.avg_example_tokens is not None
    return True


def _pruning_rules(goal: GoalSpec, strategy: Strategy) -> list[Rule]:
    return [r for r in RULES if r.applies(goal) and strategy in r.removes]


def _best(plans: list[Plan]) -> Plan:
    def key(p: Plan) -> tuple:
        q = p.quality.ranking_score if p.quality is not None else None
        return (q is None, -(q if q is not None else -math.inf), p.first_year_usd, p.model)

    return min(plans, key=key)


def reference_strategies(goal: GoalSpec) -> dict[Strategy, list[Rule]]:
    """The strategies a rule pruned that can be costed for this goal, with every rule that
    prunes each."""
    pruned = {s: rules for s in Strategy if (rules := _pruning_rules(goal, s))}
    return {s: rules for s, rules in pruned.items() if _costable(goal, s)}


def missing_references(goal: GoalSpec, graph: DecisionGraph) -> list[str]:
    """A line for each pruned, costable strategy that has no reference row, and why."""
    if graph.references is None:
        return []
    found = {p.strategy for p in graph.references.candidates}
    lines = []
    for strategy in reference_strategies(goal):
        if strategy in found:
            continue
        refs = graph.references
        missed = [r for p, r in (*refs.over_limits, *refs.below_floor) if p.strategy is strategy]
        missed += [r for r in refs.reasons if r.subject.startswith(f"{strategy} ")]
        node = f"strategy:{strategy}"
        if node in refs.graph and not any(True for _ in refs.graph.successors(node)):
            why = "no model the goal allows (models.candidates) offers it"
        elif missed:
            why = f"e.g. {missed[0]}"
        else:
            why = "no plan of it meets the goal's other limits"
        lines.append(f"no reference row for {strategy}: {why}")
    return lines


def reference_plans(goal: GoalSpec, graph: DecisionGraph) -> list[Plan]:
    """One reference plan per pruned, costable strategy, in strategy order, from the graph's
    ``references`` (built with ``also=reference_strategies(goal)``)."""
    if graph.references is None:
        return []
    refs = []
    for strategy, rules in reference_strategies(goal).items():
        plans = [p for p in graph.references.candidates if p.strategy is strategy]
        if not plans:
            continue
        best = _best(plans)
        refs.append(
            best.model_copy(
                update={
                    "reference": f"strategy {strategy} pruned by "
                    + "; and ".join(
                        f"rule '{rule.id}': {rule.statement} ({rule.constraint})" for rule in rules
                    )
                    + "; shown for comparison only",
                }
            )
        )
    return refs
