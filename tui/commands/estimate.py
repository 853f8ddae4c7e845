"""`tailor estimate train|serve`: the scriptable estimators, one setup at a time."""

from __future__ import annotations

import json

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from catalog import load_catalog
from planner.estimate import ServeReport, TrainReport, estimate_serve, estimate_train
from planner.estimators.serving import ServingSetup
from planner.estimators.training_memory import TrainingSetup
from planner.estimators.training_setup import lora_target_names
from planner.types import AttentionImpl, Method, Optimizer, Precision, Quantization, Sharding

__all__ = ["estimate_group"]

_POSITIVE = click.IntRange(min=1)


def _print_terms(title: str, summary: dict[str, object], report: TrainReport | ServeReport) -> None:
    console = Console(highlight=False, width=max(Console().width, 120))
    table = Table(title=title, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("formula / basis", overflow="fold")
    for key, value in summary.items():
        table.add_row(key, str(value), "")
    for term in report.terms:
        value = f"{term.value:,.3g} {term.unit}"
        table.add_row(term.name, value, term.formula)
    console.print(table)


def _setup(**fields: object) -> TrainingSetup:
    """The setup, or a usage error naming the option (e.g. --gpus not a multiple of --nodes)."""
    try:
        return TrainingSetup.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise click.UsageError(str(error["ctx"].get("error", error["msg"]))) from None


def _targets(value: str) -> tuple[str, ...]:
    try:
        return lora_target_names(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lora-targets") from None


@click.group("estimate")
def estimate_group() -> None:
    """Memory, speed and time of one training or serving setup (no planning)."""


@estimate_group.command("train")
@click.option("--model", required=True, help="Catalog model (e.g. llama-3.1-8b).")
@click.option("--method", type=click.Choice([m.value for m in Method]), required=True)
@click.option("--gpu", required=True, help="GPU SKU (e.g. H100, A100-80GB, L4).")
@click.option("--gpus", type=_POSITIVE, default=1, show_default=True, help="GPUs, all nodes.")
@click.option(
    "--nodes", type=_POSITIVE, default=1, show_default=True, help="Machines the GPUs span."
)
@click.option(
    "--sharding",
    type=click.Choice([s.value for s in Sharding]),
    default=Sharding.FSDP.value,
    show_default=True,
    help="ddp (every GPU holds all state), fsdp (sharded over all GPUs), fsdp-hybrid "
    "(sharded within a node) or zero3 (DeepSpeed, like fsdp). One GPU: no effect.",
)
@click.option(
    "--packing/--no-packing",
    default=True,
    show_default=True,
    help="Pack examples into full --seq-len blocks; --no-packing pads each micro-batch to "
    "its longest example (give --example-tokens).",
)
@click.option(
    "--example-tokens",
    type=_POSITIVE,
    help="Mean tokens per example (--no-packing: sets the padding and the micro-step size).",
)
@click.option("--seq-len", type=_POSITIVE, required=True, help="Tokens per sequence.")
@click.option("--batch", type=_POSITIVE, required=True, help="Micro-batch per GPU.")
@click.option("--lora-rank", type=_POSITIVE, default=16, show_default=True)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing", default=True, show_default=True
)
@click.option(
    "--optimizer",
    type=click.Choice([o.value for o in Optimizer]),
    default="adamw",
    show_default=True,
)
@click.option(
    "--precision",
    type=click.Choice([p.value for p in Precision]),
    help="bf16-mixed (fp32 master weights), bf16-pure (no fp32 copy) or fp16-mixed (loss "
    "scaling). Default: bf16-mixed where the GPU has bf16, else fp16-mixed.",
)
@click.option(
    "--lora-targets",
    default="all-linear",
    show_default=True,
    callback=lambda ctx, param, value: _targets(value),
    help="LoRA matrices: all-linear, attention (q/k/v/o), or a comma list (q_proj,v_proj).",
)
@click.option(
    "--attention",
    type=click.Choice([a.value for a in AttentionImpl]),
    default=AttentionImpl.SDPA.value,
    show_default=True,
    help="sdpa (torch SDPA: flash / memory-efficient kernels), flash (flash-attn package): "
    "no score matrix kept; eager keeps it (heads × seq² per layer).",
)
@click.option("--tokens", type=_POSITIVE, help="Training tokens (all epochs) → hours.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def train_command(
    *,
    model: str,
    method: str,
    gpu: str,
    gpus: int,
    nodes: int,
    sharding: str,
    packing: bool,
    example_tokens: int | None,
    seq_len: int,
    batch: int,
    lora_rank: int,
    gradient_checkpointing: bool,
    optimizer: str,
    precision: str | None,
    lora_targets: tuple[str, ...],
    attention: str,
    tokens: int | None,
    as_json: bool,
) -> None:
    """Peak memory per GPU (with its breakdown), tokens/s and hours of a fine-tune."""
    chosen = Precision(precision) if precision else None
    setup = _setup(
        gpus=gpus,
        nodes=nodes,
        method=Method(method),
        seq_len_tokens=seq_len,
        micro_batch=batch,
        lora_rank=lora_rank,
        lora_targets=lora_targets,
        gradient_checkpointing=gradient_checkpointing,
        optimizer=Optimizer(optimizer),
        attention=AttentionImpl(attention),
        sharding=Sharding(sharding),
        packing=packing,
        example_tokens=example_tokens,
        precision=chosen,
        master_weights=chosen is not Precision.BF16_PURE,
    )
    report = estimate_train(load_catalog(), model=model, gpu=gpu, setup=setup, tokens=tokens)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    fits = "fits" if report.fits else "does NOT fit"
    _print_terms(
        f"{report.method} {report.model} on {report.gpus}× {report.gpu} in {report.precision}: "
        f"{report.peak_memory_gib_per_gpu:.1f} of {report.gpu_memory_gib:.1f} GiB "
        f"({report.memory_utilization:.0%}; {fits} under the {report.memory_limit_gib:.1f} GiB "
        "limit, 90 %)",
        {"tokens_per_s": report.tokens_per_s, "hours": report.hours},
        report,
    )


@estimate_group.command("serve")
@click.option("--model", required=True, help="Catalog model (e.g. llama-3.1-8b).")
@click.option("--gpu", required=True, help="GPU SKU.")
@click.option("--gpus", type=_POSITIVE, default=1, show_default=True, help="Tensor parallel.")
@click.option("--quantization", type=click.Choice([q.value for q in Quantization]), required=True)
@click.option("--batch", type=_POSITIVE, required=True, help="Concurrent sequences.")
@click.option("--input-len", type=_POSITIVE, required=True, help="Prompt tokens.")
@click.option("--output-len", type=_POSITIVE, required=True, help="Generated tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def serve_command(
    *,
    model: str,
    gpu: str,
    gpus: int,
    quantization: str,
    batch: int,
    input_len: int,
    output_len: int,
    as_json: bool,
) -> None:
    """Weights, KV cache, capacity, decode tokens/s and TTFT of one vLLM replica."""
    setup = ServingSetup(
        quantization=Quantization(quantization),
        tensor_parallel=gpus,
        batch=batch,
        input_tokens=input_len,
        output_tokens=output_len,
    )
    report = estimate_serve(load_catalog(), model=model, gpu=gpu, setup=setup)
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    _print_terms(
        f"{report.model} {report.quantization} on {report.tensor_parallel}× {report.gpu}, batch "
        f"{report.batch}: {report.decode_tokens_per_s:,.0f} tokens/s, TTFT "
        f"{report.ttft_s * 1e3:.0f} ms ({'fits' if report.fits else 'does NOT fit'})",
        {
            "per_sequence_tokens_per_s": report.per_sequence_tokens_per_s,
            "max_concurrent_sequences": report.max_concurrent_sequences,
        },
        report,
    )
