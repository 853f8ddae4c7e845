"""Estimators: each formula against a published number or a first-principles identity."""

from __future__ import annotations

import pytest

from catalog import load_catalog, total_params
from planner.estimators.efficiency import TRAINING_EFFICIENCY
from planner.estimators.serving import (
    ServingSetup,
    estimate_serving,
    kv_cache_bytes_per_token,
    serving_weight_bytes,
)
from planner.estimators.terms import GIB
from planner.estimators.training_memory import (
    Measure,
    TrainingSetup,
    activation_bytes_per_token_per_layer,
    estimate_training_memory,
    logits_bytes_per_element,
    lora_adapter_params,
)
from planner.estimators.training_memory_parts import nf4_bytes_per_param
from planner.estimators.training_time import estimate_training_time, training_flops_per_token
from planner.types import AttentionImpl, Method, Optimizer, Quantization, bytes_per_param

CATALOG = load_catalog()
LLAMA_8B = CATALOG.model("llama-3.1-8b")


def test_kv_cache_per_token_llama_3_8b() -> None:
    # 2 × 32 layers × 8 KV heads × 128 × 2 B = 131,072 B = 128 KiB per token (GQA), as in the
    # vLLM docs' and NVIDIA's KV-cache sizing examples for Llama-3-8B.
    assert kv_cache_bytes_per_token(LLAMA_8B) == 131_072


def test_kv_cache_per_token_llama_2_7b() -> None:
    # Llama-2-7B (no GQA): 2 × 32 × 32 × 128 × 2 B = 0.5 MiB per token — the figure used in
    # the vLLM paper (Kwon et al. 2023 §2.3 reports ~0.8 MB/token for OPT-13B by the same formula).
    assert kv_cache_bytes_per_token(CATALOG.model("llama-2-7b")) == 512 * 1024


def test_kv_heads_split_across_tensor_parallel_and_replicate_below_one() -> None:
    arch = CATALOG.model("llama-3.1-70b")  # 8 KV heads
    assert kv_cache_bytes_per_token(arch, tensor_parallel=4) == kv_cache_bytes_per_token(arch) / 4
    assert kv_cache_bytes_per_token(arch, tensor_parallel=16) == kv_cache_bytes_per_token(arch) / 8


def test_full_finetune_states_are_16_bytes_per_param() -> None:
    # ZeRO (Rajbhandari et al. 2020, §3.1): mixed-precision Adam keeps 2Ψ + 2Ψ + 12Ψ = 16Ψ bytes.
    memory = estimate_training_memory(
        LLAMA_8B, TrainingSetup(method=Method.FULL, seq_len_tokens=512)
    )
    parts = memory.breakdown_gib()
    states = sum(parts[k] for k in ("weights", "gradients", "master_weights", "optimizer"))
    assert states == pytest.approx(16 * total_params(LLAMA_8B) / GIB, rel=1e-3)


def test_fsdp_shards_states_but_not_activations() -> None:
    one = estimate_training_memory(LLAMA_8B, TrainingSetup(method=Method.FULL, seq_len_tokens=2048))
    eight = estimate_training_memory(
        LLAMA_8B, TrainingSetup(method=Method.FULL, seq_len_tokens=2048, gpus=8)
    )
    assert eight.breakdown_gib()["optimizer"] == pytest.approx(
        one.breakdown_gib()["optimizer"] / 8, abs=0.01
    )
    assert eight.breakdown_gib()["activations"] == one.breakdown_gib()["activations"]


def test_eight_bit_optimizer_is_a_quarter_of_adamw() -> None:
    adamw = estimate_training_memory(
        LLAMA_8B, TrainingSetup(method=Method.FULL, seq_len_tokens=512)
    )
    eight = estimate_training_memory(
        LLAMA_8B,
        TrainingSetup(method=Method.FULL, seq_len_tokens=512, optimizer=Optimizer.ADAMW_8BIT),
    )
    assert eight.breakdown_gib()["optimizer"] == pytest.approx(
        adamw.breakdown_gib()["optimizer"] / 4, abs=0.01
    )


def test_lora_params_llama_8b_rank_16_all_linear() -> None:
    # PEFT prints "trainable params: 41,943,040" for Llama-3-8B, r=16, all linear layers:
    # 32 × 16 × (2·4096+2·(4096+1024)+2·(4096+14336)+(14336+4096)) = 41,943,040.
    assert (
        lora_adapter_params(
            LLAMA_8B,
            16,
            ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        )
        == 41_943_040
    )


def test_nf4_bytes_match_qlora_paper() -> None:
    # QLoRA §3: double quantization cuts constants from 0.5 to 0.127 bits per parameter.
    assert (bytes_per_param("nf4") - 0.5) * 8 == pytest.approx(0.127, abs=0.001)


def test_qlora_weights_smaller_than_lora_and_checkpointing_saves_activations() -> None:
    def peak(method: Method, gc: bool) -> float:
        setup = TrainingSetup(method=method, seq_len_tokens=4096, gradient_checkpointing=gc)
        return estimate_training_memory(LLAMA_8B, setup).peak_gib_per_gpu

    assert peak(Method.QLORA, True) < peak(Method.LORA, True) < peak(Method.FULL, True)
    assert peak(Method.LORA, True) < peak(Method.LORA, False)


def test_training_flops_are_6n_for_full_and_4n_for_lora() -> None:
    # Kaplan et al. 2020: C ≈ 6N per training token (forward 2N + backward 4N); attention adds
    # a seq-proportional term, small at seq_len 1.
    n = total_params(LLAMA_8B)
    full = training_flops_per_token(
        LLAMA_8B, Method.FULL, seq_len_tokens=1, trainable_params=n, gradient_checkpointing=False
    )
    lora = training_flops_per_token(
        LLAMA_8B, Method.LORA, seq_len_tokens=1, trainable_params=0, gradient_checkpointing=False
    )
    assert full == pytest.approx(6 * n, rel=1e-4)
    assert lora == pytest.approx(4 * n, rel=1e-4)


def test_training_hours_scale_with_tokens_and_gpus() -> None:
    h100 = CATALOG.gpu("H100")

    def hours(tokens: int, gpus: int) -> float:
        return estimate_training_time(
            LLAMA_8B,
            h100,
            gpus,
            Method.LORA,
            tokens=tokens,
            seq_len_tokens=2048,
            trainable_params=41_943_040,
            gradient_checkpointing=True,
        ).hours

    assert hours(2_000_000, 1) == pytest.approx(2 * hours(1_000_000, 1))
    # 4 GPUs: a quarter of the time over the fitted multi-GPU efficiency
    scale = TRAINING_EFFICIENCY.multi_gpu
    assert hours(1_000_000, 4) == pytest.approx(hours(1_000_000, 1) / 4 / scale)


def test_int4_weights_of_llama_8b() -> None:
    # AWQ Llama-3-8B checkpoints are ~5.7 GB on disk: 7.0B linear × 0.531 B + 1.05B × 2 B.
    assert serving_weight_bytes(LLAMA_8B, Quantization.INT4) / 1e9 == pytest.approx(5.8, abs=0.3)


def test_decode_is_bandwidth_bound_at_batch_one() -> None:
    # At batch 1 the step reads all weights once: tokens/s ≈ bandwidth × MBU / weight bytes.
    e = estimate_serving(
        LLAMA_8B,
        CATALOG.gpu("H100"),
        ServingSetup(quantization=Quantization.BF16, input_tokens=100, output_tokens=100),
    )
    roofline = 3350e9 / serving_weight_bytes(LLAMA_8B, Quantization.BF16)
    assert 0.5 * roofline < e.per_sequence_tokens_per_s < roofline


def test_batching_raises_throughput_and_lowers_per_stream_speed() -> None:
    def run(batch: int):
        return estimate_serving(
            LLAMA_8B,
            CATALOG.gpu("A100-80GB"),
            ServingSetup(
                quantization=Quantization.BF16, batch=batch, input_tokens=500, output_tokens=500
            ),
        )

    small, large = run(1), run(64)
    assert large.decode_tokens_per_s > 10 * small.decode_tokens_per_s
    assert large.per_sequence_tokens_per_s < small.per_sequence_tokens_per_s


def test_70b_bf16_does_not_fit_one_h100_but_fits_four() -> None:
    arch, h100 = CATALOG.model("llama-3.1-70b"), CATALOG.gpu("H100")
    setup = ServingSetup(
        quantization=Quantization.BF16, batch=8, input_tokens=1000, output_tokens=500
    )
    assert not estimate_serving(arch, h100, setup).fits
    four = estimate_serving(arch, h100, setup.model_copy(update={"tensor_parallel": 4}))
    assert four.fits and four.weights_gib_per_gpu == pytest.approx(131.4 / 4, abs=0.2)


# ---------------------------------------------------------------- training-memory recipe features

LLAMA2_7B = CATALOG.model("llama-2-7b")


def _memory(arch=LLAMA_8B, **fields) -> dict[str, float]:
    setup = TrainingSetup(**{"method": Method.FULL, "seq_len_tokens": 512, **fields})
    return estimate_training_memory(arch, setup).breakdown_gib()


def test_lora_params_match_published_trainable_counts() -> None:
    # torchtune LoRA tutorial (Llama-2-7B, q/v, r=8) prints "4194304 trainable params"; lit-gpt's
    # resource tables list 4,194,304 (Llama-2-7B) and 6,553,600 (Llama-2-13B) for the same setup.
    assert lora_adapter_params(LLAMA2_7B, 8, ("q_proj", "v_proj")) == 4_194_304
    assert lora_adapter_params(CATALOG.model("llama-2-13b"), 8, ("q_proj", "v_proj")) == 6_553_600


def test_lora_on_the_output_head_adds_one_matrix() -> None:
    # torchtune apply_lora_to_output: one r × (hidden + vocab) adapter, not one per layer.
    base = lora_adapter_params(LLAMA2_7B, 8, ("q_proj", "v_proj"))
    with_head = lora_adapter_params(LLAMA2_7B, 8, ("q_proj", "v_proj", "lm_head"))
    assert with_head - base == 8 * (4096 + 32000)


def test_pure_bf16_full_finetune_is_8_bytes_per_param() -> None:
    # No fp32 master copy: bf16 weights (2) + bf16 grads (2) + torch AdamW moments allocated like
    # the bf16 parameters (zeros_like: 2 × 2) = 8 B per parameter.
    parts = _memory(master_weights=False)
    states = sum(parts[k] for k in ("weights", "gradients", "master_weights", "optimizer"))
    assert states == pytest.approx(8 * total_params(LLAMA_8B) / GIB, rel=1e-3)


def test_optimizer_in_backward_keeps_only_the_largest_gradient() -> None:
    # Each grad is applied and freed in its post-accumulate hook: the largest tensor held is the
    # 128,256 × 4,096 embedding (or lm_head) gradient in bf16 = 0.98 GiB.
    parts = _memory(optimizer_in_backward=True, master_weights=False)
    assert parts["gradients"] == pytest.approx(128_256 * 4096 * 2 / GIB, abs=0.01)


def test_paged_optimizer_state_is_outside_torch_counters() -> None:
    # bitsandbytes paged state is cudaMallocManaged memory: not in max_memory_reserved/allocated,
    # but resident on the device (what nvidia-smi shows) while memory allows.
    paged = {"optimizer": Optimizer.PAGED_ADAMW_8BIT, "master_weights": False}
    assert _memory(measure=Measure.RESERVED, **paged)["optimizer"] == 0
    device = _memory(measure=Measure.DEVICE, **paged)["optimizer"]
    assert device == pytest.approx(2 * total_params(LLAMA_8B) / GIB, abs=0.01)


def test_cpu_offload_leaves_no_states_on_the_gpu() -> None:
    parts = _memory(cpu_offload=True, gpus=8)
    assert all(parts[k] == 0 for k in ("weights", "gradients", "master_weights", "optimizer"))
    assert parts["fsdp_gathered_layers"] > 0


def test_measure_decides_context_and_allocator_reserve() -> None:
    # allocated ⊂ reserved ⊂ device: the caching allocator's reserve and the CUDA context.
    allocated = _memory(measure=Measure.ALLOCATED)
    reserved = _memory(measure=Measure.RESERVED)
    device = _memory(measure=Measure.DEVICE)
    assert allocated["allocator_overhead"] == allocated["cuda_context"] == 0
    assert reserved["allocator_overhead"] > 0 and reserved["cuda_context"] == 0
    assert device["cuda_context"] == 0.5


def test_bytes_per_logit_of_each_loss_recipe() -> None:
    # bf16 logits (2) + saved log-softmax (fp32 4 / bf16 2) + fp32 upcast (4 / chunks).
    assert logits_bytes_per_element(loss_fp32=True, loss_chunks=1, fused_loss=False) == 10.0
    assert logits_bytes_per_element(loss_fp32=True, loss_chunks=8, fused_loss=False) == 6.5
    assert logits_bytes_per_element(loss_fp32=False, loss_chunks=1, fused_loss=False) == 4.0
    assert logits_bytes_per_element(loss_fp32=True, loss_chunks=8, fused_loss=True) == 2.0


def test_checkpointed_peak_holds_logits_or_recomputed_layer_not_both() -> None:
    # The loss's backward frees the logits before the last layer is recomputed, so below the
    # recomputed layer's size the logits do not move the peak.
    def peak(**fields) -> float:
        setup = TrainingSetup(method=Method.LORA, seq_len_tokens=2048, micro_batch=2, **fields)
        return estimate_training_memory(LLAMA2_7B, setup).peak_gib_per_gpu

    layer = 4096 * activation_bytes_per_token_per_layer(
        LLAMA2_7B, seq_len_tokens=2048, attention=AttentionImpl.FLASH, lora_dropout_targets=7
    )
    bf16_loss = (
        4096 * 32_000 * logits_bytes_per_element(loss_fp32=False, loss_chunks=1, fused_loss=False)
    )
    assert bf16_loss < layer
    assert peak(fused_loss=True) == peak(loss_fp32=False)
    assert peak(loss_fp32=True) > peak(loss_fp32=False)  # 10 B/logit: larger than the layer


def test_nf4_without_double_quantization_matches_lit_gpt_tables() -> None:
    # lit-gpt resource tables, Llama-2-7B LoRA on 1 A100: bnb.nf4 14.14 GB vs bnb.nf4-dq
    # 13.84 GB — 0.30 GB, the fp32 block constants (4/64 B vs ≈0.016 B per linear weight).
    assert nf4_bytes_per_param(double_quant=False) == 0.5625

    def weights_gb(dq: bool) -> float:
        setup = TrainingSetup(method=Method.QLORA, seq_len_tokens=512, nf4_double_quant=dq)
        gib = estimate_training_memory(LLAMA2_7B, setup).breakdown_gib()["weights"]
        return gib * GIB / 1e9

    assert weights_gb(False) - weights_gb(True) == pytest.approx(0.30, abs=0.02)


def test_torchtune_llama31_8b_full_finetune_on_a_4090() -> None:
    # torchtune README (commit 0031bfb): Llama 3.1 8B full finetune, 1x 4090, batch 2 packed to
    # 2048, compile on: 18.9 GiB peak. Recipe llama3_1/8B_full_single_device: bf16, bnb
    # PagedAdamW8bit, optimizer_in_bwd, activation checkpointing, chunked cross-entropy.
    setup = TrainingSetup(
        method=Method.FULL,
        seq_len_tokens=2048,
        micro_batch=2,
        master_weights=False,
        optimizer=Optimizer.PAGED_ADAMW_8BIT,
        optimizer_in_backward=True,
        loss_chunks=8,
        fused_loss=True,
        measure=Measure.RESERVED,
    )
    assert estimate_training_memory(LLAMA_8B, setup).peak_gib_per_gpu == pytest.approx(
        18.9, rel=0.10
    )


def test_lit_gpt_llama2_7b_lora_on_an_a100() -> None:
    # lit-gpt resource tables (commit 8641822): Llama-2-7B LoRA r=8 q/v, micro batch 1, longest
    # Alpaca example 1304 tokens, bf16-true, no checkpointing: 21.30 GB (max_memory_allocated/1e9).
    setup = TrainingSetup(
        method=Method.LORA,
        seq_len_tokens=1304,
        lora_rank=8,
        lora_targets=("q_proj", "v_proj"),
        gradient_checkpointing=False,
        master_weights=False,
        loss_fp32=False,
        measure=Measure.ALLOCATED,
    )
    peak_gb = estimate_training_memory(LLAMA2_7B, setup).peak_gib_per_gpu * GIB / 1e9
    assert peak_gb == pytest.approx(21.30, rel=0.10)


def test_fsdp1_flat_params_mixing_frozen_weights_keep_a_gradient_for_all_of_them() -> None:
    # torch FullyShardedDataParallel docstring: with use_orig_params=True "FSDP supports mixing
    # frozen and non-frozen parameters, but ... higher than expected gradient memory usage":
    # the sharded gradient covers the whole flat parameter. litgpt (Lightning Fabric FSDP,
    # use_orig_params=True, one FlatParameter per Block) LoRA on 2×A100 measured 22.18 GB
    # (max_memory_allocated/1e9) where per-parameter sharding would hold far less.
    base = TrainingSetup(
        method=Method.LORA,
        seq_len_tokens=1304,
        lora_rank=8,
        lora_targets=("q_proj", "v_proj"),
        master_weights=False,
        loss_fp32=False,
        measure=Measure.ALLOCATED,
        gpus=2,
    )
    fsdp2 = estimate_training_memory(LLAMA2_7B, base)
    fsdp1 = estimate_training_memory(
        LLAMA2_7B, base.model_copy(update={"flat_param_frozen_grads": True})
    )
    parts = fsdp1.breakdown_gib()
    assert "fsdp_flat_param_grads" not in fsdp2.breakdown_gib()
    assert parts["fsdp_flat_param_grads"] == pytest.approx(
        total_params(LLAMA2_7B) * 2 / 2 / GIB, abs=0.01
    )
    measured_gib = 22.18e9 / GIB
    assert fsdp2.peak_gib_per_gpu < fsdp1.peak_gib_per_gpu < measured_gib
