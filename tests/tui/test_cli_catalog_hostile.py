"""`tailor catalog add-model | refresh | models` under hostile user files (issue 10, point 5):
every refusal is exit 2 with "To fix:" and no traceback, bad saved entries are skipped and named
once, and catalog text is printed as it is, never read as rich markup."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog import load_catalog
from catalog.loaders import user_models_path, user_offers_path
from tui.cli import cli

TINY = {
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
HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,SpotPrice\n"
GOOD_ROW = "gpu_1x_a10,A10,1,30,200,1.29,us-east-1,0.6\n"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _config(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.json"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _assert_exit_2(result, *names: str) -> None:
    assert result.exit_code == 2, result.output
    assert "To fix:" in result.output and "Traceback" not in result.output
    for name in names:
        assert name in result.output


ADD_MODEL_CASES = {
    "vocab-2**1100": (json.dumps({**TINY, "vocab_size": 2**1100}), (), "vocab_size"),
    "moe-without-per-token": (json.dumps({**TINY, "num_local_experts": 8}), (), "experts_per"),
    "markup-id": (json.dumps(TINY), ("--id", "x[/bold]"), "--id"),
    "string-dims": (json.dumps({**TINY, "hidden_size": "128"}), (), "hidden_size"),
    "text-config-list": (json.dumps({**TINY, "text_config": []}), (), "text_config"),
    "non-utf8": (b'{"model_type": "\xff"}', (), "UTF-8"),
    "deep-json": ("[" * 100_000 + "]" * 100_000, (), "deeply"),
}


@pytest.mark.parametrize("case", sorted(ADD_MODEL_CASES))
def test_add_model_refusals_exit_2_and_save_nothing(tmp_path: Path, case: str) -> None:
    text, options, names = ADD_MODEL_CASES[case]
    result = run("catalog", "add-model", str(_config(tmp_path, text)), *options)
    _assert_exit_2(result, names)
    assert not user_models_path().exists()
    assert run("catalog", "models").exit_code == 0


def _sky(tmp_path: Path, cloud: str, body: str | bytes, name: str = "sky") -> Path:
    folder = tmp_path / name
    (folder / cloud).mkdir(parents=True)
    (folder / cloud / "vms.csv").write_bytes(body.encode() if isinstance(body, str) else body)
    return folder


REFRESH_CASES = {
    "price-1e-300": HEADER + GOOD_ROW.replace("1.29", "1e-300"),
    "price-1e300": HEADER + GOOD_ROW.replace("1.29", "1e300"),
    "128-kb-field": HEADER + GOOD_ROW.replace("us-east-1", "x" * (128 * 1024 + 1)),
    "non-utf8": (HEADER + GOOD_ROW.replace("us-east-1", "s\xe3o")).encode("latin-1"),
    "markup-region": HEADER + GOOD_ROW.replace("us-east-1", "[/bold]"),
    "no-gpu-offers": HEADER + GOOD_ROW.replace("A10", "NO-SUCH-GPU"),
    "not-a-vms-csv": "a,b\n1,2\n",
}


@pytest.mark.parametrize("case", sorted(REFRESH_CASES))
def test_refresh_refusals_exit_2_and_keep_the_catalog(tmp_path: Path, case: str) -> None:
    first = _sky(tmp_path, "aws", HEADER + GOOD_ROW, "a")
    assert run("catalog", "refresh", "--from", str(first)).exit_code == 0
    before = user_offers_path().read_bytes()
    result = run("catalog", "refresh", "--from", str(_sky(tmp_path, "lambda", REFRESH_CASES[case])))
    _assert_exit_2(result)
    assert user_offers_path().read_bytes() == before


def test_refresh_vms_csv_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "sky" / "lambda" / "vms.csv").mkdir(parents=True)
    _assert_exit_2(run("catalog", "refresh", "--from", str(tmp_path / "sky")), "regular file")
    assert not user_offers_path().exists()


def test_second_refresh_keeps_the_first_clouds_and_says_so(tmp_path: Path) -> None:
    run("catalog", "refresh", "--from", str(_sky(tmp_path, "lambda", HEADER + GOOD_ROW, "one")))
    result = run("catalog", "refresh", "--from", str(_sky(tmp_path, "aws", HEADER + GOOD_ROW)))
    assert result.exit_code == 0 and "earlier offers of lambda are kept" in result.output
    refreshed = {o.cloud for o in load_catalog().offers if o.source.startswith("SkyPilot")}
    assert refreshed == {"aws", "lambda"}


def test_catalog_text_is_printed_not_read_as_markup(tmp_path: Path) -> None:
    config = _config(tmp_path, json.dumps(TINY))
    added = run("catalog", "add-model", str(config), "--id", "tiny", "--license", "[/bold]:smile:")
    assert added.exit_code == 0
    result = run("catalog", "models")
    assert result.exit_code == 0 and "[/bold]:smile:" in result.output


def _write_saved_models(entries: list[dict]) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"models": entries}))


def _entry(**overrides: object) -> dict:
    return {
        "id": "ok",
        "hf_id": "me/ok",
        "family": "llama",
        "num_layers": 2,
        "hidden_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "intermediate_size": 256,
        "vocab_size": 1000,
        "tie_word_embeddings": True,
        "max_context_tokens": 512,
        "license": "mit",
        "source": "hand",
        "retrieved_on": "2026-01-01",
        **overrides,
    }


def test_saved_bad_entries_are_skipped_and_named_once(tailor_home: Path) -> None:
    _write_saved_models(
        [
            _entry(),
            _entry(id="huge", vocab_size=2**1100),
            _entry(id="moe", num_experts=8),
            _entry(id="x[/bold]"),
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "catalog", "models"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "skipped a user model" in line]
    assert len(warnings) == 3 and all("To fix:" in w for w in warnings)
    for name in ("'huge'", "'moe'", "'x[/bold]'"):
        assert sum(name in w for w in warnings) == 1
    listed = proc.stdout.splitlines()
    assert any(line.startswith("│ ok ") for line in listed) and "huge" not in proc.stdout
