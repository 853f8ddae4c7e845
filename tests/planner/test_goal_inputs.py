"""Goal files under hostile input (issue #10, points 9 and 10).

9: a file that is no regular file (FIFO, /dev/zero, a folder) or is larger than MAX_GOAL_BYTES is
refused before it is read; a goal with thousands of problems lists the first MAX_PROBLEMS and
says how many more there are.
10: `tailor schema` states the cross-field rules JSON Schema can express and documents the rest,
so every goal the schema accepts parses unless it breaks one of the documented rules; integers
are what JSON Schema calls integers (3000.0 is 3000); goal YAML is read with YAML 1.2 core
scalars (010 is 10, 1:30 and yes are text).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from planner.errors import MAX_PROBLEMS, GoalSpecError
from planner.problems import parse_goal_yaml
from planner.spec import MAX_GOAL_BYTES, dump_goal, goal_json_schema, load_goal, parse_goal
from tests.conftest import REPO_ROOT
from tests.planner.schema_strategy import schema_valid

EXAMPLE = REPO_ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"
LOAD = "import sys; from pathlib import Path; from planner.spec import load_goal\n"
LOAD += "from planner.errors import GoalSpecError\n"
LOAD += "try:\n    load_goal(Path(sys.argv[1]))\nexcept GoalSpecError as error:\n    print(error)"


def _limit_memory() -> None:  # reading /dev/zero for ever must end in MemoryError, not swap
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _load_elsewhere(path: Path) -> str:
    """load_goal(path)'s error in a fresh process (a blocking read must not hang the tests)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", LOAD, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO_ROOT,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_goal({path}) was still reading after 30 s")
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]
    return done.stdout.strip()


# --------------------------------------------------------------- 9: files that are no goal


def test_a_fifo_is_refused_before_it_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "goal.yaml"
    os.mkfifo(fifo)
    message = _load_elsewhere(fifo)
    assert "is not a regular file (it is a FIFO" in message
    assert message.endswith(".") and "To fix: " in message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_dev_zero_is_refused_before_it_is_read() -> None:
    message = _load_elsewhere(Path("/dev/zero"))
    assert "is not a regular file (it is a character device" in message
    assert "To fix: " in message


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GoalSpecError, match="is a folder, not a goal file") as caught:
        load_goal(tmp_path)
    assert "To fix: pass the path of a .yaml file inside it" in str(caught.value)


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    goal = tmp_path / "goal.yaml"
    padding = "# padding\n" * (MAX_GOAL_BYTES // 10)  # a valid goal, made large by comments
    goal.write_text(padding + EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert goal.stat().st_size > MAX_GOAL_BYTES
    with pytest.raises(GoalSpecError) as caught:
        load_goal(goal)
    message = str(caught.value)
    size = f"{goal.stat().st_size:,} bytes"
    assert f"is {size}, more than a goal file may be (1 MiB)" in message, message
    assert "To fix: " in message


def test_a_file_at_the_size_cap_is_read(tmp_path: Path) -> None:
    goal = tmp_path / "goal.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    text += "#" * (MAX_GOAL_BYTES - len(text.encode()) - 1) + "\n"
    goal.write_text(text, encoding="utf-8")
    assert goal.stat().st_size == MAX_GOAL_BYTES
    assert load_goal(goal).name == "api-vs-self-hosted-1m"


# --------------------------------------------------------- 9: thousands of problems at once


def _with_unknown_keys(count: int) -> str:
    return EXAMPLE.read_text(encoding="utf-8") + "".join(f"k{i}: 0\n" for i in range(count))


def test_many_problems_list_the_first_ones_and_count_the_rest(tmp_path: Path) -> None:
    goal = tmp_path / "goal.yaml"
    text = _with_unknown_keys(3000)
    goal.write_text(text, encoding="utf-8")
    with pytest.raises(GoalSpecError) as caught:
        load_goal(goal)
    error = caught.value
    assert len(error.problems) == MAX_PROBLEMS
    assert error.more == 3000 - MAX_PROBLEMS
    first_line = text.splitlines().index("k0: 0") + 1
    assert error.problems[0].line == first_line and error.problems[0].field == "k0"
    paragraphs = str(error).split("\n\n")
    assert len(paragraphs) == MAX_PROBLEMS + 1
    assert paragraphs[-1] == (
        f"{goal}: … and 2,980 more problems, not listed. To fix: correct the "
        f"{MAX_PROBLEMS} above and run again to see the next ones."
    )


def test_a_few_problems_are_all_listed() -> None:
    data = yaml.safe_load(_with_unknown_keys(MAX_PROBLEMS))
    with pytest.raises(GoalSpecError) as caught:
        parse_goal(data)
    assert len(caught.value.problems) == MAX_PROBLEMS and caught.value.more == 0
    assert "more problems" not in str(caught.value)


# ------------------------------------------------------------------ 10: YAML 1.2 scalars

YAML_12 = [
    # (scalar as written, value YAML 1.2's core schema gives; YAML 1.1 differs on most)
    ("010", 10),
    ("0o17", 15),
    ("0x1A", 26),
    ("-12", -12),
    ("+7", 7),
    ("1_000_000", 1_000_000),  # kept from YAML 1.1: digit groups (as in Python)
    ("1e6", 1e6),
    ("1.5", 1.5),
    (".5", 0.5),
    ("-.inf", float("-inf")),
    ("1:30", "1:30"),
    ("190:20:30", "190:20:30"),
    ("yes", "yes"),
    ("No", "No"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("true", True),
    ("False", False),
    ("TRUE", True),
    ("~", None),
    ("null", None),
    ("2024-01-01", "2024-01-01"),
    ("=", "="),
    ("0b101", "0b101"),
    ("0x", "0x"),
    ("1__0", "1__0"),
]


@pytest.mark.parametrize(("scalar", "value"), YAML_12)
def test_goal_yaml_reads_scalars_as_yaml_1_2(scalar: str, value: object) -> None:
    read = parse_goal_yaml(f"a: {scalar}\n", source="g.yaml")
    assert read == {"a": value} and type(read["a"]) is type(value)  # type: ignore[index]


def test_an_integer_too_long_for_python_is_a_yaml_problem() -> None:
    with pytest.raises(GoalSpecError) as caught:  # int() refuses more than 4,300 digits
        parse_goal_yaml("a: " + "1" * 5000 + "\n", source="g.yaml")
    assert "g.yaml:1: is not valid YAML: '1111" in str(caught.value)
    assert "is not an integer (YAML 1.2)" in str(caught.value)


def _goal_file(tmp_path: Path, line: str, value: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = [f"{line} {value}" if row.startswith(line) else row for row in text.splitlines()]
    goal = tmp_path / "goal.yaml"
    goal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return goal


def test_a_leading_zero_is_decimal(tmp_path: Path) -> None:
    assert load_goal(_goal_file(tmp_path, "  epochs:", "010")).data.epochs == 10


def test_a_count_written_1e6_is_a_million(tmp_path: Path) -> None:
    goal = load_goal(_goal_file(tmp_path, "  requests_per_month:", "1e6"))
    assert goal.traffic.requests_per_month == 1_000_000
    assert type(goal.traffic.requests_per_month) is int


def test_a_time_like_number_is_text_and_refused(tmp_path: Path) -> None:
    with pytest.raises(GoalSpecError) as caught:
        load_goal(_goal_file(tmp_path, "  epochs:", "1:30"))
    assert caught.value.fields == ("data.epochs",)
    assert "(got '1:30')" in str(caught.value)


@pytest.mark.parametrize("word", ["yes", "no", "on", "off"])
def test_yes_no_on_off_are_not_flags(tmp_path: Path, word: str) -> None:
    with pytest.raises(GoalSpecError) as caught:
        load_goal(_goal_file(tmp_path, "  data_can_leave:", word))
    assert caught.value.fields == ("privacy.data_can_leave",)
    assert "only true and false are flags" in str(caught.value)


AMBIGUOUS = ["1e6", "0o17", "010", "1_0", ".5", "1:30", "Yes", "on", "=", "0x1F", "2024-01-01"]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_dump_goal_quotes_text_that_yaml_1_2_or_1_1_would_read_otherwise(text: str) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["data"]["path"] = text
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        data["name"] = text
    goal = parse_goal(data)
    dumped, expected = dump_goal(goal), goal.model_dump(mode="json")
    assert parse_goal_yaml(dumped, source="dump") == expected  # as tailor reads it (1.2)
    assert yaml.safe_load(dumped) == expected  # as PyYAML's default reads it (1.1)


# ------------------------------------------------------------- 10: integers, schema and parser


@pytest.mark.parametrize("value", [3000.0, 3e3, 3000])
def test_an_integral_float_is_an_integer_as_in_json_schema(value: float) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["traffic"]["requests_per_month"] = value
    assert Draft202012Validator(goal_json_schema()).is_valid(data)
    count = parse_goal(data).traffic.requests_per_month
    assert count == 3000 and type(count) is int


@pytest.mark.parametrize("value", [3000.5, True, "3000", float("inf"), 1e16])
def test_a_non_integer_is_refused_by_schema_and_parser(value: object) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["traffic"]["requests_per_month"] = value
    if value != float("inf"):  # JSON has no infinity
        assert not Draft202012Validator(goal_json_schema()).is_valid(data)
    with pytest.raises(GoalSpecError) as caught:
        parse_goal(data)
    assert caught.value.fields == ("traffic.requests_per_month",)


# --------------------------------------------------------- 10: the schema's cross-field rules

# Rules JSON Schema cannot state (it compares no two fields, and no strings ignoring case):
# each says so in its field's description.
UNSTATED = {
    "traffic.peak_requests_per_s": "requests_per_month / 2,628,000",
    "models.candidates": "ignoring case",
    "traffic.p95_input_tokens": "At least avg_input_tokens",
    "traffic.max_input_tokens": "At least avg_input_tokens and p95_input_tokens",
    "traffic.p95_output_tokens": "At least avg_output_tokens",
    "traffic.max_output_tokens": "At least avg_output_tokens and p95_output_tokens",
    "availability.max_replicas": "At least min_replicas",
    "availability.hourly_profile": "at least one of them positive",
}


def _schema_field(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    section, field = dotted.split(".")
    ref = schema["properties"][section]["$ref"].removeprefix("#/$defs/")
    return schema["$defs"][ref]["properties"][field]  # type: ignore[no-any-return]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = goal_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    pydantic_only = {"gt", "ge", "lt", "le"}  # left raw when a validator wraps a bounded int
    assert not _keywords(schema) & pydantic_only


def _keywords(node: object) -> set[str]:
    """Every key of every mapping in ``node`` (property names included: none is a keyword)."""
    if isinstance(node, list):
        return set().union(*map(_keywords, node))
    if isinstance(node, dict):
        return set(node).union(*map(_keywords, node.values()))
    return set()


@pytest.mark.parametrize("field", sorted(UNSTATED))
def test_each_rule_the_schema_cannot_state_is_described(field: str) -> None:
    description = _schema_field(goal_json_schema(), field)["description"]
    assert UNSTATED[field] in description
    assert "not checked by the JSON Schema" in description


BROKEN_RULES = {
    # rule the parser applies: (field, value) changes to the example goal that break it
    "fresh knowledge needs documents": [("task.needs_fresh_knowledge", True)],
    "examples need their length": [("data.avg_example_tokens", None)],
    "custom behavior needs examples": [("data.train_examples", 0)],
    "custom behavior needs a data section": [("data", None)],
    "no empty cloud list": [("privacy.allowed_clouds", [])],
    "no empty region list": [("privacy.allowed_regions", [])],
}


def _broken(changes: list[tuple[str, object]]) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for dotted, value in changes:
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is None and leaf == "data":
            del node[leaf]
        else:
            node[leaf] = value
    return data  # type: ignore[no-any-return]


@pytest.mark.parametrize("rule", sorted(BROKEN_RULES))
def test_the_schema_refuses_what_the_parser_refuses(rule: str) -> None:
    data = _broken(BROKEN_RULES[rule])
    with pytest.raises(GoalSpecError):
        parse_goal(data)
    assert not Draft202012Validator(goal_json_schema()).is_valid(data)


SCHEMA_PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SCHEMA_PROPERTY
@given(schema_valid(goal_json_schema()))
def test_a_goal_the_schema_accepts_parses_unless_it_breaks_a_described_rule(
    goal: dict[str, Any],
) -> None:
    try:
        parse_goal(goal)
    except GoalSpecError as error:
        assert set(error.fields) <= set(UNSTATED), str(error)


def test_the_strategy_draws_every_kind_of_value_the_schema_allows() -> None:
    """The property above means something only if the drawn goals reach the rules' branches."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(schema_valid(goal_json_schema()))
    def draw(goal: dict[str, Any]) -> None:
        task, data = goal["task"], goal.get("data", {})
        kinds = {
            "integral float": isinstance(goal["traffic"]["avg_input_tokens"], float),
            "fresh": task.get("needs_fresh_knowledge", False),
            "custom": task.get("needs_custom_behavior", False),
            "examples": data.get("train_examples", 0) > 0,
        }
        seen.update(kind for kind, drawn in kinds.items() if drawn)

    draw()
    assert seen == {"integral float", "fresh", "custom", "examples"}
