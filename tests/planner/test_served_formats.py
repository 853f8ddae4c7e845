"""Served weight formats (planner.quantization) on the frozen catalog's real rows: bf16 always,
fp8 only on FP8 GPUs, int4/int8 from a published checkpoint for published weights and from a
priced step after training for fine-tuned ones, bitsandbytes priced as its measured slow-down;
each speed factor, step time, LoRA penalty and cold start checked against the rows it names."""

from __future__ import annotations

import math
import statistics
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog import (
    Catalog,
    CheckpointFormat,
    GpuSku,
    ModelArch,
    SpeedFormat,
    VllmMethod,
    load_catalog,
    total_params,
)
from planner.estimators.terms import Term, evaluate_formula
from planner.quantization import (
    MARLIN_MIN_CAPABILITY,
    ObtainedBy,
    ServedFormat,
    ServedWeights,
    StepMethod,
    bitsandbytes_speed_factor,
    cold_start_seconds,
    compute_capability,
    quantization_step_hours,
    served_formats,
    speed_factor,
    unmerged_lora_slowdown,
)
from planner.types import Quantization

CATALOG = load_catalog()
PUBLISHED, FINE_TUNED = ServedWeights.PUBLISHED, ServedWeights.FINE_TUNED


def _options(model: str, gpu: str, weights: ServedWeights) -> dict[Quantization, ServedFormat]:
    found = served_formats(CATALOG, CATALOG.model(model), CATALOG.gpu(gpu), weights=weights)
    return {o.quantization: o for o in found.options}


def _refusal(model: str, gpu: str, weights: ServedWeights, q: Quantization) -> str:
    found = served_formats(CATALOG, CATALOG.model(model), CATALOG.gpu(gpu), weights=weights)
    return next(str(r) for r in found.refused if r.subject.split()[2] == q.value)


def _evaluates(term: Term) -> None:
    assert evaluate_formula(term.formula) == pytest.approx(term.value, rel=1e-5), term


def _checkpoint(model: str, fmt: CheckpointFormat, bits: int) -> str:
    return next(
        c.hf_repo_id
        for c in CATALOG.quantized_checkpoints(model)
        if c.format is fmt and c.weight_bits == bits and c.of.value == "instruct"
    )


def test_a_published_awq_checkpoint_serves_prompt_plans_and_a_step_serves_fine_tuned() -> None:
    awq = _checkpoint("llama-3.1-70b", CheckpointFormat.AWQ, 4)
    published = _options("llama-3.1-70b", "H100", PUBLISHED)[Quantization.INT4]
    assert published.obtained_by is ObtainedBy.PUBLISHED and published.hf_repo_id == awq
    assert published.hf_repo_id == "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    assert published.vllm_method is VllmMethod.AWQ_MARLIN and published.step is None
    assert published.vllm_quantization is None  # vLLM reads the method from config.json
    tuned = _options("llama-3.1-70b", "H100", FINE_TUNED)[Quantization.INT4]
    assert tuned.obtained_by is ObtainedBy.QUANTIZE_AFTER_TRAINING and tuned.hf_repo_id is None
    assert tuned.step is not None and tuned.step.method is StepMethod.AWQ
    assert tuned.step.weight_bits == 4 and tuned.step.gpu_hours.value > 0
    assert tuned.vllm_quantization is None and tuned.vllm_method is VllmMethod.AWQ_MARLIN


def test_no_published_int4_means_no_int4_for_a_prompt_plan_but_a_step_after_training() -> None:
    assert not CATALOG.quantized_checkpoints("qwen2.5-14b")
    assert Quantization.INT4 not in _options("qwen2.5-14b", "H100", PUBLISHED)
    assert "no published int4 checkpoint" in _refusal(
        "qwen2.5-14b", "H100", PUBLISHED, Quantization.INT4
    )
    assert _options("qwen2.5-14b", "H100", FINE_TUNED)[Quantization.INT4].step is not None


@pytest.mark.parametrize("gpu", ["V100", "A100", "A100-80GB", "T4", "A10G"])
@pytest.mark.parametrize("weights", list(ServedWeights))
def test_gpus_without_fp8_get_no_fp8(gpu: str, weights: ServedWeights) -> None:
    assert not CATALOG.gpu(gpu).supports_fp8
    assert Quantization.FP8 not in _options("llama-3.1-8b", gpu, weights)
    assert "no FP8 tensor cores" in _refusal("llama-3.1-8b", gpu, weights, Quantization.FP8)


def test_v100_below_marlin_gets_bf16_only_and_a100_keeps_int4() -> None:
    assert compute_capability(CATALOG.gpu("V100")) == 7.0 < MARLIN_MIN_CAPABILITY
    for weights in ServedWeights:
        assert list(_options("llama-3.1-8b", "V100", weights)) == [Quantization.BF16]
        assert Quantization.INT4 in _options("llama-3.1-8b", "A100", weights)
    assert "below 7.5" in _refusal("llama-3.1-8b", "V100", FINE_TUNED, Quantization.INT4)


def test_fp8_published_checkpoint_else_dynamic_and_dynamic_for_fine_tuned() -> None:
    fp8 = _checkpoint("llama-3.1-8b", CheckpointFormat.FP8, 8)
    published = _options("llama-3.1-8b", "L4", PUBLISHED)[Quantization.FP8]
    assert published.obtained_by is ObtainedBy.PUBLISHED and published.hf_repo_id == fp8
    assert published.vllm_quantization is None
    for model, weights in [("qwen2.5-14b", PUBLISHED), ("llama-3.1-8b", FINE_TUNED)]:
        dynamic = _options(model, "H100", weights)[Quantization.FP8]
        assert dynamic.obtained_by is ObtainedBy.AT_LOAD and dynamic.step is None
        assert dynamic.vllm_quantization == "fp8" and dynamic.hf_repo_id is None


def test_int8_only_from_a_published_checkpoint_or_a_gptq_8bit_step() -> None:
    gptq8 = _checkpoint("qwen2.5-7b", CheckpointFormat.GPTQ, 8)
    published = _options("qwen2.5-7b", "A10G", PUBLISHED)[Quantization.INT8]
    assert published.hf_repo_id == gptq8 and published.checkpoint_format is CheckpointFormat.GPTQ
    assert Quantization.INT8 not in _options("qwen2.5-14b", "A10G", PUBLISHED)
    step = _options("qwen2.5-14b", "A10G", FINE_TUNED)[Quantization.INT8].step
    assert step is not None and step.method is StepMethod.GPTQ and step.weight_bits == 8


def test_w8a8_int8_is_refused_on_blackwell_and_has_no_measured_speed() -> None:
    w8a8 = _checkpoint("llama-3.1-70b", CheckpointFormat.W8A8_INT8, 8)
    on_h100 = _options("llama-3.1-70b", "H100", PUBLISHED)[Quantization.INT8]
    assert on_h100.hf_repo_id == w8a8 and on_h100.speed_vs_bf16 is None  # none published
    assert Quantization.INT8 not in _options("llama-3.1-70b", "B200", PUBLISHED)
    assert "10.0" in _refusal("llama-3.1-70b", "B200", PUBLISHED, Quantization.INT8)


def test_amd_gets_bf16_and_fp8_only() -> None:
    for weights in ServedWeights:
        assert list(_options("llama-3.1-8b", "MI300X", weights)) == [
            Quantization.BF16,
            Quantization.FP8,
        ]
    assert "CUDA-only" in _refusal("llama-3.1-8b", "MI300X", PUBLISHED, Quantization.INT4)


def test_of_two_published_int4_checkpoints_the_faster_measured_format_is_chosen() -> None:
    chosen = _options("llama-3.1-8b", "H100", PUBLISHED)[Quantization.INT4]
    rows = CATALOG.format_speeds()
    awq = speed_factor(rows, (SpeedFormat.AWQ, SpeedFormat.AWQ_MARLIN), 4)
    gptq = speed_factor(rows, (SpeedFormat.GPTQ, SpeedFormat.GPTQ_MARLIN), 4)
    assert awq is not None and gptq is not None
    faster = CheckpointFormat.GPTQ if gptq.value > awq.value else CheckpointFormat.AWQ
    assert chosen.checkpoint_format is faster
    other = _checkpoint("llama-3.1-8b", CheckpointFormat.AWQ, 4)
    assert other in chosen.basis or chosen.hf_repo_id == other


def _oracle_speedup(formats: set[SpeedFormat], bits: int) -> tuple[float, int]:
    rows = [
        r
        for r in CATALOG.format_speeds()
        if r.format in formats
        and r.weight_bits == bits
        and r.gpu_count_baseline == r.gpu_count_format
    ]
    ratios = [
        r.value_format / r.value_baseline
        if r.higher_is_better
        else r.value_baseline / r.value_format
        for r in rows
    ]
    return statistics.median(ratios), len(rows)


@pytest.mark.parametrize(
    ("formats", "bits"),
    [
        ({SpeedFormat.FP8}, 8),
        ({SpeedFormat.AWQ, SpeedFormat.AWQ_MARLIN}, 4),
        ({SpeedFormat.GPTQ, SpeedFormat.GPTQ_MARLIN}, 4),
        ({SpeedFormat.GPTQ, SpeedFormat.GPTQ_MARLIN}, 8),
        ({SpeedFormat.BITSANDBYTES_NF4}, 4),
    ],
)
def test_speed_factors_are_the_median_of_their_rows(formats: set[SpeedFormat], bits: int) -> None:
    term = speed_factor(CATALOG.format_speeds(), formats, bits)
    expected, count = _oracle_speedup(formats, bits)
    assert term is not None and term.value == pytest.approx(expected, rel=1e-12)
    assert f"median of {count} published" in term.basis
    _evaluates(term)


def test_the_72b_awq_row_on_fewer_gpus_is_left_out_of_the_median() -> None:
    term = speed_factor(CATALOG.format_speeds(), (SpeedFormat.AWQ, SpeedFormat.AWQ_MARLIN), 4)
    assert term is not None and "1 on unequal GPU counts left out" in term.basis
    assert "Qwen2.5-72B-Instruct" not in term.basis


def test_bitsandbytes_is_priced_as_its_measured_slow_down() -> None:
    row = next(r for r in CATALOG.format_speeds() if r.format is SpeedFormat.BITSANDBYTES_NF4)
    term = bitsandbytes_speed_factor(CATALOG)
    assert term is not None and term.value < 1
    assert term.value == pytest.approx(row.value_baseline / row.value_format)  # 45 s vs 71 s
    assert row.source in term.basis
    assert bitsandbytes_speed_factor(CATALOG, 8) is None  # no 8-bit row: absent, not imputed


def test_marlin_int4_and_fp8_are_measured_faster_than_bf16() -> None:
    for q in (Quantization.FP8, Quantization.INT4):
        term = _options("llama-3.1-70b", "H100", PUBLISHED)[q].speed_vs_bf16
        assert term is not None and term.value > 1


def _rates(method: str) -> list[float]:
    return [
        j.hours * (1 if j.hours_kind == "gpu-hours" else (j.gpu_count or 1)) / j.params_billion
        for j in CATALOG.quantization_jobs()
        if j.method == method
    ]


@pytest.mark.parametrize(("method", "name"), [(StepMethod.AWQ, "AWQ"), (StepMethod.GPTQ, "GPTQ")])
@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen2.5-14b", "llama-3.1-70b"])
def test_step_hours_are_params_times_the_median_published_rate(
    method: StepMethod, name: str, model: str
) -> None:
    arch = CATALOG.model(model)
    term = quantization_step_hours(CATALOG, arch, method)
    rates = _rates(name)
    assert term is not None and rates
    assert term.value == pytest.approx(total_params(arch) / 1e9 * statistics.median(rates))
    assert "Assumption" in term.basis and f"{len(rates)} published {name} run" in term.basis
    _evaluates(term)


def test_step_hours_scale_linearly_with_parameters() -> None:
    small, large = CATALOG.model("llama-3.1-8b"), CATALOG.model("llama-3.1-70b")
    a = quantization_step_hours(CATALOG, small, StepMethod.AWQ)
    b = quantization_step_hours(CATALOG, large, StepMethod.AWQ)
    assert a is not None and b is not None
    assert b.value / a.value == pytest.approx(total_params(large) / total_params(small))


def _bare(**rows: object) -> Catalog:
    """The frozen catalog's GPUs and models with only the quantized rows given."""
    return Catalog(
        gpus=CATALOG.gpus, models=CATALOG.models, snapshot_date=date(2026, 12, 3), **rows
    )


def test_without_published_runs_the_step_cannot_be_priced_so_it_is_refused() -> None:
    catalog = _bare(format_speed_rows=CATALOG.format_speed_rows)
    arch, sku = catalog.model("llama-3.1-8b"), catalog.gpu("H100")
    found = served_formats(catalog, arch, sku, weights=FINE_TUNED)
    assert [o.quantization for o in found.options] == [Quantization.BF16, Quantization.FP8]
    assert all("no published" in r.detail for r in found.refused)


def test_without_any_quantized_facts_only_bf16_and_dynamic_fp8_remain() -> None:
    catalog = _bare()
    arch = catalog.model("llama-3.1-70b")
    found = served_formats(catalog, arch, catalog.gpu("H100"), weights=PUBLISHED)
    assert [o.quantization for o in found.options] == [Quantization.BF16, Quantization.FP8]
    assert found.options[1].speed_vs_bf16 is None  # no measurement: absent, never imputed
    assert unmerged_lora_slowdown(catalog) is None and cold_start_seconds(catalog, arch) is None


def test_unmerged_lora_slowdown_is_the_median_of_the_published_rows() -> None:
    rows = CATALOG.lora_serving()
    term = unmerged_lora_slowdown(CATALOG)
    assert term is not None and term.value > 1
    assert term.value == pytest.approx(statistics.median(r.slowdown for r in rows))
    assert f"median of {len(rows)} published" in term.basis
    assert all(r.source in term.basis for r in rows)
    _evaluates(term)


def _phase(source_tail: str, phase: str) -> float:
    return next(
        r.seconds
        for r in CATALOG.cold_starts()
        if r.source.endswith(source_tail) and r.phase == phase
    )


def test_cold_start_of_an_8b_uses_the_8b_engine_start_plus_its_disk_read() -> None:
    arch = CATALOG.model("llama-3.1-8b")
    term = cold_start_seconds(CATALOG, arch)
    engine = _phase("pull/11005", "engine init (profile, KV cache, warmup), -O3 with torch.compile")
    disk = next(r for r in CATALOG.cold_starts() if r.scope.value == "replica")
    assert term is not None
    assert term.value == pytest.approx(engine + disk.seconds * total_params(arch) * 2 / 140e9)
    assert "lower bound" in term.basis and disk.source in term.basis
    _evaluates(term)


def test_cold_start_of_a_70b_sums_its_phases_and_adds_p2p_only_with_tensor_parallelism() -> None:
    arch = CATALOG.model("llama-3.1-70b")
    one = cold_start_seconds(CATALOG, arch)
    four = cold_start_seconds(CATALOG, arch, tensor_parallel=4)
    assert one is not None and four is not None
    assert four.value - one.value == pytest.approx(_phase("issues/19824", "P2P access check"))
    small = cold_start_seconds(CATALOG, CATALOG.model("llama-3.1-8b"))
    assert small is not None and one.value > small.value
    _evaluates(four)


# gpt-oss ships MXFP4 weights, none of tailor's formats (quantized_checkpoints.yaml).
_MODELS = [m for m in CATALOG.models if not m.id.startswith("gpt-oss")]


@given(
    gpu=st.sampled_from(CATALOG.gpus),
    arch=st.sampled_from(_MODELS),
    weights=st.sampled_from(list(ServedWeights)),
)
def test_every_choice_obeys_the_rules(arch: ModelArch, gpu: GpuSku, weights: ServedWeights) -> None:
    found = served_formats(CATALOG, arch, gpu, weights=weights)
    decided = [o.quantization for o in found.options] + [
        Quantization(r.subject.split()[2]) for r in found.refused
    ]
    assert sorted(decided) == sorted(Quantization) and found.options[0].quantization == "bf16"
    cc = compute_capability(gpu)
    for o in found.options:
        assert (o.vllm_quantization == "fp8") == (o.obtained_by is ObtainedBy.AT_LOAD)
        if o.quantization is Quantization.FP8:
            assert gpu.supports_fp8
        if o.quantization in (Quantization.INT4, Quantization.INT8):
            assert cc is not None and cc >= MARLIN_MIN_CAPABILITY
        if weights is FINE_TUNED:
            assert o.hf_repo_id is None and o.obtained_by is not ObtainedBy.PUBLISHED
        if o.obtained_by is ObtainedBy.PUBLISHED:
            ids = {c.hf_repo_id for c in CATALOG.quantized_checkpoints(arch.id)}
            assert o.hf_repo_id in ids
        if o.speed_vs_bf16 is not None:
            assert math.isfinite(o.speed_vs_bf16.value)
            _evaluates(o.speed_vs_bf16)
        if o.step is not None:
            _evaluates(o.step.gpu_hours)


@pytest.mark.parametrize(
    ("model", "gpu", "tp"),
    [("qwen2.5-7b", "A100-80GB", 1), ("llama-3.1-70b", "H100", 4), ("llama-3.1-8b", "L4", 1)],
)
def test_a_quantized_format_decodes_at_its_published_speed_not_its_bytes(
    model: str, gpu: str, tp: int
) -> None:
    """int4 kernels dequantize as they read: the step model runs them at the measured ×bf16,
    not at the 4× their 0.5 B per weight would give."""
    from planner.estimators.serving import DecodeModel, ServingSetup
    from planner.serving_options import SPEED_CONTEXT_TOKENS, kernel_read_bytes

    arch, sku = CATALOG.model(model), CATALOG.gpu(gpu)
    prompt, output = SPEED_CONTEXT_TOKENS

    def step(q: Quantization, read: float | None = None) -> float:
        setup = ServingSetup(
            quantization=q,
            tensor_parallel=tp,
            input_tokens=prompt,
            output_tokens=output,
            weight_read_bytes_per_param=read,
        )
        return DecodeModel(arch, sku, setup).step_s(1)

    fmt = _options(model, gpu, PUBLISHED)[Quantization.INT4]
    assert fmt.speed_vs_bf16 is not None
    read, basis = kernel_read_bytes(arch, sku, tp, fmt)
    assert read is not None and basis is not None and read > 0.5
    term = basis.term()
    assert term.value == read
    _evaluates(term)
    nominal = step(Quantization.BF16) / step(Quantization.INT4)
    assert nominal > fmt.speed_vs_bf16.value * 1.2  # the bytes alone would be too fast
    assert step(Quantization.BF16) / step(Quantization.INT4, read) == pytest.approx(
        fmt.speed_vs_bf16.value, rel=1e-6
    )
    fp8 = _options(model, gpu, PUBLISHED).get(Quantization.FP8)
    if fp8 is not None:  # fp8's measured 2.03× is what its 1 B per weight gives: unchanged
        assert kernel_read_bytes(arch, sku, tp, fp8) == (None, None)
