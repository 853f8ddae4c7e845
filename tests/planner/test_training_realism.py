"""Training plans as a GPU runs them: the precision the GPU has, memory headroom, the knobs.

- No plan trains in bf16 on a GPU without bf16: Volta/Turing (V100, T4) train in fp16 mixed
  precision at their fp16 tensor peak, and `tailor estimate train` refuses bf16 there.
- A setup fits only at ≤ MEMORY_LIMIT (90 %) of the GPU's memory; plans say how close they are.
- The LoRA-target and precision knobs move the estimate the way the parameter counts say.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog import load_catalog, total_params
from planner.errors import PlannerError
from planner.estimate import estimate_train
from planner.estimators.training_setup import (
    ATTENTION_TARGETS,
    LORA_TARGETS,
    MEMORY_LIMIT,
    TrainingSetup,
    lora_target_names,
)
from planner.graph import build_decision_graph
from planner.spec import load_goal, parse_goal
from planner.training_options import precision_for
from planner.types import Method, Precision

GOALS = sorted((Path(__file__).resolve().parents[2] / "examples" / "goals").glob("*.yaml"))


def _trainings(goal):
    graph = build_decision_graph(goal, load_catalog())
    plans = [*graph.candidates, *(p for p, _ in graph.over_limits)]
    return [p.training for p in plans if p.training is not None]


@pytest.mark.parametrize("path", GOALS, ids=lambda p: p.stem)
def test_no_plan_trains_in_bf16_on_a_gpu_without_it(path: Path) -> None:
    gpus = {g.name: g for g in load_catalog().gpus}
    for t in _trainings(load_goal(path)):
        sku = gpus[t.offer.gpu]
        assert (t.precision is Precision.FP16_MIXED) == (not sku.supports_bf16), t.offer
        assert t.peak_memory_gib_per_gpu <= MEMORY_LIMIT * t.gpu_memory_gib + 0.01


def test_volta_and_turing_train_in_fp16_at_their_fp16_peak() -> None:
    # A 3B LoRA restricted to V100 and T4: both lack bf16 (catalog supports_bf16: false), so
    # the plan is fp16-mixed and its tokens/s uses the fp16 tensor peak (V100 125, T4 65
    # TFLOP/s dense).
    text = _small_goal(gpus=["V100", "T4"])
    trainings = _trainings(parse_goal(yaml.safe_load(text), source="test"))
    assert trainings, "the goal trains somewhere"
    catalog = {g.name: g for g in load_catalog().gpus}
    for t in trainings:
        assert t.offer.gpu in {"V100", "T4"}
        assert t.precision is Precision.FP16_MIXED
        rate = next(x for x in t.built_terms() if x.name == "train.tokens_per_s")
        assert f"{catalog[t.offer.gpu].fp16_dense_tflops:g}e12" in rate.formula
        assert "FP16" in rate.basis


def _small_goal(*, gpus: list[str]) -> str:
    return f"""
name: fp16-check
task: {{type: classification, needs_custom_behavior: true}}
data: {{train_examples: 2000, avg_example_tokens: 300}}
traffic:
  requests_per_month: 100000
  peak_requests_per_s: 0.2
  avg_input_tokens: 300
  avg_output_tokens: 10
models: {{candidates: [llama-3.2-3b], methods: [lora]}}
preferences: {{gpus: {gpus}}}
"""


def test_every_catalog_gpu_gets_the_precision_it_has() -> None:
    for sku in load_catalog().gpus:
        precision, why = precision_for(sku)
        if sku.supports_bf16:
            assert precision is Precision.BF16_MIXED
        else:
            assert precision is Precision.FP16_MIXED and "no bf16" in why


def test_estimate_refuses_bf16_where_the_gpu_has_none() -> None:
    setup = TrainingSetup(method=Method.LORA, seq_len_tokens=1024, precision=Precision.BF16_MIXED)
    with pytest.raises(PlannerError, match="To fix: use --precision fp16-mixed"):
        estimate_train(load_catalog(), model="llama-3.2-3b", gpu="T4", setup=setup)


def test_the_estimate_says_how_close_to_the_limit_it_is() -> None:
    setup = TrainingSetup(method=Method.LORA, seq_len_tokens=2048, micro_batch=1)
    report = estimate_train(load_catalog(), model="llama-3.1-8b", gpu="L4", setup=setup)
    assert report.memory_utilization == pytest.approx(
        report.peak_memory_gib_per_gpu / report.gpu_memory_gib, abs=1e-3
    )
    assert report.memory_limit_gib == pytest.approx(MEMORY_LIMIT * report.gpu_memory_gib, 0.01)
    assert report.fits is (report.peak_memory_gib_per_gpu <= report.memory_limit_gib)


def test_attention_only_lora_trains_fewer_parameters_and_needs_less_memory() -> None:
    # Llama-3.1-8B, rank 16: an adapter is r × (in + out) per matrix per layer; q/k/v/o:
    # 32 × 16 × ((4096 + 4096) + (4096 + 1024) × 2 + (4096 + 4096)) = 13,631,488
    # parameters; all seven linear layers add gate/up/down, 32 × 16 × (4096 + 14336) × 3 =
    # 28,311,552 more: 41,943,040 in all (the count peft prints for r=16 all-linear on
    # Llama-3-8B).
    catalog = load_catalog()
    base = {"method": Method.LORA, "seq_len_tokens": 2048, "lora_rank": 16}
    attention = estimate_train(
        catalog,
        model="llama-3.1-8b",
        gpu="A100-80GB",
        setup=TrainingSetup(**base, lora_targets=ATTENTION_TARGETS),
    )
    every = estimate_train(
        catalog,
        model="llama-3.1-8b",
        gpu="A100-80GB",
        setup=TrainingSetup(**base, lora_targets=LORA_TARGETS),
    )
    assert attention.trainable_params == 13_631_488
    assert every.trainable_params == 41_943_040
    assert attention.peak_memory_gib_per_gpu < every.peak_memory_gib_per_gpu
    assert attention.tokens_per_s > every.tokens_per_s  # 6P fewer FLOPs per token


def test_pure_bf16_drops_the_fp32_copy_of_a_full_fine_tune() -> None:
    # Full fine-tuning of N parameters: mixed keeps a 4 B fp32 master copy and fp32 Adam
    # moments (8 B); pure bf16 keeps neither copy and bf16 moments (4 B): 8 B per parameter
    # less (ZeRO paper §3.1's 16Ψ vs torchtune's bf16 8Ψ).
    catalog = load_catalog()
    args = {"method": Method.FULL, "seq_len_tokens": 1024}
    mixed = estimate_train(
        catalog, model="llama-3.2-1b", gpu="A100-80GB", setup=TrainingSetup(**args)
    )
    pure = estimate_train(
        catalog,
        model="llama-3.2-1b",
        gpu="A100-80GB",
        setup=TrainingSetup(**args, precision=Precision.BF16_PURE, master_weights=False),
    )
    saved_gib = 8 * total_params(catalog.model("llama-3.2-1b")) / 2**30
    states = ("master_weights", "optimizer")
    kept = [sum(r.breakdown_gib[k] for k in states) for r in (mixed, pure)]
    assert kept[0] - kept[1] == pytest.approx(saved_gib, rel=0.01)
    # the allocator's overhead is a share of what it holds, so the peak falls a little more
    assert mixed.peak_memory_gib_per_gpu - pure.peak_memory_gib_per_gpu >= saved_gib * 0.99
    assert pure.precision == "bf16-pure" and mixed.precision == "bf16-mixed"


def test_a_precision_that_contradicts_master_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="To fix: set master_weights"):
        TrainingSetup(method=Method.FULL, seq_len_tokens=512, precision=Precision.BF16_PURE)


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("all-linear", LORA_TARGETS),
        ("attention", ATTENTION_TARGETS),
        ("q_proj,v_proj", ("q_proj", "v_proj")),
    ],
)
def test_lora_targets_read_as_documented(spec: str, names: tuple[str, ...]) -> None:
    assert lora_target_names(spec) == names


def test_unknown_lora_targets_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="To fix: use all-linear, attention"):
        lora_target_names("q_proj,wq")
