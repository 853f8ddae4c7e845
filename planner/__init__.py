"""tailor planner: goal spec → decision graph → estimates → ranked plans (pure).

The public face: the executor and the UI import from here (an import-linter contract keeps
``tui`` to these names). Modules inside the package import each other directly.

Errors::

    TailorError (catalog)        root of everything tailor raises
    └── PlannerError             base of everything this package raises
        ├── GoalSpecError        the goal is unusable: one Problem per field, all at once
        └── InfeasibleGoalError  no plan meets the goal: every reason, the nearest plans
"""

from planner.budget import BudgetExcess, budget_excesses
from planner.errors import GoalSpecError, InfeasibleGoalError, PlannerError, Problem, printable
from planner.estimate import ServeReport, TrainReport, estimate_serve, estimate_train
from planner.estimators.serving import ServingSetup
from planner.estimators.terms import Term, evaluate_formula
from planner.estimators.training_setup import TrainingSetup
from planner.explain import CompareRow, Section, compare_plans, explain_plan, summary_row
from planner.export import GRAPH_FORMATS, export_graph
from planner.graph import DecisionGraph, build_decision_graph
from planner.plan import (
    PLAN_SCHEMA_VERSION,
    ApiUsage,
    BatchPlan,
    OfferChoice,
    Plan,
    PlanFile,
    RagSetup,
    ServingPlan,
    TrainingPlan,
    content_digest,
    load_plan_file,
    save_plan_file,
)
from planner.problems import Unwrapped, parse_goal_yaml, unwrap_annotation
from planner.rank import PlanningResult, plan_goal, rank_plans, resolve_data_path
from planner.spec import GoalSpec, Objective, dump_goal, goal_json_schema, load_goal, parse_goal
from planner.types import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    AttentionImpl,
    Method,
    Optimizer,
    Quantization,
    Strategy,
    bytes_per_param,
)

__all__ = [
    "GRAPH_FORMATS",
    "HOURS_PER_MONTH",
    "PLAN_SCHEMA_VERSION",
    "SECONDS_PER_MONTH",
    "ApiUsage",
    "AttentionImpl",
    "BatchPlan",
    "BudgetExcess",
    "CompareRow",
    "DecisionGraph",
    "GoalSpec",
    "GoalSpecError",
    "InfeasibleGoalError",
    "Method",
    "Objective",
    "OfferChoice",
    "Optimizer",
    "Plan",
    "PlanFile",
    "PlannerError",
    "PlanningResult",
    "Problem",
    "Quantization",
    "RagSetup",
    "Section",
    "ServeReport",
    "ServingPlan",
    "ServingSetup",
    "Strategy",
    "Term",
    "TrainReport",
    "TrainingPlan",
    "TrainingSetup",
    "Unwrapped",
    "budget_excesses",
    "build_decision_graph",
    "bytes_per_param",
    "compare_plans",
    "content_digest",
    "dump_goal",
    "estimate_serve",
    "estimate_train",
    "evaluate_formula",
    "explain_plan",
    "export_graph",
    "goal_json_schema",
    "load_goal",
    "load_plan_file",
    "parse_goal",
    "parse_goal_yaml",
    "plan_goal",
    "printable",
    "rank_plans",
    "resolve_data_path",
    "save_plan_file",
    "summary_row",
    "unwrap_annotation",
]
