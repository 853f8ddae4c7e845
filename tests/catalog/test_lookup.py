"""Names resolve the way users type them; unknown names say what is close."""

from __future__ import annotations

import pytest

from catalog import UnknownNameError
from catalog.loaders import load_base_catalog, shipped_data_dir

CATALOG = load_base_catalog(shipped_data_dir())  # the shipped data, not the test catalog


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-3.1-8B", "llama-3.1-8b"),
        ("llama-3.1-8b", "llama-3.1-8b"),
        ("Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("Llama-2-7b", "llama-2-7b"),
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
        ("mistralai/Mistral-7B-v0.1", "mistral-7b"),
        ("openai/gpt-oss-20b", "gpt-oss-20b"),
    ],
)
def test_model_aliases(name: str, expected: str) -> None:
    assert CATALOG.model(name).id == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("h100", "H100"),
        ("H100-SXM", "H100"),
        ("a100 80gb", "A100-80GB"),
        ("RTXA6000", "A6000"),
        ("h100-pcie", "H100-PCIe"),
        ("mi300x", "MI300X"),
    ],
)
def test_gpu_aliases(name: str, expected: str) -> None:
    assert CATALOG.gpu(name).name == expected


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        CATALOG.model("llama-3.1-9b")
    message = str(info.value)
    assert "llama-3.1-8b" in message and "To fix:" in message


def test_unknown_gpu_names_the_listing_command() -> None:
    with pytest.raises(UnknownNameError, match="tailor catalog gpus"):
        CATALOG.gpu("H1000")


def test_offers_for_gpu_use_canonical_name() -> None:
    offers = CATALOG.offers_for("h100")
    assert offers and all(o.gpu == "H100" for o in offers)
