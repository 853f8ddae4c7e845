"""Plan files are not trusted (issue 10, point 4): anyone can edit one and recompute its digest,
so every field is validated like the goal's, and what passes renders safe tasks.

Each hostile case of the issue is a test here; ``test_mutated_plan_files_*`` is the property
test over plan-file fields (hostile ids and strings, non-finite and out-of-range numbers).
The files are re-sealed after editing, as a hostile user would.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from catalog import TailorError
from executor.launch import cost_ceiling_usd
from executor.render import RenderOptions, render_serve_task, render_train_task, training_config
from planner import PlannerError, load_plan_file
from planner.plan import MAX_REPLICAS, PlanFile
from planner.types import HOURS_PER_MONTH
from tests.conftest import TEST_DATA
from tui.cli import cli

FINANCIAL = TEST_DATA / "plans" / "financial-p1.json"
MULTINODE = TEST_DATA / "plans" / "multinode-p1.json"
Where = tuple[str | int, ...]


def _data(source: Path = FINANCIAL) -> dict[str, Any]:
    return json.loads(source.read_text(encoding="utf-8"))


def _set(data: dict[str, Any], where: Where, value: object) -> None:
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value


def _exists(data: dict[str, Any], where: Where) -> bool:
    node: Any = data
    for key in where[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict) or (isinstance(node, list) and where[-1] in range(len(node)))


def _sealed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its digest recomputed, as anyone can: through the model where it still
    validates (PlanFile.sealed), else by content_digest's own formula on the raw content."""
    try:
        return PlanFile.model_validate(data).sealed().model_dump(mode="json")
    except ValidationError:
        content = {k: v for k, v in data.items() if k != "digest"}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return {**data, "digest": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _write(tmp_path: Path, data: dict[str, Any], name: str = "hostile.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(_sealed(data), allow_nan=True), encoding="utf-8")
    return path


def _edited(tmp_path: Path, where: Where, value: object, source: Path = FINANCIAL) -> Path:
    data = _data(source)
    _set(data, where, value)
    return _write(tmp_path, data)


def _assert_one_paragraph_naming(message: str, field: str) -> None:
    assert "\n" not in message, message
    assert f": {field}:" in message, message
    assert re.search(r"To fix: [^\n]+\.$", message), message


# --- plan.id: quotes, newlines, '../', '/', rich markup ---------------------------------------
@pytest.mark.parametrize(
    "plan_id",
    [
        "p1'; touch /tmp/tailor-pwned; '",
        "p1\nTAILOR_CHECK\ntouch /tmp/tailor-pwned",
        "p1$(touch /tmp/tailor-pwned)",
        "../../outside",
        "a/b",
        "[bold red]p1[/]",
        "",
        "-p1",
    ],
    ids=["quote", "newline-heredoc", "subshell", "dotdot", "slash", "markup", "empty", "dash"],
)
def test_a_plan_id_that_is_not_a_name_is_refused(tmp_path: Path, plan_id: str) -> None:
    path = _edited(tmp_path, ("plan", "id"), plan_id)
    with pytest.raises(PlannerError) as error:
        load_plan_file(path)
    _assert_one_paragraph_naming(str(error.value), "plan.id")


def test_a_dotdot_id_writes_no_run_folder_outside_the_state_dir(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("plan", "id"), "../../escaped")
    state = tmp_path / "deep" / "state"
    before = {p for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(
        cli, ["launch", str(path), "--backend", "local", "--yes", "--state-dir", str(state)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "plan.id" in result.output
    assert {p for p in tmp_path.rglob("*")} - before <= {
        p for p in tmp_path.rglob("*") if p.is_relative_to(state)
    }, "something was written outside the state dir"


def test_a_slash_in_the_id_is_refused_by_launch_dryrun(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("plan", "id"), "p1/../x")
    result = CliRunner().invoke(
        cli, ["launch", str(path), "--dryrun", "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "plan.id" in result.output
    assert "To fix:" in result.output


def test_rich_markup_in_the_id_is_refused_by_explain(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("plan", "id"), "[/bold]p1[red]")
    result = CliRunner().invoke(cli, ["explain", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "plan.id" in result.output


def test_explain_shows_plan_text_with_brackets_verbatim(tmp_path: Path) -> None:
    data = _data()
    text = "[/bold] model [red]x[/red] chosen [link=file:///etc/passwd]here[/link]"
    data["plan"]["decision_path"] = [*data["plan"]["decision_path"], text]
    data["plan"]["sources"] = [*data["plan"]["sources"], "source [/]"]
    result = CliRunner().invoke(cli, ["explain", str(_write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert text in result.output and "source [/]" in result.output


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        (("plan", "hf_repo_id"), "x'\nimport os; os.system('id')\n#", "plan.hf_repo_id"),
        (("plan", "hf_repo_id"), "../../etc", "plan.hf_repo_id"),
        (("plan", "model"), "llama [bold]", "plan.model"),
        (
            ("plan", "training", "offer", "region"),
            "us-east-1\n; touch x",
            "plan.training.offer.region",
        ),
        (("plan", "training", "offer", "cloud"), "AWS;", "plan.training.offer.cloud"),
        (("plan", "training", "lora_targets", 0), "q_proj'", "plan.training.lora_targets.0"),
        (("plan", "training", "optimizer"), "adamw $(id)", "plan.training.optimizer"),
        (("plan", "decision_path", 0), "line\n\nsecond paragraph", "plan.decision_path.0"),
        (("plan", "estimates", 0, "value"), math.nan, "plan.estimates"),
        (("data_path",), "relative/train.jsonl", "data_path"),
    ],
    ids=[
        "repo-python",
        "repo-dotdot",
        "model",
        "region",
        "cloud",
        "lora-target",
        "optimizer",
        "newline-text",
        "term-nan",
        "data-path",
    ],
)
def test_hostile_strings_are_refused_naming_the_field(
    tmp_path: Path, where: Where, value: object, field: str
) -> None:
    with pytest.raises(PlannerError) as error:
        load_plan_file(_edited(tmp_path, where, value))
    _assert_one_paragraph_naming(str(error.value), field)


# --- numbers: NaN, negative hours, 1,000,000 replicas, zero GPUs ------------------------------
@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("plan", "monthly_usd"), math.nan),
        (("plan", "one_time_usd"), math.inf),
        (("plan", "training", "cost_usd_high"), -math.inf),
        (("plan", "training", "hours_high"), -1.0),
        (("plan", "training", "hours_high"), 0.0),
        (("plan", "training", "hours_low"), math.nan),
        (("plan", "serving", "replicas"), 1_000_000),
        (("plan", "serving", "replicas"), 0),
        (("plan", "serving", "max_replicas"), 0),
        (("plan", "serving", "min_replicas"), -1),
        (("plan", "serving", "p_cold_start"), 1.5),
        (("plan", "training", "nodes"), 0),
        (("plan", "training", "gpus_per_node"), -8),
        (("plan", "training", "learning_rate"), 0.0),
        (("plan", "serving", "offer", "usd_per_hour"), 0.0),
        (("plan", "training", "epochs"), 1.5),
        (("plan", "serving", "tensor_parallel"), True),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused(
    tmp_path: Path, where: Where, value: object
) -> None:
    with pytest.raises(PlannerError) as error:
        load_plan_file(_edited(tmp_path, where, value))
    _assert_one_paragraph_naming(str(error.value), ".".join(map(str, where)))


def test_nan_cost_fails_the_launch_before_any_run_is_recorded(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("plan", "monthly_usd"), math.nan)
    state = tmp_path / "state"
    result = CliRunner().invoke(
        cli, ["launch", str(path), "--backend", "local", "--yes", "--state-dir", str(state)]
    )
    assert result.exit_code == 2, result.output
    assert "plan.monthly_usd" in result.output and "finite" in result.output
    assert "Traceback" not in result.output and "NOT NULL" not in result.output
    assert not (state / "state.db").exists()


def test_a_million_replicas_is_over_the_cap(tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match=f"less than or equal to {MAX_REPLICAS}"):
        load_plan_file(_edited(tmp_path, ("plan", "serving", "replicas"), 1_000_000))


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("replica_hours_per_month", 1e9, "outside what the replica policy bills"),
        ("replica_hours_per_month", 1.0, "outside what the replica policy bills"),
        ("min_replicas", 9_000, "does not hold the"),
        ("max_replicas", 1, "does not hold the"),
    ],
)
def test_a_replica_policy_that_does_not_hold_is_refused(
    tmp_path: Path, field: str, value: float, says: str
) -> None:
    """An edited policy cannot bill fewer replica-hours than min_replicas keeps up all month,
    more than max_replicas can, or cap below the replicas the peak needs."""
    data = _data()
    serving = data["plan"]["serving"]
    serving.update(replicas=2, min_replicas=1, max_replicas=2)
    serving["replica_hours_per_month"] = 1.5 * HOURS_PER_MONTH
    load_plan_file(_write(tmp_path, data, "consistent.json"))  # the baseline loads
    serving[field] = value
    with pytest.raises(PlannerError, match=says) as error:
        load_plan_file(_write(tmp_path, data))
    _assert_one_paragraph_naming(str(error.value), "plan.serving")


# --- the property: whatever a plan file says, it is refused or it renders safe tasks ----------
_HOSTILE_TEXT = [
    "../x",
    "a/b",
    "x'; touch /tmp/tailor-pwned; '",
    'x"; touch /tmp/tailor-pwned; "',
    "x\nTAILOR_CHECK\ntouch /tmp/tailor-pwned",
    "x\nTAILOR_CONFIG\ntouch /tmp/tailor-pwned",
    "$(touch /tmp/tailor-pwned)",
    "`touch /tmp/tailor-pwned`",
    "[bold]x[/]",
    "",
    " ",
    "-rf",
    "x\x00y",
    "é",
    "x" * 300,
    "Florida, US, NA",
]
_HOSTILE_NUMBERS = [
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -0.0,
    0,
    0.5,
    1,
    1e308,
    10**6,
    2**63,
    True,
    "1",
    None,
]
_FIELDS: list[Where] = [
    ("plan", "id"),
    ("plan", "model"),
    ("plan", "hf_repo_id"),
    ("plan", "decision_path", 0),
    ("plan", "sources", 0),
    ("plan", "estimates", 0, "basis"),
    ("plan", "estimates", 0, "value"),
    ("plan", "one_time_usd"),
    ("plan", "monthly_usd"),
    ("plan", "first_year_usd"),
    ("plan", "p95_ttft_s"),
    ("plan", "training", "offer", "cloud"),
    ("plan", "training", "offer", "region"),
    ("plan", "training", "offer", "instance_type"),
    ("plan", "training", "offer", "accelerator"),
    ("plan", "training", "offer", "usd_per_hour"),
    ("plan", "training", "offer", "gpus_per_instance"),
    ("plan", "training", "alternative_offers", 0, "region"),
    ("plan", "training", "lora_rank"),
    ("plan", "training", "lora_targets", 0),
    ("plan", "training", "optimizer"),
    ("plan", "training", "precision"),
    ("plan", "training", "learning_rate"),
    ("plan", "training", "epochs"),
    ("plan", "training", "nodes"),
    ("plan", "training", "gpus_per_node"),
    ("plan", "training", "micro_batch"),
    ("plan", "training", "hours_low"),
    ("plan", "training", "hours_high"),
    ("plan", "training", "cost_usd_low"),
    ("plan", "training", "cost_usd_high"),
    ("plan", "serving", "replicas"),
    ("plan", "serving", "tensor_parallel"),
    ("plan", "serving", "max_model_len"),
    ("plan", "serving", "max_concurrent_sequences"),
    ("plan", "serving", "requests_per_s_per_replica"),
    ("plan", "serving", "monthly_usd"),
    ("plan", "serving", "offer", "instance_type"),
    ("plan", "serving", "offer", "usd_per_hour"),
    ("tailor_version",),
    ("data_path",),
]
_values = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),  # names that pass
    st.integers(min_value=1, max_value=64),
    st.floats(min_value=1e-3, max_value=1e4),
    st.sampled_from(_HOSTILE_TEXT),
    st.sampled_from(_HOSTILE_NUMBERS),
    st.text(max_size=20),
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
)
_mutations = st.lists(st.tuples(st.sampled_from(_FIELDS), _values), min_size=1, max_size=3)
_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _assert_renders_safe(plan_file: PlanFile) -> None:
    """What loaded renders tasks in which no plan value is code: the run name is a plain name,
    each value reaching a shell is one quoted word, and the JSON config reads back as made."""
    plan = plan_file.plan
    run_name = f"{plan_file.goal.name}-{plan.id}"
    assert _RUN.fullmatch(run_name) and "/" not in run_name, run_name
    options = RenderOptions(run_name, "train.jsonl", "bucket", "executor/recipes")
    if plan.training is not None:
        run = render_train_task(plan_file, options)["run"]
        lines = run.splitlines()
        start, end = (
            lines.index("cat > /tmp/tailor-train.json <<'TAILOR_CONFIG'"),
            lines.index("TAILOR_CONFIG"),
        )
        config = json.loads("\n".join(lines[start + 1 : end]))
        assert config == json.loads(
            json.dumps(training_config(plan_file, options, f"/checkpoints/{run_name}"))
        )
        command = shlex.split(next(line for line in lines if line.startswith("timeout ")))
        assert command[:4] == ["timeout", "--signal=TERM", "--kill-after=300", "$left"]
        deadline = next(line for line in lines if line.startswith("left=$(( "))
        assert int(deadline.split()[1]) > 0  # the deadline's seconds: a plain number
    if plan.serving is not None:
        run = render_serve_task(plan_file, options)["run"]
        adapter = f"/adapters/{run_name}/final"
        full = plan.training is not None and plan.training.method == "full"
        trained = adapter if full else f"/adapters/{run_name}/merged"  # LoRA: served merged
        served = trained if plan.training is not None else plan.hf_repo_id
        last = shlex.split(run.splitlines()[-1])
        assert last[:3] == ["vllm", "serve", served]
        if "TAILOR_CHECK" in run:
            guard = shlex.split(run.splitlines()[2].removesuffix(" <<'TAILOR_CHECK'"))
            assert guard == ["python3", "-", f"{adapter}/adapter_config.json", plan.hf_repo_id]
    try:
        ceiling = cost_ceiling_usd(plan_file)
    except TailorError as error:  # the plan's costs do not match its resources × prices
        assert "To fix: re-plan" in str(error)
    else:
        assert math.isfinite(ceiling) and ceiling > 0


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=_mutations, multinode=st.booleans())
@example(mutations=[(("plan", "id"), "x\nTAILOR_CHECK\ntouch /tmp/tailor-pwned")], multinode=False)
@example(mutations=[(("plan", "serving", "replicas"), 10**6)], multinode=False)
@example(mutations=[(("plan", "training", "hours_high"), -1)], multinode=True)
@example(mutations=[(("plan", "monthly_usd"), math.nan)], multinode=False)
@example(mutations=[(("plan", "training", "offer", "region"), "Florida, US, NA")], multinode=False)
def test_mutated_plan_files_are_refused_or_render_safe(
    tmp_path_factory: pytest.TempPathFactory,
    mutations: list[tuple[Where, object]],
    multinode: bool,
) -> None:
    data = _data(MULTINODE if multinode else FINANCIAL)
    mutations = [(w, v) for w, v in mutations if _exists(data, w)]  # full: no lora_targets
    for where, value in mutations:
        _set(data, where, copy.copy(value))
    path = _write(tmp_path_factory.mktemp("fuzz"), data)
    try:
        plan_file = load_plan_file(path)
    except PlannerError as error:
        event("refused")
        message = str(error)
        assert "\n" not in message and re.search(r"To fix: [^\n]+\.$", message), message
        named = {  # the field, or the model it is checked in (cross-field rules)
            ".".join(map(str, where[:k]))
            for where, _ in mutations
            for k in range(min(2, len(where)), len(where) + 1)
        }
        assert any(f": {n}:" in message for n in named), message
        return
    event("loaded")
    _assert_renders_safe(plan_file)


# --- the planner never makes a plan its own plan file would refuse ---------------------------
@pytest.mark.parametrize(
    ("edit", "constraint"),
    [
        ({"traffic": {"peak_requests_per_s": 1e7, "requests_per_month": 10**12}}, "(replicas)"),
        ({"data": {"train_examples": 10**10, "epochs": 3}}, "(training time)"),
    ],
    ids=["replicas", "hours"],
)
def test_goals_beyond_the_plan_caps_are_infeasible_with_a_reason(
    edit: dict[str, dict[str, object]], constraint: str
) -> None:
    import yaml

    from catalog import load_catalog
    from planner import InfeasibleGoalError, plan_goal
    from planner.spec import parse_goal
    from tests.conftest import REPO_ROOT

    goal = REPO_ROOT / "examples" / "goals" / "financial-report-analysis.yaml"
    data = yaml.safe_load(goal.read_text(encoding="utf-8"))
    data["budget"], data["data"] = {}, {**data["data"], "path": None}
    for section, values in edit.items():
        data[section] = {**data[section], **values}
    try:
        result = plan_goal(parse_goal(data), load_catalog())
    except InfeasibleGoalError as error:
        assert constraint in str(error)
    else:  # feasible plans remain (other shapes): each is within the caps and saves and loads
        assert result.plans
        for plan in result.plans:
            PlanFile.model_validate(result.plan_file(plan.id).model_dump(mode="json"))
        assert any(constraint in str(r) for r in result.graph.reasons)


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_plan_path_that_is_no_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "plan.json"
        os.mkfifo(path)  # reading it would block until a writer comes
    elif kind == "device":
        path = Path("/dev/zero")  # reading it would never end
    else:
        path = tmp_path / "plan.json"
        path.mkdir()
    with pytest.raises(PlannerError, match=r"not a regular file.*To fix:"):
        load_plan_file(path)
