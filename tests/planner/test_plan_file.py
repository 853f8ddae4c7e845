"""The plan file is the whole contract: what launch needs is in it, and it cannot be edited
without being noticed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from catalog import load_catalog
from executor.render import RenderOptions, render_serve_task, render_train_task, training_config
from planner import PlannerError, content_digest, load_plan_file, plan_goal, save_plan_file
from planner.spec import load_goal
from tests.conftest import REPO_ROOT
from tui.cli import cli

GOAL = REPO_ROOT / "examples" / "goals" / "financial-report-analysis.yaml"
OPTIONS = RenderOptions(
    run_name="fin-p1",
    data_source="./data/train.jsonl",
    checkpoint_bucket="tailor-ckpt-fin",
    recipe_source="executor/recipes",
)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "plan.json"
    result = plan_goal(load_goal(GOAL), load_catalog())
    save_plan_file(result.plan_file("p1", goal_dir=GOAL.parent), path)
    return path


def test_saved_file_carries_its_digest_and_loads_back_equal(written: Path) -> None:
    loaded = load_plan_file(written)
    assert loaded.digest == content_digest(loaded) and len(loaded.digest) == 64
    again = plan_goal(load_goal(GOAL), load_catalog()).plan_file("p1", goal_dir=GOAL.parent)
    assert loaded == again  # the in-memory plan and the file agree field for field


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("plan", "serving", "offer", "usd_per_hour"), 0.01),
        (("plan", "training", "offer", "gpu"), "H200"),
        (("plan", "training", "nodes"), 4),
        (("plan", "monthly_usd"), 0.0),
    ],
    ids=["price", "gpu", "shape", "cost"],
)
def test_a_hand_edited_plan_file_is_refused(
    written: Path, tmp_path: Path, where: tuple[str, ...], value: object
) -> None:
    data = json.loads(written.read_text(encoding="utf-8"))
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlannerError, match="does not match its digest") as error:
        load_plan_file(edited)
    assert "To fix: re-plan with `tailor plan" in str(error.value)
    for command in (["explain", str(edited)], ["launch", str(edited), "--yes"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "re-plan with `tailor plan" in result.output


def test_a_yaml_plan_file_is_sealed_too(tmp_path: Path) -> None:
    result = plan_goal(load_goal(GOAL), load_catalog())
    path = tmp_path / "plan.yaml"
    save_plan_file(result.plan_file("p1"), path)
    assert load_plan_file(path).digest == yaml.safe_load(path.read_text())["digest"]


def test_data_path_is_absolute_from_the_goal_folder_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan", str(GOAL), "--out", str(out)])
    assert result.exit_code == 0, result.output
    relative = load_goal(GOAL).data.path
    assert relative is not None and not Path(relative).is_absolute()
    data_path = load_plan_file(out).data_path
    assert data_path == str((GOAL.parent / relative).absolute())
    assert os.path.isabs(data_path)


def test_render_needs_nothing_but_the_plan_file(written: Path) -> None:
    """The model's repo comes from the plan: a model the catalog never heard of renders."""
    plan_file = load_plan_file(written)
    plan = plan_file.plan.model_copy(update={"model": "not-in-any-catalog"})
    alien = plan_file.model_copy(update={"plan": plan})
    assert training_config(alien, OPTIONS, "/out")["model"] == plan.hf_repo_id
    served = render_serve_task(alien, OPTIONS)["run"]
    if plan.training is None or plan.training.method != "full":  # base weights (+ adapter)
        assert plan.hf_repo_id in served
    else:  # a full fine-tune serves its own trained weights
        assert "/final" in served and plan.hf_repo_id not in served
    assert render_train_task(alien, OPTIONS)["num_nodes"] == plan.training.nodes


def test_one_time_cost_keeps_the_training_part_separate(written: Path) -> None:
    plan = load_plan_file(written).plan
    assert plan.training is not None
    parts = plan.training.cost_usd + (plan.rag.embedding_usd if plan.rag else 0.0)
    parts += plan.api.training_usd if plan.api else 0.0
    parts += sum(line.one_time_usd for line in plan.extra_costs)  # e.g. the jobs controller
    assert plan.one_time_usd == pytest.approx(parts)
    assert plan.first_year_usd == pytest.approx(plan.one_time_usd + 12 * plan.monthly_usd)
