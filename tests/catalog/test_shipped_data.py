"""The shipped snapshot: required rows present, every number sourced and dated, sane figures."""

from __future__ import annotations

from datetime import date

import pytest

from catalog.loaders import load_base_catalog, shipped_data_dir

CATALOG = load_base_catalog(shipped_data_dir())  # the shipped data, not the test catalog
REQUIRED_GPUS = [
    "T4",
    "L4",
    "A10G",
    "A10",
    "L40S",
    "V100",
    "A6000",
    "RTX4090",
    "A100",
    "A100-80GB",
    "H100",
    "H100-PCIe",
    "H200",
    "B200",
    "MI300X",
]
REQUIRED_MODELS = [
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-3.3-70b",
    "qwen2.5-0.5b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "qwen3-8b",
    "qwen3-30b-a3b",
    "qwen3-235b-a22b",
    "mistral-7b",
    "mixtral-8x7b",
    "gemma-2-2b",
    "gemma-2-9b",
    "gemma-2-27b",
    "phi-3-mini",
    "phi-4",
    "gpt-oss-20b",
    "gpt-oss-120b",
]


@pytest.mark.parametrize("name", REQUIRED_GPUS)
def test_required_gpu_present_with_source(name: str) -> None:
    sku = CATALOG.gpu(name)
    assert sku.source.startswith("http")
    assert sku.retrieved_on <= date(2026, 12, 31)
    assert sku.memory_bandwidth_gb_per_s > 0


@pytest.mark.parametrize("sku", CATALOG.gpus, ids=lambda g: g.name)
def test_gpu_figures_are_dense_and_consistent(sku) -> None:
    # Dense FP8 is twice dense BF16 on Hopper/Ada/Blackwell/CDNA3; a sparse figure would be 4x.
    if sku.fp8_dense_tflops and sku.bf16_dense_tflops:
        assert sku.fp8_dense_tflops <= 2.05 * sku.bf16_dense_tflops
    assert sku.supports_bf16 == (sku.bf16_dense_tflops is not None)
    assert sku.memory_gib <= sku.memory_gb * 1.075  # GB→GiB can only shrink past 7.4 %
    assert sku.memory_gib >= sku.memory_gb * 0.9


def test_h100_datasheet_figures() -> None:
    # NVIDIA H100 datasheet (SXM5): 989 TFLOPS BF16 dense (1,979 with sparsity), 3.35 TB/s.
    h100 = CATALOG.gpu("H100")
    assert h100.bf16_dense_tflops == pytest.approx(989, rel=0.01)
    assert h100.memory_bandwidth_gb_per_s == pytest.approx(3350, rel=0.01)
    # L4 datasheet: 121 TFLOPS BF16 dense (242 sparse), 300 GB/s; driver reports 23,034 MiB.
    l4 = CATALOG.gpu("L4")
    assert l4.bf16_dense_tflops == pytest.approx(121, rel=0.01)
    assert l4.memory_gib == pytest.approx(22.49, abs=0.01)


@pytest.mark.parametrize("model_id", REQUIRED_MODELS)
def test_required_model_present(model_id: str) -> None:
    arch = CATALOG.model(model_id)
    assert arch.source.startswith("https://huggingface.co/")
    assert arch.license


def test_every_offer_is_priced_sourced_and_dated() -> None:
    assert len(CATALOG.offers) > 1000
    for offer in CATALOG.offers:
        assert offer.source and offer.retrieved_on
        assert offer.price_usd_per_hour > 0
        if offer.spot_price_usd_per_hour is not None:
            assert offer.spot_price_usd_per_hour <= offer.price_usd_per_hour * 1.5, offer
        assert CATALOG.find_gpu(offer.gpu) is not None


def test_offers_cover_major_clouds() -> None:
    assert {"aws", "gcp", "azure", "lambda", "runpod"} <= set(CATALOG.clouds())


def test_gcp_offer_adds_host_vm_and_gpu_rows() -> None:
    # Snapshot rows (gcp/vms.csv, us-central1-a): a2-highgpu-1g host 0.73948 + A100 x1 2.93391.
    offer = next(
        o
        for o in CATALOG.offers
        if o.cloud == "gcp" and o.region == "us-central1" and o.instance_type == "a2-highgpu-1g"
    )
    assert offer.price_usd_per_hour == pytest.approx(0.73948 + 2.93391, abs=1e-5)
    assert offer.host_price_usd_per_hour == pytest.approx(0.73948)


def test_api_models_have_prices_and_sources() -> None:
    providers = {a.provider for a in CATALOG.api_models}
    assert {"openai", "anthropic"} <= providers
    assert any(a.fine_tuning and a.fine_tuning.training_usd_per_mtok for a in CATALOG.api_models)
    for api in CATALOG.api_models:
        assert api.source and api.retrieved_on
        assert api.output_usd_per_mtok >= api.input_usd_per_mtok


def test_gpt_4o_mini_prices() -> None:
    # openai.com/api/pricing: gpt-4o-mini $0.15 in / $0.60 out; fine-tuning $3.00 training.
    api = CATALOG.api_model("gpt-4o-mini")
    assert (api.input_usd_per_mtok, api.output_usd_per_mtok) == (0.15, 0.60)
    assert api.fine_tuning is not None and api.fine_tuning.training_usd_per_mtok == 3.0
