"""The calibrated decode model (planner.estimators.efficiency.DECODE_EFFICIENCY).

Its constants are what bench/fit_decode.py fits on the FIT split of
tests/data/published_measurements.yaml (re-fitted here, ~2 s) and what tests/data/decode_fit.json
stores; on the held-out TEST split it beats the literature constants it replaced; and it behaves
physically: throughput grows with the batch and levels off, one stream never outruns the
bandwidth roofline, and the queue model's StepLines give the same step as DecodeModel.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog import load_catalog
from catalog.loaders import CATALOG_DIR_ENV
from planner.estimators.efficiency import DECODE_EFFICIENCY
from planner.estimators.serving import DecodeModel, ServingSetup, serving_weight_bytes
from planner.estimators.terms import evaluate_formula
from planner.types import Quantization

ROOT = Path(__file__).resolve().parents[2]
FIT_SCRIPT = ROOT / "bench" / "fit_decode.py"
FIT_JSON = ROOT / "tests" / "data" / "decode_fit.json"
# Held-out median |error| the calibrated model must stay under. Issue #3 targets 20 % for
# decode throughput; the fit reaches 8.5 % on the TEST split (tests/data/decode_fit.json), the
# literature constants 12.7 %.
TEST_MEDIAN_LIMIT_PCT = 12.0


@pytest.fixture(scope="module")
def fit_decode() -> ModuleType:
    """bench/fit_decode.py imported as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fit_decode", FIT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fit_decode"] = module  # dataclasses resolve their module while being built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["fit_decode"]
    return module


@pytest.fixture(scope="module")
def rows(fit_decode: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> list:
    """Every modelled row, read against the shipped catalog as the bench reads it (the frozen
    test catalog lacks some of the measured GPUs and models) and no user additions."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(CATALOG_DIR_ENV, raising=False)
        patch.setenv("TAILOR_HOME", str(tmp_path_factory.mktemp("home")))
        modelled, _skipped = fit_decode.load_rows()
    return modelled


def test_constants_are_the_fit_of_the_fit_split(fit_decode: ModuleType, rows: list) -> None:
    fitted = fit_decode.fit([r for r in rows if fit_decode.is_fit(r)])
    shipped = fit_decode.constants(DECODE_EFFICIENCY)
    for name, value in fit_decode.constants(fitted).items():
        assert shipped[name] == pytest.approx(value, rel=0.01), (
            f"{name}: efficiency.py has {shipped[name]}, the fit gives {value}. To fix: run "
            ".venv/bin/python bench/fit_decode.py --write and copy the constants"
        )


def test_stored_fit_is_the_shipped_one(fit_decode: ModuleType) -> None:
    stored = json.loads(FIT_JSON.read_text(encoding="utf-8"))
    assert stored["constants"] == pytest.approx(fit_decode.constants(DECODE_EFFICIENCY))
    assert stored["test"]["median_abs_error_pct"] < stored["legacy_test"]["median_abs_error_pct"]


def test_splits_hold_out_whole_publications(fit_decode: ModuleType, rows: list) -> None:
    fit_sources = {fit_decode.source_key(r.source) for r in rows if fit_decode.is_fit(r)}
    test_sources = {fit_decode.source_key(r.source) for r in rows if not fit_decode.is_fit(r)}
    assert fit_sources and test_sources
    assert not fit_sources & test_sources
    assert set(fit_sources | test_sources) <= set(fit_decode.SOURCES)  # every source is dated


def test_held_out_error_beats_the_old_constants(fit_decode: ModuleType, rows: list) -> None:
    test_rows = [r for r in rows if not fit_decode.is_fit(r)]
    assert len(test_rows) >= 40
    calibrated = statistics.median(fit_decode.errors(test_rows, DECODE_EFFICIENCY))
    old = statistics.median(fit_decode.errors(test_rows, fit_decode.LEGACY))
    assert calibrated < TEST_MEDIAN_LIMIT_PCT
    assert calibrated < old


def test_throughput_stops_being_optimistic_at_large_batch(
    fit_decode: ModuleType, rows: list
) -> None:
    # The old constants were 1.2–2× optimistic at large batch; on the TEST rows above batch 16
    # the calibrated estimates are centred on the measurements (median signed error < 10 %).
    big = [r for r in rows if not fit_decode.is_fit(r) and (r.requested_batch or 10**9) > 16]
    signed = [fit_decode.error_pct(r, fit_decode.estimate(r, DECODE_EFFICIENCY)) for r in big]
    assert len(big) >= 20
    assert abs(statistics.median(signed)) < 10


CASES = [  # model, GPU, weights, tensor parallel
    ("llama-3.1-8b", "H100", "bf16", 1),
    ("llama-3.1-8b", "L40S", "fp8", 1),
    ("llama-3.1-70b", "A100-80GB", "bf16", 4),
    ("mixtral-8x7b", "H100", "bf16", 2),  # MoE: the weights read grow with the batch
    ("qwen2.5-7b", "MI300X", "bf16", 1),  # CDNA
]


def _model(name: str, gpu: str, quant: str, tp: int, context: int = 1024) -> DecodeModel:
    catalog = load_catalog()
    setup = ServingSetup(
        quantization=Quantization(quant),
        tensor_parallel=tp,
        input_tokens=context,
        output_tokens=256,
    )
    return DecodeModel(catalog.model(name), catalog.gpu(gpu), setup)


@pytest.mark.parametrize(("name", "gpu", "quant", "tp"), CASES)
def test_throughput_grows_with_batch_and_levels_off(name: str, gpu: str, quant: str, tp: int):
    model = _model(name, gpu, quant, tp)
    batches = [2**k for k in range(13)]
    rates = [b / model.step_s(b) for b in batches]
    assert all(later > earlier for earlier, later in itertools.pairwise(rates))
    gains = [later / earlier for earlier, later in itertools.pairwise(rates)]
    assert gains[-1] < 1.2 < gains[0]  # doubling the batch nearly doubles it at first only
    # Ceiling: every sequence costs at least its FLOPs and its per-sequence overhead.
    per_sequence = model.step_flops_per_sequence / model.decode_flops_per_s
    assert rates[-1] < 1 / (per_sequence + model.sequence_overhead_s)


@given(
    name=st.sampled_from(["llama-3.2-1b", "llama-3.1-8b", "qwen2.5-72b", "mixtral-8x7b"]),
    gpu=st.sampled_from(["A100-80GB", "H100", "L40S", "MI300X", "B200"]),
    quant=st.sampled_from(["bf16", "fp8", "int4"]),
    tp=st.sampled_from([1, 2, 4, 8]),
    context=st.integers(1, 32_000),
)
def test_one_stream_never_outruns_the_bandwidth_roofline(name, gpu, quant, tp, context):
    model = _model(name, gpu, quant, tp, context)
    weights_per_gpu = serving_weight_bytes(model.arch, model.setup.quantization) / tp
    roofline = model.gpu.memory_bandwidth_gb_per_s * 1e9 / weights_per_gpu
    if not model.arch.is_moe:  # a MoE step at batch 1 reads only the routed experts
        assert 1 / model.step_s(1) <= roofline
    assert 0 < model.bandwidth_utilization(1) <= DECODE_EFFICIENCY.bandwidth_fraction


@pytest.mark.parametrize(("name", "gpu", "quant", "tp"), CASES)
def test_step_lines_give_the_decode_step(name: str, gpu: str, quant: str, tp: int) -> None:
    model = _model(name, gpu, quant, tp)
    lines = model.step_lines(model.context_tokens)
    for batch in (1, 7, 64, 512):
        step = lines.step_s(batch, 0)
        if model.arch.is_moe:  # the queue model swaps in the fixed part of the routed experts
            step += model.moe_memory_fixed_s(batch) - lines.memory_fixed_s
        # int(context) in the attention FLOPs of both: equal up to float rounding
        assert step == pytest.approx(model.step_s(batch), rel=1e-9)


@pytest.mark.parametrize(("name", "gpu", "quant", "tp"), CASES)
def test_decode_step_formula_evaluates_to_its_value(name: str, gpu: str, quant: str, tp: int):
    model = _model(name, gpu, quant, tp)
    step = next(t for t in model.terms(32) if t.name == "decode_step")
    assert evaluate_formula(step.formula) == pytest.approx(step.value, rel=1e-4)
