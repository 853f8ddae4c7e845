"""Quality through the CLI: `tailor plan --json` carries it for every plan and reference row,
a reference row is never written as a plan file, `--as-of` moves the lifecycle, `tailor
compare` takes N plans, `tailor catalog benchmarks` lists the published scores."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import REPO_ROOT
from tui.cli import cli

SEED = REPO_ROOT / "examples" / "goals" / "api-vs-self-hosted-1m.yaml"


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_plan_json_has_quality_for_every_plan_and_reference() -> None:
    result = invoke("plan", SEED, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["quality_target"]["benchmark"] == "ifeval"
    assert data["quality_target"]["default_floor"] is True
    for row in (*data["plans"], *data["references"]):
        quality = row["plan"]["quality"]
        assert {
            "benchmark",
            "base_score",
            "expected_low",
            "expected_high",
            "basis",
        } <= quality.keys()
        assert quality["expected_low"] >= data["quality_target"]["floor"]
    assert [r["id"] for r in data["references"]] == ["r1", "r2"]
    assert all(r["reference"] for r in data["references"])


def test_a_reference_row_is_not_written_as_a_plan_file(tmp_path: Path) -> None:
    out = tmp_path / "r1.json"
    result = invoke("plan", SEED, "--plan", "r1", "--out", out)
    assert result.exit_code == 2
    assert "reference row" in result.output and "To fix:" in result.output
    assert not out.exists()


def test_as_of_prunes_what_has_retired_by_then() -> None:
    later = json.loads(invoke("plan", SEED, "--json", "--as-of", "2027-02-01").stdout)
    models = {row["model"] for row in (*later["plans"], *later["references"])}
    assert not any(m.startswith("openai/") for m in models)
    assert later["planned_on"] == "2027-02-01"


def test_compare_takes_three_plans(tmp_path: Path) -> None:
    files = []
    for plan_id in ("p1", "p2", "p4"):
        path = tmp_path / f"{plan_id}.json"
        assert invoke("plan", SEED, "--plan", plan_id, "--out", path).exit_code == 0
        files.append(path)
    table = invoke("compare", *files)
    assert table.exit_code == 0, table.output
    for word in ("cloud", "region", "spot", "quality_low", "p4.json"):
        assert word in table.output
    rows = {r["name"]: r for r in json.loads(invoke("compare", *files, "--json").stdout)}
    assert set(rows["first_year_usd"]["values"]) == {"p1.json", "p2.json", "p4.json"}
    assert rows["first_year_usd"]["delta_from_first"]["p1.json"] is None
    assert invoke("compare", files[0]).exit_code == 2


def test_catalog_benchmarks_lists_scores_with_their_sources() -> None:
    result = invoke("catalog", "benchmarks", "--model", "llama-3.1-8b", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ifeval = next(s for s in data["scores"] if s["benchmark"] == "ifeval")
    assert ifeval["score"] == 80.4 and ifeval["source"].startswith("https://")
    assert {t["task"] for t in data["tasks"]} >= {"chat", "qa", "code"}
    text = invoke("catalog", "benchmarks")
    assert text.exit_code == 0 and "default floor" in text.output.lower()
    unknown = invoke("catalog", "benchmarks", "--model", "no-such-model")
    assert unknown.exit_code == 2 and "To fix" in unknown.output
