"""`tailor catalog …` end to end through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from catalog import load_catalog
from catalog.loaders import user_offers_path
from tui.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_gpus_json_has_specs_and_cheapest_offers() -> None:
    result = run("catalog", "gpus", "--json")
    assert result.exit_code == 0
    rows = {r["gpu"]["name"]: r for r in json.loads(result.output)}
    h100 = rows["H100"]
    assert h100["gpu"]["bf16_dense_tflops"] > 900
    cheapest = min(o.price_usd_per_gpu_hour for o in load_catalog().offers_for("H100"))
    assert h100["cheapest_on_demand"]["usd_per_gpu_hour"] == round(cheapest, 4)


def test_gpus_min_memory_and_cloud_filters() -> None:
    rows = json.loads(
        run("catalog", "gpus", "--min-memory", "70", "--cloud", "gcp", "--json").output
    )
    names = {r["gpu"]["name"] for r in rows}
    assert names and "L4" not in names and "H100" in names
    assert all(r["cheapest_on_demand"]["cloud"] == "gcp" for r in rows)


def test_gpus_table_renders() -> None:
    result = run("catalog", "gpus")
    assert result.exit_code == 0 and "H100" in result.output and "Cheapest spot" in result.output


def test_unknown_cloud_is_exit_2() -> None:
    result = CliRunner().invoke(cli, ["catalog", "gpus", "--cloud", "nocloud"])
    assert result.exit_code == 2 and "To fix:" in result.output


def test_prices_sorted_per_gpu_hour() -> None:
    rows = json.loads(run("catalog", "prices", "--gpu", "a100-80gb", "--json").output)
    prices = [r["price_usd_per_gpu_hour"] for r in rows]
    assert prices == sorted(prices) and all(r["gpu"] == "A100-80GB" for r in rows)


def test_models_and_api_listings() -> None:
    models = json.loads(run("catalog", "models", "--json").output)
    llama = next(m for m in models if m["id"] == "llama-3.1-8b")
    assert llama["total_params"] == 8_030_261_248
    assert "gpt-4o-mini" in run("catalog", "api").output


def test_unknown_gpu_exits_2_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "catalog", "prices", "--gpu", "H1000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Unknown GPU 'H1000'" in proc.stderr and "To fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_then_refresh_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "v8"
    assert run("catalog", "export-sky", str(out), "--cloud", "lambda").exit_code == 0
    assert (out / "lambda" / "vms.csv").exists()
    assert (out / "common" / "accelerators.csv").exists()
    result = run("catalog", "refresh", "--from", str(out))
    assert result.exit_code == 0 and "lambda" in result.output
    assert user_offers_path().exists()
    refreshed = [o for o in load_catalog().offers if o.cloud == "lambda"]
    assert refreshed and all(o.source.startswith("SkyPilot catalog") for o in refreshed)
    assert any(o.cloud == "gcp" for o in load_catalog().offers)  # other clouds kept


def test_refresh_from_missing_folder_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["catalog", "refresh", "--from", str(tmp_path / "none")])
    assert result.exit_code == 2 and "To fix:" in result.output
    assert not user_offers_path().exists()


def test_add_model_cli(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 128,
                "intermediate_size": 256,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "vocab_size": 1000,
                "max_position_embeddings": 512,
                "tie_word_embeddings": True,
            }
        )
    )
    result = run("catalog", "add-model", str(config), "--id", "tiny", "--hf-id", "me/tiny")
    assert result.exit_code == 0 and "Added tiny" in result.output
    assert load_catalog().model("me/tiny").hidden_size == 128
