"""Parameter counts computed from the architecture reproduce the published totals exactly."""

from __future__ import annotations

import pytest

from catalog import total_params
from catalog.loaders import load_base_catalog, shipped_data_dir
from catalog.params import active_params

SHIPPED_CATALOG = load_base_catalog(shipped_data_dir())  # the shipped data, not the test catalog
SHIPPED = SHIPPED_CATALOG.models


def test_llama_31_8b_exact() -> None:
    # Published: 8,030,261,248 parameters (meta-llama/Llama-3.1-8B safetensors total).
    assert total_params(SHIPPED_CATALOG.model("meta-llama/Llama-3.1-8B")) == 8_030_261_248


@pytest.mark.parametrize("arch", [m for m in SHIPPED if m.published_params], ids=lambda m: m.id)
def test_every_published_count_is_reproduced(arch) -> None:
    # Each row cites its published count in `published_params_source`; tolerance: exact.
    assert total_params(arch) == arch.published_params


def test_at_least_twenty_models_and_most_checked() -> None:
    assert len(SHIPPED) >= 20
    assert sum(1 for m in SHIPPED if m.published_params) >= 25


@pytest.mark.parametrize(
    ("model", "published_active_b", "tolerance_b"),
    [
        # Mixtral paper (arXiv 2401.04088): 13B active of 47B.
        ("mixtral-8x7b", 12.9, 0.2),
        # Qwen3 model cards: 3.3B activated (30B-A3B), 22B activated (235B-A22B).
        ("qwen3-30b-a3b", 3.3, 0.1),
        ("qwen3-235b-a22b", 22.0, 0.3),
    ],
)
def test_moe_active_params_match_model_cards(model, published_active_b, tolerance_b) -> None:
    active = active_params(SHIPPED_CATALOG.model(model)) / 1e9
    assert active == pytest.approx(published_active_b, abs=tolerance_b)


def test_dense_model_is_all_active() -> None:
    arch = SHIPPED_CATALOG.model("qwen2.5-7b")
    assert active_params(arch) == total_params(arch)
