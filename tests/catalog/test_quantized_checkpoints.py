"""The shipped quantized-serving facts: every checkpoint is of a catalog model, once, with a
source and a quote; every measurement keeps both published numbers. And the reader refuses a
file that breaks those rules (unknown format or quantization, a checkpoint listed twice, a
format whose width or served quantization does not match). The Catalog carries every row, and a
data folder without the file still loads, with the facts empty."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from catalog.errors import CatalogFileError
from catalog.loaders import (
    CATALOG_DIR_ENV,
    DATA_FILES,
    OPTIONAL_DATA_FILES,
    load_base_catalog,
    load_catalog,
    shipped_data_dir,
)
from catalog.quantized_records import (
    CheckpointFormat,
    QuantizedFacts,
    ServedQuantization,
    read_quantized,
)
from planner.types import Quantization
from tests.conftest import FIXED_CATALOG

SHIPPED = shipped_data_dir() / "quantized_checkpoints.yaml"

_CHECKPOINT = {
    "model": "qwen2.5-7b",
    "of": "instruct",
    "format": "awq",
    "weight_bits": 4,
    "quantization": "int4",
    "hf_repo_id": "Qwen/Qwen2.5-7B-Instruct-AWQ",
    "publisher": "Qwen",
    "vllm_method": "awq_marlin",
    "source": "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct-AWQ",
    "quote": "4-bit precision | awq",
    "retrieved_on": "2026-12-03",
}


def _catalog_model_ids() -> set[str]:
    """The model ids of the shipped models.yaml, read directly (no catalog loader needed)."""
    data = yaml.safe_load((shipped_data_dir() / "models.yaml").read_text(encoding="utf-8"))
    return {row["id"] for row in data["models"]}


def _write(tmp_path: Path, checkpoints: list[dict[str, object]]) -> Path:
    path = tmp_path / "quantized_checkpoints.yaml"
    body = {
        "checkpoints": checkpoints,
        "format_speed": [],
        "lora_serving": [],
        "quantization_jobs": [],
        "cold_start": [],
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped() -> QuantizedFacts:
    return read_quantized(SHIPPED)


def test_the_shipped_file_reads_and_covers_every_section(shipped: QuantizedFacts) -> None:
    assert len(shipped.checkpoints) >= 20
    assert shipped.format_speed and shipped.lora_serving
    assert shipped.quantization_jobs and shipped.cold_start


def test_every_checkpoint_is_of_a_catalog_model(shipped: QuantizedFacts) -> None:
    models = _catalog_model_ids()
    for item in shipped.checkpoints:
        assert item.model in models, item.model


def test_every_fact_has_an_https_source_a_quote_and_the_day_it_was_read(
    shipped: QuantizedFacts,
) -> None:
    rows = (
        *shipped.checkpoints,
        *shipped.format_speed,
        *shipped.lora_serving,
        *shipped.quantization_jobs,
        *shipped.cold_start,
    )
    for row in rows:
        assert row.source.startswith("https://"), row
        assert row.quote.strip(), row
        assert row.retrieved_on.year >= 2024, row


def test_served_quantizations_are_tailors(shipped: QuantizedFacts) -> None:
    tailor = {q.value for q in Quantization}
    assert {q.value for q in ServedQuantization} <= tailor
    for item in shipped.checkpoints:
        if item.format is CheckpointFormat.MXFP4:
            assert item.quantization is None
        else:
            assert item.quantization is not None and item.quantization.value in tailor


def test_no_checkpoint_is_listed_twice(shipped: QuantizedFacts) -> None:
    keys = [c.key for c in shipped.checkpoints]
    assert len(keys) == len(set(keys))


def test_measurements_keep_both_published_numbers(shipped: QuantizedFacts) -> None:
    for speed in shipped.format_speed:
        assert speed.value_baseline > 0 and speed.value_format > 0
        assert speed.speedup > 0
    for lora in shipped.lora_serving:
        assert lora.slowdown > 0


def test_bitsandbytes_is_measured_slower_than_bf16(shipped: QuantizedFacts) -> None:
    bnb = [s for s in shipped.format_speed if s.format.value.startswith("bitsandbytes")]
    assert bnb and all(s.speedup < 1 for s in bnb)


def test_a_valid_minimal_file_reads(tmp_path: Path) -> None:
    facts = read_quantized(_write(tmp_path, [_CHECKPOINT]))
    assert facts.checkpoints_of("qwen2.5-7b")[0].hf_repo_id == "Qwen/Qwen2.5-7B-Instruct-AWQ"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", "exl2"),
        ("quantization", "nf4"),
        ("vllm_method", "bitsandbytes"),
        ("of", "chat"),
        ("weight_bits", 3),
        ("source", "http://example.com"),
        ("quote", ""),
    ],
)
def test_an_unknown_or_bad_value_is_refused_with_its_line(
    tmp_path: Path, field: str, value: object
) -> None:
    path = _write(tmp_path, [_CHECKPOINT, {**_CHECKPOINT, "model": "qwen2.5-14b", field: value}])
    with pytest.raises(CatalogFileError) as info:
        read_quantized(path)
    assert field in str(info.value)
    assert "quantized_checkpoints.yaml" in str(info.value)


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogFileError, match="speedup"):
        read_quantized(_write(tmp_path, [{**_CHECKPOINT, "speedup": 2.0}]))


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"format": "awq", "weight_bits": 8, "quantization": "int8"}, "8-bit"),
        ({"format": "fp8", "weight_bits": 8, "quantization": "int8"}, "quantization fp8"),
        ({"format": "gptq", "weight_bits": 8, "quantization": "int4"}, "quantization int8"),
        ({"format": "mxfp4", "weight_bits": 4, "quantization": "int4"}, "quantization null"),
    ],
)
def test_a_format_that_contradicts_its_width_or_quantization_is_refused(
    tmp_path: Path, changes: dict[str, object], why: str
) -> None:
    with pytest.raises(CatalogFileError, match=why):
        read_quantized(_write(tmp_path, [{**_CHECKPOINT, **changes}]))


def test_a_checkpoint_listed_twice_is_refused(tmp_path: Path) -> None:
    other = {**_CHECKPOINT, "hf_repo_id": "someone/Qwen2.5-7B-Instruct-AWQ"}
    with pytest.raises(CatalogFileError, match="two 4-bit awq checkpoints"):
        read_quantized(_write(tmp_path, [_CHECKPOINT, other]))


def test_the_same_model_in_two_widths_is_not_a_duplicate(tmp_path: Path) -> None:
    int8 = {
        **_CHECKPOINT,
        "format": "gptq",
        "weight_bits": 8,
        "quantization": "int8",
        "vllm_method": "gptq_marlin",
    }
    int4 = {**int8, "weight_bits": 4, "quantization": "int4"}
    assert len(read_quantized(_write(tmp_path, [int8, int4])).checkpoints) == 2


def test_a_checkpoint_of_an_unknown_model_is_caught_by_the_catalog_check(tmp_path: Path) -> None:
    facts = read_quantized(_write(tmp_path, [{**_CHECKPOINT, "model": "not-a-model"}]))
    assert {c.model for c in facts.checkpoints} - _catalog_model_ids() == {"not-a-model"}


def test_a_missing_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quantized_checkpoints.yaml"
    path.write_text(yaml.safe_dump({"checkpoints": [_CHECKPOINT]}), encoding="utf-8")
    with pytest.raises(CatalogFileError, match="format_speed"):
        read_quantized(path)


# The facts in the Catalog (catalog.loaders.load_quantized_tables).


@pytest.mark.parametrize(
    "folder", [shipped_data_dir(), FIXED_CATALOG.resolve()], ids=["shipped", "frozen"]
)
def test_the_catalog_carries_every_row_of_its_folder(folder: Path) -> None:
    catalog = load_base_catalog(folder)
    facts = read_quantized(folder / "quantized_checkpoints.yaml")
    assert catalog.quantized_checkpoints("qwen2.5-7b") == facts.checkpoints_of("qwen2.5-7b")
    assert catalog.quantized_checkpoints("Qwen2.5-7B") == facts.checkpoints_of("qwen2.5-7b")
    assert catalog.quantized_checkpoint_rows == facts.checkpoints
    assert catalog.format_speeds() == facts.format_speed
    assert catalog.lora_serving() == facts.lora_serving
    assert catalog.quantization_jobs() == facts.quantization_jobs
    assert catalog.cold_starts() == facts.cold_start
    assert catalog.quantized_checkpoints("no-such-model") == ()


def test_the_user_merged_catalog_keeps_the_facts() -> None:
    catalog = load_catalog()  # the frozen folder + the test's empty TAILOR_HOME
    assert catalog.quantized_checkpoint_rows == load_base_catalog().quantized_checkpoint_rows
    assert catalog.format_speeds() and catalog.lora_serving() and catalog.cold_starts()
    assert catalog.quantization_jobs()


def _folder_without_it(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in DATA_FILES:
        shutil.copyfile(FIXED_CATALOG / name, folder / name)
    assert "quantized_checkpoints.yaml" in OPTIONAL_DATA_FILES
    return folder


def test_a_data_folder_without_the_file_loads_with_the_facts_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder_without_it(tmp_path)
    monkeypatch.setenv(CATALOG_DIR_ENV, str(folder))
    catalog = load_catalog()
    assert catalog.models and catalog.quantized_checkpoints("qwen2.5-7b") == ()
    assert catalog.format_speeds() == catalog.lora_serving() == ()
    assert catalog.quantization_jobs() == catalog.cold_starts() == ()


def test_a_broken_file_in_the_data_folder_is_refused(tmp_path: Path) -> None:
    folder = _folder_without_it(tmp_path)
    _write(folder, [{**_CHECKPOINT, "format": "exl2"}])
    with pytest.raises(CatalogFileError, match="format"):
        load_base_catalog(folder)


def test_spot_interruption_rates_follow_their_sources() -> None:
    # The planner prices spot on these rows; their rates are conversions of the quoted facts:
    # a fraction p over T hours is -ln(1 - p) / T per instance-hour.
    import math

    from catalog import load_catalog

    catalog = load_catalog()
    rows = {r.cloud: r for r in catalog.spot_interruption_rows}
    assert set(rows) >= {"aws", "gcp", "azure", "default"}
    gcp = rows["gcp"]
    assert gcp.per_hour_low == pytest.approx(-math.log(0.95) / 24, rel=0.02)
    assert gcp.per_hour_high == pytest.approx(-math.log(0.85) / 24, rel=0.02)
    assert rows["azure"].per_hour_mid == pytest.approx(-math.log(0.80) / 672, rel=0.02)
    assert rows["aws"].per_hour_mid == pytest.approx(600 / 3066, rel=0.03)  # trace: losses / h
    assert rows["default"].per_hour_mid == pytest.approx(202 / 431, rel=0.01)
    assert catalog.spot_interruption("lambda") is rows["default"]
    for row in rows.values():
        assert row.per_hour_low <= row.per_hour_mid <= row.per_hour_high
        assert row.source.startswith("https://") and row.quote
