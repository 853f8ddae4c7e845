"""The goal: what the user wants adapted, how it is used, and what it may cost.

A goal is a YAML file (see ``examples/goals/``) read by :func:`load_goal` into a frozen
:class:`GoalSpec`. Every problem in it is reported at once as a :class:`GoalSpecError`, each with
its field path and a "To fix: …" sentence. Sections that may be omitted, and their defaults:

``data``         no training examples (prompting / RAG only); 3 epochs, 10 % held out
``latency``      no latency requirement
``budget``       no spending cap
``privacy``      ``data_can_leave: false`` (no third-party hosted API sees the data), any cloud,
                 any region
``models``       every model in the catalog
``preferences``  ``objective: balanced``, ``spot: allowed``
``quality``      the task type's benchmark and its default floor (README "Quality")

Nothing is read or computed at import time.

Numbers are what JSON Schema calls them: a whole-number field takes ``3000`` or ``3000.0`` (or
YAML's ``3e3``), never ``3000.5``, ``true`` or ``"3000"``. :func:`goal_json_schema` states the
cross-field rules JSON Schema can (``if``/``then``, ``minItems``, ``uniqueItems``); the two it
cannot (a peak rate at least the month's average; model ids unique ignoring case) are said in
their fields' descriptions.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic.config import JsonDict

from planner.errors import GoalSpecError, Problem
from planner.estimators.training_setup import LM_HEAD, LORA_TARGETS, lora_target_names
from planner.goal_file import MAX_GOAL_BYTES, read_goal_text
from planner.goal_yaml import dump_goal_yaml
from planner.problems import conflict, parse_goal_yaml, problems_from_validation, round_up
from planner.types import SECONDS_PER_MONTH, AttentionImpl, Method, Precision, Sharding

__all__ = [
    "DEFAULT_MIN_REPLICAS",
    "MAX_GOAL_BYTES",
    "AvailabilitySpec",
    "BudgetSpec",
    "DataFormat",
    "DataSpec",
    "GoalSpec",
    "LatencySpec",
    "ModelsSpec",
    "Objective",
    "PreferencesSpec",
    "PrivacySpec",
    "QualitySpec",
    "SpotPolicy",
    "TaskSpec",
    "TaskType",
    "TrafficSpec",
    "dump_goal",
    "goal_json_schema",
    "load_goal",
    "parse_goal",
]

_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_MAX = 10**15  # far above any real figure; keeps every product of goal numbers a finite float


def _integral(value: object) -> object:
    """A float with no fraction (3000.0, YAML's 3e3) as the int it is; JSON Schema's
    ``integer`` accepts it too. Bounds (at most _MAX, below 2**53) keep it exact."""
    return int(value) if type(value) is float and value.is_integer() else value


_Integral = BeforeValidator(_integral)
_Count = Annotated[int, Strict(), Field(ge=0, le=_MAX), _Integral]
_PositiveCount = Annotated[int, Strict(), Field(gt=0, le=_MAX), _Integral]
_Amount = Annotated[float, Strict(), Field(ge=0, le=_MAX, allow_inf_nan=False)]
_PositiveAmount = Annotated[float, Strict(), Field(gt=0, le=_MAX, allow_inf_nan=False)]
_Flag = Annotated[bool, Strict()]
_Text = Annotated[str, Strict(), Field(min_length=1, max_length=200, pattern=r"^\S+$")]
_CloudName = Annotated[str, Strict(), Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]
_RegionGlob = Annotated[str, Strict(), Field(pattern=r"^[A-Za-z0-9*?\[\]!_.-]+$", max_length=80)]

# --- cross-field rules: each runs in its model's validator and raises a `conflict` -------------


def _check_task(task: TaskSpec) -> None:
    """Fresh knowledge is served by retrieval, which needs documents to retrieve from."""
    if task.needs_fresh_knowledge and task.knowledge_base_tokens == 0:
        raise conflict(
            "is 0, but needs_fresh_knowledge is true and RAG needs documents to retrieve from",
            fix="set `task.knowledge_base_tokens` to the size of those documents (about 250,000 "
            "tokens per MB of English text), or set `task.needs_fresh_knowledge: false`",
            field="knowledge_base_tokens",
        )


def _when(field: str, schema: JsonDict) -> JsonDict:
    """JSON Schema: ``field`` is given and matches ``schema``."""
    return {"properties": {field: schema}, "required": [field]}


_TASK_RULE: JsonDict = {  # _check_task, as JSON Schema states it
    "if": _when("needs_fresh_knowledge", {"const": True}),
    "then": _when("knowledge_base_tokens", {"minimum": 1}),
}


def _check_data(data: DataSpec) -> None:
    """Training time and cost scale with example length, so it must be given with examples."""
    if data.train_examples > 0 and data.avg_example_tokens is None:
        raise conflict(
            f"is missing, but data.train_examples is {data.train_examples:,} and training time "
            "and cost scale with the length of each example",
            fix="add `avg_example_tokens:` under `data:` (prompt plus response, in tokens; about "
            "4 characters of English per token), e.g. 600",
            field="avg_example_tokens",
        )


_DATA_RULE: JsonDict = {  # _check_data, as JSON Schema states it
    "if": _when("train_examples", {"exclusiveMinimum": 0}),
    "then": _when("avg_example_tokens", {"type": "integer"}),
}


def _check_lengths(traffic: TrafficSpec) -> None:
    """average ≤ p95 ≤ max, for prompts and outputs (where stated)."""
    for kind in ("input", "output"):
        average = getattr(traffic, f"avg_{kind}_tokens")
        p95, longest = (
            getattr(traffic, f"p95_{kind}_tokens"),
            getattr(traffic, f"max_{kind}_tokens"),
        )
        if p95 is not None and p95 < average:
            raise conflict(
                f"is {p95:,}, below avg_{kind}_tokens ({average:,}); a 95th percentile cannot "
                "be lower than the average of a length distribution",
                fix=f"raise `traffic.p95_{kind}_tokens` to at least {average:,}, or delete it "
                f"(default {LENGTH_P95_FACTOR} × the average)",
                field=f"p95_{kind}_tokens",
            )
        low = max(p95 or 0, average)
        if longest is not None and longest < low:
            raise conflict(
                f"is {longest:,}, below the {'p95' if p95 and p95 >= average else 'average'} "
                f"{kind} length ({low:,})",
                fix=f"raise `traffic.max_{kind}_tokens` to at least {low:,}, or delete it "
                f"(default {LENGTH_MAX_FACTOR} × the average)",
                field=f"max_{kind}_tokens",
            )


def _check_traffic(traffic: TrafficSpec) -> None:
    """A peak rate below the month's average rate is impossible; lengths are ordered."""
    _check_lengths(traffic)
    average = traffic.average_requests_per_s
    if traffic.requests_per_month == 0:
        if traffic.peak_requests_per_s is not None:
            raise conflict(
                "is set, but traffic.requests_per_month is 0: a batch-only goal serves no "
                "online requests",
                fix="delete `traffic.peak_requests_per_s`, or give `traffic.requests_per_month` "
                "the online requests a month",
                field="peak_requests_per_s",
            )
        return
    if traffic.peak_requests_per_s is None:
        raise conflict(
            f"is missing, but traffic.requests_per_month is {traffic.requests_per_month:,}: "
            "replicas are sized for the peak",
            fix=f"add `traffic.peak_requests_per_s` (busy hours commonly run 2-5x the average "
            f"of {round_up(average)} requests/s, e.g. {round_up(3 * average)}), or set "
            "`traffic.requests_per_month: 0` and a `batch` section for offline jobs only",
            field="peak_requests_per_s",
        )
    if traffic.peak_requests_per_s < average:
        most = math.floor(traffic.peak_requests_per_s * traffic.requests_per_month / average)
        raise conflict(
            f"is {traffic.peak_requests_per_s:g} requests/s, below the average of "
            f"{round_up(average)} requests/s that {traffic.requests_per_month:,} requests per "
            "730-hour month imply; a peak cannot be lower than the average",
            fix=f"raise `traffic.peak_requests_per_s` to at least {round_up(average)} (busy "
            "hours "
            f"commonly run 2-5x the average, e.g. {round_up(3 * average)}), or lower "
            f"`traffic.requests_per_month` to at most {most:,}",
            field="peak_requests_per_s",
        )


def _check_not_empty(items: tuple[str, ...]) -> tuple[str, ...]:
    """An empty allow-list would allow nothing; leaving the field out allows everything."""
    if not items:
        raise conflict(
            "is an empty list, which would allow nothing",
            fix="list at least one entry, or delete the line to allow any",
        )
    return items


def _check_models(models: ModelsSpec) -> None:
    """Each candidate is listed once (ids match ignoring case, as the catalog does)."""
    seen: set[str] = set()
    for name in models.candidates:
        if name.lower() in seen:
            raise conflict(
                f"lists {name!r} more than once",
                fix=f"list `{name}` once in `models.candidates`",
                field="candidates",
            )
        seen.add(name.lower())


def _check_goal(goal: GoalSpec) -> None:
    """Custom behavior is taught by fine-tuning, which needs examples (50 at least: seed 001 §4).
    A batch section goes with ``requests_per_month: 0`` (and no latency targets); 0 needs one."""
    _check_batch(goal)
    if goal.task.needs_custom_behavior and goal.data.train_examples == 0:
        raise conflict(
            "is 0, but task.needs_custom_behavior is true: fine-tuning needs examples",
            fix="set `data.train_examples` and `data.avg_example_tokens` to your labelled set "
            "(50 at the very least; hundreds to thousands make a difference), or set "
            "`task.needs_custom_behavior: false` to plan prompting and RAG only",
            field="data.train_examples",
        )


def _check_batch(goal: GoalSpec) -> None:
    online = goal.traffic.requests_per_month > 0
    if not online and goal.batch is None:
        raise conflict(
            "is 0 and the goal has no batch section: nothing would ever run",
            fix="add a `batch` section (tokens: prompt + output tokens of one job, "
            "jobs_per_month, optionally deadline_hours) for offline jobs, or give "
            "`traffic.requests_per_month` the online requests a month",
            field="traffic.requests_per_month",
        )
    if online and goal.batch is not None:
        raise conflict(
            f"is set, but traffic.requests_per_month is {goal.traffic.requests_per_month:,}: "
            "tailor plans an online service or offline batch jobs, not both in one goal",
            fix="set `traffic.requests_per_month: 0` for batch jobs only, or delete the batch "
            "section and plan the batch work as a second goal",
            field="batch",
        )
    lat = goal.latency
    if not online and (
        lat.p95_time_to_first_token_ms is not None or lat.min_output_tokens_per_s is not None
    ):
        raise conflict(
            "sets online latency targets, but traffic.requests_per_month is 0: a batch job's "
            "results arrive when it ends",
            fix="delete the latency section and bound the job with `batch.deadline_hours`",
            field="latency",
        )


_GOAL_RULE: JsonDict = {  # _check_goal, as JSON Schema states it
    "allOf": [
        {
            "if": _when("task", _when("needs_custom_behavior", {"const": True})),
            "then": _when("data", _when("train_examples", {"minimum": 1})),
        },
        {  # _check_batch and _check_traffic's batch-only rules
            "if": _when("traffic", _when("requests_per_month", {"const": 0})),
            "then": {
                "required": ["batch"],
                "properties": {
                    "batch": {"type": "object"},
                    "traffic": {"properties": {"peak_requests_per_s": {"type": "null"}}},
                    "latency": {
                        "properties": {
                            "p95_time_to_first_token_ms": {"type": "null"},
                            "min_output_tokens_per_s": {"type": "null"},
                        }
                    },
                },
            },
            "else": {
                "properties": {
                    "batch": {"type": "null"},
                    "traffic": {
                        "required": ["peak_requests_per_s"],
                        "properties": {"peak_requests_per_s": {"type": "number"}},
                    },
                }
            },
        },
    ]
}


_NonEmpty = AfterValidator(_check_not_empty)  # after the items, unlike min_length
_NonEmptySchema = Field(json_schema_extra={"minItems": 1})  # _check_not_empty in JSON Schema


class TaskType(StrEnum):
    """What the adapted model is asked to do."""

    CHAT = "chat"
    CLASSIFICATION = "classification"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    QA = "qa"
    CODE = "code"


class DataFormat(StrEnum):
    """Layout of the training examples."""

    # The three layouts of seed 001 (Data Dynamics, "LLM Fine-Tuning Complete Guide"), §4.

    CHAT = "chat"  # {"messages": [{"role": ..., "content": ...}, ...]}
    INSTRUCTION = "instruction"  # {"instruction": ..., "input": ..., "output": ...}
    COMPLETION = "completion"  # {"prompt": ..., "completion": ...}


class Objective(StrEnum):
    """What the ranking favours among plans that meet every constraint."""

    COST = "cost"
    LATENCY = "latency"
    QUALITY = "quality"
    BALANCED = "balanced"


class SpotPolicy(StrEnum):
    """Whether plans may use spot / preemptible instances."""

    ALLOWED = "allowed"
    REQUIRED = "required"
    NEVER = "never"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskSpec(_Section):
    """The job, and which adaptation it calls for."""

    model_config = ConfigDict(json_schema_extra=_TASK_RULE)

    # The two flags are the first two questions of seed 001's decision framework (§7): fresh
    # facts → RAG; behavior prompting cannot pin down → fine-tuning.

    type: TaskType = Field(description="Kind of task.", examples=["chat"])
    needs_fresh_knowledge: _Flag = Field(
        default=False,
        description="Answers depend on facts that change after training, which calls for RAG.",
    )
    needs_custom_behavior: _Flag = Field(
        default=False,
        description="A format, tone or domain reasoning that prompting cannot pin down, which "
        "calls for fine-tuning.",
    )
    knowledge_base_tokens: _Count = Field(
        default=0,
        description="Size of the documents answers are retrieved from, in tokens (about 4 "
        "characters of English per token); 0: no retrieval.",
        examples=[50_000_000],
    )

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        _check_task(self)
        return self


class DataSpec(_Section):
    """The training examples, if any; training time is computed from their size × epochs."""

    model_config = ConfigDict(json_schema_extra=_DATA_RULE)

    train_examples: _Count = Field(
        default=0,
        description="Labelled examples available for fine-tuning, validation split included.",
        examples=[5000],
    )
    avg_example_tokens: _PositiveCount | None = Field(
        default=None,
        description="Average length of one example (prompt and response), in tokens; required "
        "when train_examples > 0.",
        examples=[600],
    )
    format: DataFormat = Field(default=DataFormat.CHAT, description="Layout of each example.")
    path: Annotated[str, Strict(), Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="JSONL file of the examples, relative to the goal file's folder; optional.",
        examples=["data/train.jsonl"],
    )
    epochs: _PositiveCount = Field(
        default=3, description="Passes over the training split (typically 1–5).", examples=[3]
    )
    validation_fraction: Annotated[float, Strict(), Field(ge=0, le=0.5)] = Field(
        default=0.1,
        description="Share of train_examples held out for evaluation, 0 to 0.5 (10–20 % is "
        "usual); not trained on.",
        examples=[0.1],
    )

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        _check_data(self)
        return self

    @property
    def validation_examples(self) -> int:
        """Examples held out: ``floor(train_examples × validation_fraction)``."""
        return math.floor(self.train_examples * self.validation_fraction)

    @property
    def training_examples(self) -> int:
        """Examples trained on: the rest of ``train_examples``."""
        return self.train_examples - self.validation_examples

    @property
    def training_tokens(self) -> int:
        """Tokens processed by the whole training run: examples × tokens each × epochs."""
        return self.training_examples * (self.avg_example_tokens or 0) * self.epochs


class TrafficSpec(_Section):
    """How the adapted model is used once it serves."""

    requests_per_month: _Count = Field(
        description="Requests served online in a month (730 hours). 0: no online service, the "
        "model only runs offline batch jobs (the batch section).",
        examples=[1_000_000],
    )
    peak_requests_per_s: _PositiveAmount | None = Field(
        default=None,
        description="Highest sustained request rate the service must absorb, requests/s; at "
        "least the month's average, requests_per_month / 2,628,000 (the seconds in 730 hours; "
        "not checked by the JSON Schema, which compares no two fields). Required when "
        "requests_per_month is above 0; left out for a batch-only goal.",
        examples=[5],
    )
    avg_input_tokens: _PositiveCount = Field(
        description="Average prompt length per request in tokens, counting the system prompt, "
        "few-shot examples and retrieved passages.",
        examples=[500],
    )
    avg_output_tokens: _PositiveCount = Field(
        description="Average generated length per request, in tokens.", examples=[500]
    )
    p95_input_tokens: _PositiveCount | None = Field(
        default=None,
        description="95th percentile of the prompt length, tokens; sizes the prefill queue and "
        "the KV cache. None: LENGTH_P95_FACTOR × avg_input_tokens (a labelled assumption). At "
        "least avg_input_tokens (not checked by the JSON Schema, which compares no two "
        "fields).",
        examples=[1500],
    )
    max_input_tokens: _PositiveCount | None = Field(
        default=None,
        description="Longest prompt the service must accept, tokens; with max_output_tokens "
        "it sets vLLM's --max-model-len (longer requests are rejected). None: "
        "LENGTH_MAX_FACTOR × avg_input_tokens (a labelled assumption). At least "
        "avg_input_tokens and p95_input_tokens (not checked by the JSON Schema, which compares "
        "no two fields).",
        examples=[4000],
    )
    p95_output_tokens: _PositiveCount | None = Field(
        default=None,
        description="95th percentile of the generated length, tokens. None: "
        "LENGTH_P95_FACTOR × avg_output_tokens. At least avg_output_tokens (not checked by the "
        "JSON Schema, which compares no two fields).",
        examples=[1000],
    )
    max_output_tokens: _PositiveCount | None = Field(
        default=None,
        description="Longest completion (the max_tokens the service allows), tokens. None: "
        "LENGTH_MAX_FACTOR × avg_output_tokens. At least avg_output_tokens and "
        "p95_output_tokens (not checked by the JSON Schema, which compares no two fields).",
        examples=[2000],
    )
    user_regions: Annotated[tuple[_RegionGlob, ...], _NonEmpty, _NonEmptySchema] | None = Field(
        default=None,
        description="Where the service's users are: continent-level areas (na, sa, eu, me, af, "
        "apac, oceania) or ISO country codes (US, DE, JP), globs allowed. Serving offers near "
        "them are preferred and the network round trip to the farthest listed place is added "
        "to the p95 TTFT. None: users are assumed next to the serving region (no round trip "
        "added).",
        examples=[["eu", "US"]],
    )
    avg_reasoning_tokens: _Count | None = Field(
        default=None,
        description="Hidden reasoning tokens a reasoning model (o4-mini, GPT-5, ...) spends per "
        "request before it answers; billed as output and delaying the first token. None: "
        "tailor's assumption (planner.hosted.REASONING_TOKENS_PER_REQUEST).",
        examples=[1000],
    )

    @model_validator(mode="after")
    def _check(self) -> TrafficSpec:
        _check_traffic(self)
        return self

    @property
    def peak_rate(self) -> float:
        """``peak_requests_per_s`` of an online goal, requests/s (the parser requires it when
        requests_per_month is above 0); ValueError for a batch-only goal."""
        if self.peak_requests_per_s is None:
            raise ValueError("a batch-only goal (requests_per_month 0) has no peak rate")
        return self.peak_requests_per_s

    @property
    def average_requests_per_s(self) -> float:
        """``requests_per_month`` spread evenly over 30 days, requests/s."""
        return self.requests_per_month / SECONDS_PER_MONTH

    @property
    def input_tokens_p95(self) -> int:
        """p95 prompt tokens: stated, else LENGTH_P95_FACTOR × average (≤ the max)."""
        return _p95(self.p95_input_tokens, self.avg_input_tokens, self.max_input_tokens)

    @property
    def input_tokens_max(self) -> int:
        """Longest prompt: stated, else LENGTH_MAX_FACTOR × average (≥ the p95)."""
        return _max(self.max_input_tokens, self.avg_input_tokens, self.p95_input_tokens)

    @property
    def output_tokens_p95(self) -> int:
        """p95 output tokens: stated, else LENGTH_P95_FACTOR × average (≤ the max)."""
        return _p95(self.p95_output_tokens, self.avg_output_tokens, self.max_output_tokens)

    @property
    def output_tokens_max(self) -> int:
        """Longest output: stated, else LENGTH_MAX_FACTOR × average (≥ the p95)."""
        return _max(self.max_output_tokens, self.avg_output_tokens, self.p95_output_tokens)


LENGTH_P95_FACTOR = 2
"""Assumption: p95 length = 2 × the average when the goal does not say. A lognormal with this
ratio has σ ≈ 0.50; its 99.9th percentile is ≈ 4.1 × the mean, hence LENGTH_MAX_FACTOR."""
LENGTH_MAX_FACTOR = 4
"""Assumption: longest request = 4 × the average (≈ the p99.9 of that lognormal)."""


def _p95(stated: int | None, average: int, longest: int | None) -> int:
    if stated is not None:
        return stated
    default = LENGTH_P95_FACTOR * average
    return min(default, longest) if longest is not None else default


def _max(stated: int | None, average: int, p95: int | None) -> int:
    if stated is not None:
        return stated
    return max(LENGTH_MAX_FACTOR * average, p95 or 0)


class LatencySpec(_Section):
    """Serving latency requirements; omitted fields (or section) mean no requirement."""

    p95_time_to_first_token_ms: _PositiveAmount | None = Field(
        default=None,
        description="95th-percentile time from request to first token, ms; none: no limit.",
        examples=[1000],
    )
    min_output_tokens_per_s: _PositiveAmount | None = Field(
        default=None,
        description="Slowest acceptable generation speed of one stream, tokens/s; none: no limit.",
        examples=[20],
    )


DEFAULT_MIN_REPLICAS = 1
"""Stated default: one replica always up (SkyServe's own default, sky/serve/constants.py
DEFAULT_MIN_REPLICAS). Production services usually want 2 or more, in different zones."""


class AvailabilitySpec(_Section):
    """How many replicas stay up and how the service scales with its traffic."""

    min_replicas: _Count | None = Field(
        default=None,
        description="Replicas that always run (SkyServe min_replicas); 2 or more keeps the "
        "service up through one replica's failure. 0 allows scale-to-zero: a replica starts "
        "when a request arrives and stops after 20 minutes without one, and the requests that "
        "find none wait a cold start (counted in the p95 TTFT). None: DEFAULT_MIN_REPLICAS "
        "(1), and for sparse traffic tailor also tries scale-to-zero.",
        examples=[2],
    )
    max_replicas: _PositiveCount | None = Field(
        default=None,
        description="Most replicas the autoscaler may run (SkyServe max_replicas). At least "
        "min_replicas (not checked by the JSON Schema, which compares no two fields). None: "
        "what the peak hour of the traffic profile needs.",
        examples=[8],
    )
    hourly_profile: Annotated[tuple[_Amount, ...], Field(min_length=24, max_length=24)] | None = (
        Field(
            default=None,
            description="Relative traffic in each hour of the day, 24 non-negative numbers (any "
            "scale; hour 0 first, the users' time), at least one of them positive (not checked "
            "by the JSON Schema, which compares no two fields). None: a raised-cosine day whose "
            "busiest hour "
            "runs at traffic.peak_requests_per_s (a labelled assumption, planner.estimators."
            "autoscale).",
        )
    )

    @model_validator(mode="after")
    def _check(self) -> AvailabilitySpec:
        low, high = self.min_replicas, self.max_replicas
        if low is not None and high is not None and high < low:
            raise conflict(
                f"is {high}, below availability.min_replicas ({low})",
                fix=f"raise `availability.max_replicas` to at least {low}, or delete it",
                field="max_replicas",
            )
        if self.hourly_profile is not None and not any(self.hourly_profile):
            raise conflict(
                "is all zeros: no hour has traffic",
                fix="give the busy hours a positive weight, or delete the line",
                field="hourly_profile",
            )
        return self


class BatchSpec(_Section):
    """Offline jobs: a file of prompts run through the model, results written back."""

    tokens: _PositiveCount = Field(
        description="Prompt + output tokens of one job (traffic.avg_input_tokens and "
        "avg_output_tokens give its split and its requests).",
        examples=[50_000_000],
    )
    jobs_per_month: _PositiveAmount = Field(
        default=1.0,
        description="Jobs run in a month (730 hours); 4.3 is weekly, 30.4 daily.",
        examples=[4.3],
    )
    deadline_hours: _PositiveAmount | None = Field(
        default=None,
        description="Longest a job may take from launch to its last result, hours; more "
        "instances run in parallel to meet it. None: one instance, however long it takes.",
        examples=[8],
    )

    def requests(self, avg_input_tokens: int, avg_output_tokens: int) -> float:
        """Requests in one job: its tokens over the average request's."""
        return self.tokens / (avg_input_tokens + avg_output_tokens)


class BudgetSpec(_Section):
    """Spending caps; omitted fields (or section) mean no cap."""

    training_usd: _Amount | None = Field(
        default=None,
        description="Most to spend on one training run, USD; 0 rules out fine-tuning; none: no "
        "cap.",
        examples=[500],
    )
    monthly_usd: _PositiveAmount | None = Field(
        default=None,
        description="Most to spend on serving (or batch jobs) per 30-day month, USD; none: no cap.",
        examples=[3000],
    )


class PrivacySpec(_Section):
    """Where the data may go."""

    data_can_leave: _Flag = Field(
        default=False,
        description="True lets third-party hosted APIs (OpenAI, Anthropic, ...) see prompts and "
        "training data; false (default) keeps everything on machines the plan rents, from "
        "hyperscalers and specialist clouds only (see allow_marketplace).",
    )
    allow_marketplace: _Flag = Field(
        default=False,
        description="With data_can_leave false, also rent community-marketplace hosts (vast: "
        "machines owned and run by individuals, catalog tier 'marketplace'). False (default): "
        "private data stays off them. Ignored when data_can_leave is true (they are allowed).",
    )
    allowed_clouds: Annotated[tuple[_CloudName, ...], _NonEmpty, _NonEmptySchema] | None = Field(
        default=None,
        description="Clouds the plan may rent from, lower case as SkyPilot spells them (aws, "
        "gcp, azure, lambda, runpod, vast, ...); none: any cloud.",
        examples=[["aws", "gcp"]],
    )
    allowed_regions: Annotated[tuple[_RegionGlob, ...], _NonEmpty, _NonEmptySchema] | None = Field(
        default=None,
        description="Region name globs the plan may use (`*` any characters); none: any region.",
        examples=[["us-*", "eu-*"]],
    )


class ModelsSpec(_Section):
    """Which models the planner may consider."""

    candidates: tuple[_Text, ...] = Field(
        default=(),
        description="Catalog model ids (`tailor catalog models`) and hosted API ids (`tailor "
        "catalog api`) to restrict the search to, each once ignoring case (exact repeats are "
        "refused by the JSON Schema; repeats in another case are not checked by the JSON "
        "Schema); empty: every model in the catalog.",
        json_schema_extra={"uniqueItems": True},
        examples=[["llama-3.1-8b", "openai/gpt-4o-mini"]],
    )
    methods: tuple[Method, ...] = Field(
        default=(),
        description="Fine-tuning methods to consider (full, lora, qlora); empty: all three.",
        examples=[["lora", "qlora"]],
    )

    @model_validator(mode="after")
    def _check(self) -> ModelsSpec:
        _check_models(self)
        return self


_BenchmarkId = Annotated[str, Strict(), Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,39}$")]


class QualitySpec(_Section):
    """What good enough means: the benchmark plans are judged on and the floor they must reach;
    omitted (or section omitted): the task type's benchmark and default floor."""

    benchmark: _BenchmarkId | None = Field(
        default=None,
        description="Benchmark id (`tailor catalog benchmarks`): ifeval, mmlu-pro, humaneval, "
        "...; none: the one the catalog maps task.type to.",
        examples=["ifeval"],
    )
    min_score: _Amount | None = Field(
        default=None,
        description="Floor on the pessimistic end of each plan's expected score, on the "
        "benchmark's own scale; 0: no floor at all (plans with no published score are shown "
        "too); none: the task type's default floor, unless at_least_as_good_as is given.",
        examples=[75],
    )
    at_least_as_good_as: _Text | None = Field(
        default=None,
        description="A catalog or hosted API model whose published score on the benchmark is "
        "the floor (the higher of this and min_score applies).",
        examples=["openai/gpt-4o-mini"],
    )


_MODULE = "(" + "|".join((*LORA_TARGETS, LM_HEAD)) + ")"
_LoraTargets = Annotated[
    str,
    Strict(),
    Field(pattern=rf"^(all-linear|attention|{_MODULE}(,{_MODULE})*)$", max_length=200),
]


class TrainingPreferences(_Section):
    """The recipe's knobs a team may fix; each left out is chosen by the planner (and the
    plan says why)."""

    lora_targets: _LoraTargets = Field(
        default="all-linear",
        description="Matrices LoRA / QLoRA adapt: all-linear (q/k/v/o and the MLP), attention "
        "(q/k/v/o), or a comma list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
        "down_proj, lm_head.",
        examples=["attention", "q_proj,v_proj"],
    )
    precision: Precision | None = Field(
        default=None,
        description="bf16-mixed, bf16-pure or fp16-mixed; none: bf16-mixed where the GPU has "
        "bf16, else fp16-mixed (GPUs without bf16 are left out for a bf16 precision).",
    )
    sharding: Sharding | None = Field(
        default=None,
        description="Multi-GPU runs: ddp, fsdp, fsdp-hybrid or zero3; none: fsdp.",
    )
    packing: bool = Field(
        default=True,
        description="Pack examples into full sequences (trl bfd, padding-free); false: pad "
        "each micro-batch to its longest example.",
    )
    attention: AttentionImpl = Field(
        default=AttentionImpl.SDPA,
        description="Attention kernel: sdpa (torch), flash (the flash-attn package) or eager.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainingPreferences:
        try:
            lora_target_names(self.lora_targets)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


class PreferencesSpec(_Section):
    """How to choose among plans that meet every constraint."""

    objective: Objective = Field(default=Objective.BALANCED, description="What ranking favours.")
    spot: SpotPolicy = Field(
        default=SpotPolicy.ALLOWED,
        description="Spot / preemptible instances: allowed, required or never.",
    )
    gpus: tuple[_Text, ...] = Field(
        default=(),
        description="GPU SKUs that may be rented (`tailor catalog gpus`), for training and "
        "serving; empty: any.",
        examples=[["H100", "A100-80GB"]],
    )
    training: TrainingPreferences = Field(
        default_factory=TrainingPreferences,
        description="Fine-tuning recipe knobs (LoRA targets, precision, sharding, packing, "
        "attention); each left out is the planner's choice.",
    )


class GoalSpec(_Section):
    """A complete, validated goal; the planner's only input besides the catalog."""

    model_config = ConfigDict(json_schema_extra=_GOAL_RULE)

    name: Annotated[
        str, Strict(), Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ] = Field(
        description="Short id used in plan files and cluster names: letters, digits, '.', '_', "
        "'-'.",
        examples=["support-assistant"],
    )
    task: TaskSpec = Field(description="The job and the adaptation it calls for.")
    data: DataSpec = Field(default_factory=DataSpec, description="Training examples, if any.")
    traffic: TrafficSpec = Field(description="Serving load once deployed.")
    latency: LatencySpec = Field(default_factory=LatencySpec, description="Latency limits.")
    availability: AvailabilitySpec = Field(
        default_factory=AvailabilitySpec,
        description="Replicas always up, the autoscaling range and the daily traffic shape.",
    )
    batch: BatchSpec | None = Field(
        default=None,
        description="Offline batch jobs, with traffic.requests_per_month 0; None: an online "
        "service.",
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec, description="Spending caps.")
    privacy: PrivacySpec = Field(default_factory=PrivacySpec, description="Where data may go.")
    models: ModelsSpec = Field(default_factory=ModelsSpec, description="Models to consider.")
    preferences: PreferencesSpec = Field(
        default_factory=PreferencesSpec, description="Ranking objective and spot policy."
    )
    quality: QualitySpec = Field(
        default_factory=QualitySpec, description="The benchmark and the floor on it."
    )

    @model_validator(mode="after")
    def _check(self) -> GoalSpec:
        _check_goal(self)
        return self

    @property
    def monthly_requests(self) -> float:
        """Requests the model answers in a month: online, or the batch jobs' requests."""
        t = self.traffic
        if self.batch is None:
            return float(t.requests_per_month)
        per_job = self.batch.requests(t.avg_input_tokens, t.avg_output_tokens)
        return per_job * self.batch.jobs_per_month


def parse_goal(data: dict[str, Any], source: str = "<goal>") -> GoalSpec:
    """Validate a goal given as a mapping (parsed YAML or JSON); ``source`` names it in errors."""
    return _validate(data, source=source, text=None)


def load_goal(path: Path) -> GoalSpec:
    """Read and validate a goal YAML file; every problem is reported in one GoalSpecError.

    The path must be a regular file of at most MAX_GOAL_BYTES (see :mod:`planner.goal_file`);
    YAML is read with YAML 1.2 core scalars (see :mod:`planner.problems`)."""
    path = Path(path)
    text = read_goal_text(path)
    data = parse_goal_yaml(text, source=str(path))
    return _validate(data, source=str(path), text=text)


def goal_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a goal file, for editors and documentation: every field,
    and the cross-field rules JSON Schema can state; the others are in their fields'
    descriptions, and only the parser checks them."""
    return {"$schema": _DRAFT_2020_12, **GoalSpec.model_json_schema()}


def dump_goal(goal: GoalSpec) -> str:
    """The goal as YAML with every default spelled out; :func:`load_goal` reads it back equal."""
    return dump_goal_yaml(goal.model_dump(mode="json"))


def _validate(data: object, *, source: str, text: str | None) -> GoalSpec:
    if not isinstance(data, dict):
        what = "is empty" if data is None else f"is a {type(data).__name__}, not a mapping"
        problem = Problem(
            field="",
            message=f"the goal {what}",
            fix="write the goal as a mapping of sections (name:, task:, traffic:, ...); "
            "start from a file in examples/goals/",
            line=1 if text is not None else None,
        )
        raise GoalSpecError([problem], source=source)
    try:
        return GoalSpec.model_validate(data)
    except ValidationError as error:
        problems = problems_from_validation(error, GoalSpec, text=text)
        omitted = error.error_count() - len(problems)
        raise GoalSpecError(problems, source=source, omitted=omitted) from None
