"""Which strategies a goal allows: the decision rules, as data, each with its citation.

The rules are seed 001's decision framework ("LLM Fine-Tuning Complete Guide", Data Dynamics,
2026, §1 and §7) plus the privacy rule. Each rule that removes a strategy records a Reason.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from planner.spec import GoalSpec
from planner.types import Strategy

__all__ = ["MIN_FINE_TUNE_EXAMPLES", "RULES", "Reason", "Rule", "allowed_strategies"]

MIN_FINE_TUNE_EXAMPLES = 300
"""Seed 001 §1: fine-tuning is unnecessary with "fewer than a few hundred samples"."""

_SEED = "seed 001 (Data Dynamics, 'LLM Fine-Tuning Complete Guide', 2026)"

RAG_STRATEGIES = {
    Strategy.RAG_API,
    Strategy.RAG_SELF_HOSTED,
    Strategy.FINE_TUNE_RAG,
    Strategy.API_FINE_TUNE_RAG,
}
FINE_TUNE_STRATEGIES = {
    Strategy.FINE_TUNE,
    Strategy.FINE_TUNE_RAG,
    Strategy.API_FINE_TUNE,
    Strategy.API_FINE_TUNE_RAG,
}
HOSTED_API_STRATEGIES = {
    Strategy.PROMPT_API,
    Strategy.RAG_API,
    Strategy.API_FINE_TUNE,
    Strategy.API_FINE_TUNE_RAG,
}


class Reason(BaseModel):
    """Why a branch of the decision graph was pruned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(description="What was pruned, e.g. 'strategy prompt-api'.")
    constraint: str = Field(description="The goal field or rule that decided it.")
    detail: str = Field(description="The numbers: needs X > has Y.")
    fix: str = Field(default="", description="What would make it feasible.")

    def __str__(self) -> str:
        fix = f" To fix: {self.fix}" if self.fix else ""
        return f"{self.subject}: {self.detail} ({self.constraint}).{fix}"


class Rule(BaseModel):
    """A decision rule: when it applies, which strategies it removes, and its source."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(description="Stable id.")
    applies: Callable[[GoalSpec], bool] = Field(description="Whether the goal triggers it.")
    removes: frozenset[Strategy] = Field(description="Strategies it rules out.")
    constraint: str = Field(description="The goal field(s) it reads.")
    statement: str = Field(description="The rule in words.")
    citation: str = Field(description="Where the rule comes from.")
    fix: str = Field(description="How to keep the removed strategies.")


RULES: tuple[Rule, ...] = (
    Rule(
        id="fresh-knowledge-needs-rag",
        applies=lambda g: g.task.needs_fresh_knowledge,
        removes=frozenset(set(Strategy) - RAG_STRATEGIES),
        constraint="task.needs_fresh_knowledge",
        statement="answers depend on facts that change → retrieval (RAG)",
        citation=f"{_SEED} §7 Decision Framework: 'Is up-to-date information needed? Yes → RAG'",
        fix="set task.needs_fresh_knowledge: false if the facts do not change",
    ),
    Rule(
        id="behavior-needs-fine-tune",
        applies=lambda g: (
            g.task.needs_custom_behavior and g.data.train_examples >= MIN_FINE_TUNE_EXAMPLES
        ),
        removes=frozenset(set(Strategy) - FINE_TUNE_STRATEGIES),
        constraint="task.needs_custom_behavior",
        statement="format / tone / style must change → fine-tuning",
        citation=f"{_SEED} §7: 'Does model behavior (format, tone, style) need to change? "
        "Yes → Fine-Tuning'",
        fix="set task.needs_custom_behavior: false if prompting can pin the behaviour down",
    ),
    Rule(
        id="no-behavior-change-no-fine-tune",
        applies=lambda g: not g.task.needs_custom_behavior,
        removes=frozenset(FINE_TUNE_STRATEGIES),
        constraint="task.needs_custom_behavior",
        statement="behaviour need not change → prompting (and RAG) suffice",
        citation=f"{_SEED} §1: fine-tuning is unnecessary when 'prompt engineering alone "
        "achieves sufficient performance'",
        fix="set task.needs_custom_behavior: true if prompting cannot pin the behaviour down",
    ),
    Rule(
        id="too-little-data",
        applies=lambda g: g.data.train_examples < MIN_FINE_TUNE_EXAMPLES,
        removes=frozenset(FINE_TUNE_STRATEGIES),
        constraint="data.train_examples",
        statement=f"fewer than {MIN_FINE_TUNE_EXAMPLES} examples → RAG or few-shot prompting",
        citation=f"{_SEED} §1 ('Training data is insufficient (fewer than a few hundred "
        "samples)') and §7 ('No → RAG or few-shot prompting')",
        fix=f"collect at least {MIN_FINE_TUNE_EXAMPLES} training examples",
    ),
    Rule(
        id="no-documents-no-rag",
        applies=lambda g: g.task.knowledge_base_tokens == 0,
        removes=frozenset(RAG_STRATEGIES),
        constraint="task.knowledge_base_tokens",
        statement="there are no documents to retrieve from → no RAG",
        citation=f"{_SEED} §7: RAG retrieves 'relevant docs'; with no documents it adds cost "
        "and no context",
        fix="set task.knowledge_base_tokens to the size of the documents to retrieve from",
    ),
    Rule(
        id="private-data-self-host",
        applies=lambda g: not g.privacy.data_can_leave,
        removes=frozenset(HOSTED_API_STRATEGIES),
        constraint="privacy.data_can_leave",
        statement="data may not leave → no third-party hosted API may see it; self-host",
        citation=f"{_SEED} §8 cost scenario: self-hosting means 'no data leaves premises'",
        fix="set privacy.data_can_leave: true if a hosted API may process the data",
    ),
)


def allowed_strategies(goal: GoalSpec) -> tuple[list[Strategy], list[Reason]]:
    """Strategies no rule removes, and a Reason for each one removed (first rule wins)."""
    allowed, reasons = [], []
    for strategy in Strategy:
        rule = next((r for r in RULES if r.applies(goal) and strategy in r.removes), None)
        if rule is None:
            allowed.append(strategy)
            continue
        reasons.append(
            Reason(
                subject=f"strategy {strategy}",
                constraint=rule.constraint,
                detail=f"rule '{rule.id}': {rule.statement} — {rule.citation}",
                fix=rule.fix,
            )
        )
    return allowed, reasons
