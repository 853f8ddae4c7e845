"""`tailor catalog …`: GPUs, models, prices, API prices, benchmarks; refresh, export-sky,
add-model."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from catalog import UnknownNameError, load_catalog
from catalog.hf_config import arch_from_hf_config, save_user_model
from catalog.loaders import catalog_home, user_models_path, user_offers_path
from catalog.params import active_params, total_params
from catalog.refresh import refresh_user_offers
from catalog.sky_export import write_sky_catalog
from catalog.summary import OfferPrice, gpu_summaries, price_rows

__all__ = ["catalog_group"]


_LINKS = {"nvlink": "NVLink", "pcie": "PCIe", "infinity-fabric": "IF"}


def _console() -> Console:
    """Prints catalog text as it is: no markup (a region named "[/b]"), no emoji codes."""
    return Console(
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
        width=max(Console().width, 150),
    )


def _dump(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _where(price: OfferPrice | None) -> str:
    if price is None:
        return "-"
    return f"${price.usd_per_gpu_hour:.2f} {price.cloud}/{price.region}"


@click.group("catalog")
def catalog_group() -> None:
    """GPU SKUs, cloud offers, model architectures and hosted-API prices."""


@catalog_group.command("gpus")
@click.option(
    "--min-memory",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="GIB",
    help="Only GPUs with at least this much memory (GiB).",
)
@click.option("--cloud", help="Only offers on this cloud (aws, gcp, azure, lambda, runpod, vast).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def gpus_command(min_memory: float, cloud: str | None, as_json: bool) -> None:
    """GPU specs with the cheapest on-demand and spot offer for each ($ per GPU-hour)."""
    catalog = load_catalog()
    if cloud is not None and cloud not in catalog.clouds():
        raise click.BadParameter(
            f"no offers for cloud {cloud!r}. To fix: use one of {', '.join(catalog.clouds())}.",
            param_hint="--cloud",
        )
    rows = gpu_summaries(catalog, min_memory_gib=min_memory, cloud=cloud)
    if as_json:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    table = Table(title=f"GPUs (prices as of {catalog.snapshot_date}; $/GPU-hour)")
    for header in ("GPU", "Mem GiB", "HBM GB/s", "BF16 TF", "FP8 TF", "Link GB/s", "Offers"):
        table.add_column(header, justify="left" if header == "GPU" else "right", no_wrap=True)
    for header in ("Cheapest on-demand", "Cheapest spot"):
        table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=30)
    for row in rows:
        g = row.gpu
        table.add_row(
            g.name,
            _fmt(g.memory_gib, 1),
            _fmt(g.memory_bandwidth_gb_per_s),
            _fmt(g.bf16_dense_tflops or g.fp16_dense_tflops),
            _fmt(g.fp8_dense_tflops),
            f"{_fmt(g.interconnect_gb_per_s)} {_LINKS.get(g.interconnect, g.interconnect)}",
            str(row.offer_count),
            _where(row.cheapest_on_demand),
            _where(row.cheapest_spot),
        )
    _console().print(table)
    click.echo(
        "TFLOPs are dense (no sparsity), BF16 or FP16 where the GPU has no BF16. "
        "Sources: `tailor catalog gpus --json`."
    )


@catalog_group.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_command(as_json: bool) -> None:
    """Open model architectures, with parameter counts computed from them."""
    catalog = load_catalog()
    if as_json:
        _dump(
            [
                {
                    **m.model_dump(mode="json"),
                    "total_params": total_params(m),
                    "active_params": active_params(m),
                }
                for m in catalog.models
            ]
        )
        return
    table = Table(title="Models (parameters computed from the architecture)")
    for header in (
        "Model",
        "Params",
        "Active",
        "Layers",
        "Hidden",
        "Heads/KV",
        "Vocab",
        "Context",
        "Experts",
        "License",
    ):
        table.add_column(header, justify="left" if header in ("Model", "License") else "right")
    for m in catalog.models:
        experts = f"{m.num_experts_per_token}/{m.num_experts}" if m.is_moe else "-"
        table.add_row(
            m.id,
            f"{total_params(m) / 1e9:.2f}B",
            f"{active_params(m) / 1e9:.2f}B",
            str(m.num_layers),
            str(m.hidden_size),
            f"{m.num_attention_heads}/{m.num_key_value_heads}",
            f"{m.vocab_size:,}",
            f"{m.max_context_tokens:,}",
            experts,
            m.license,
        )
    _console().print(table)


@catalog_group.command("prices")
@click.option("--gpu", required=True, help="GPU name, e.g. H100, A100-80GB, L4.")
@click.option("--cloud", help="Only this cloud.")
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (all rows).")
def prices_command(gpu: str, cloud: str | None, limit: int, as_json: bool) -> None:
    """Every offer for one GPU, cheapest per GPU-hour first."""
    catalog = load_catalog()
    rows = price_rows(catalog, gpu, cloud=cloud)
    if as_json:
        _dump(
            [
                {**o.model_dump(mode="json"), "price_usd_per_gpu_hour": o.price_usd_per_gpu_hour}
                for o in rows
            ]
        )
        return
    sku = catalog.gpu(gpu)
    table = Table(title=f"{sku.name} offers ({len(rows)}; showing {min(limit, len(rows))})")
    for header in (
        "Cloud",
        "Region",
        "Instance",
        "GPUs",
        "$/h",
        "Spot $/h",
        "$/GPU-h",
        "Source date",
    ):
        table.add_column(header, justify="right" if "$" in header or header == "GPUs" else "left")
    for o in rows[:limit]:
        table.add_row(
            o.cloud,
            o.region,
            o.instance_type,
            str(o.gpu_count),
            _fmt(o.price_usd_per_hour, 2),
            _fmt(o.spot_price_usd_per_hour, 2),
            _fmt(o.price_usd_per_gpu_hour, 2),
            str(o.retrieved_on),
        )
    _console().print(table)


@catalog_group.command("api")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def api_command(as_json: bool) -> None:
    """Hosted API models: $ per 1M tokens, and their fine-tuning offers."""
    catalog = load_catalog()
    if as_json:
        _dump([a.model_dump(mode="json") for a in catalog.api_models])
        return
    table = Table(title="Hosted API prices ($ per 1M tokens)")
    headers = ("Model", "Input", "Cached", "Output", "FT train", "FT in", "FT out", "Date")
    for header in (*headers, "Shuts down"):
        table.add_column(header, justify="left" if header == "Model" else "right")
    for a in catalog.api_models:
        ft = a.fine_tuning
        table.add_row(
            a.id,
            _fmt(a.input_usd_per_mtok, 3),
            _fmt(a.cached_input_usd_per_mtok, 3),
            _fmt(a.output_usd_per_mtok, 2),
            _fmt(ft.training_usd_per_mtok if ft else None, 2),
            _fmt(ft.input_usd_per_mtok if ft else None, 2),
            _fmt(ft.output_usd_per_mtok if ft else None, 2),
            str(a.source_date or a.retrieved_on),
            str(a.shutdown_on or "-"),
        )
    _console().print(table)


def _scored_id(name: str) -> str:
    """The catalog or API id a --model name means; UnknownNameError (exit 2) otherwise."""
    catalog = load_catalog()
    if (arch := catalog.find_model(name)) is not None:
        return arch.id
    try:
        api = catalog.api_model(name)
        return api.open_model or api.id  # an open model's endpoint: that model's scores
    except UnknownNameError:
        catalog.model(name)  # raises, naming close catalog models
        raise


@catalog_group.command("benchmarks")
@click.option("--model", "model_name", help="Only this catalog or hosted API model.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def benchmarks_command(model_name: str | None, as_json: bool) -> None:
    """Published benchmark scores (each with its source, date and setting), the task →
    benchmark map with its default floors, and the quality priors."""
    catalog = load_catalog()
    scores = catalog.benchmark_scores
    if model_name is not None:
        scores = catalog.scores_of(_scored_id(model_name))
    if as_json:
        _dump(
            {
                "benchmarks": [b.model_dump(mode="json") for b in catalog.benchmarks],
                "tasks": [t.model_dump(mode="json") for t in catalog.task_benchmarks],
                "scores": [s.model_dump(mode="json") for s in scores],
                "priors": [p.model_dump(mode="json") for p in catalog.quality_priors],
            }
        )
        return
    console = _console()
    title = f"Published scores{f' of {model_name}' if model_name else ''} ({len(scores)})"
    table = Table(title=title)
    for header in ("Model", "Benchmark", "Score", "Variant", "Metric; setting", "Source", "Read"):
        table.add_column(header, justify="right" if header == "Score" else "left")
    for s in scores:
        table.add_row(
            s.model,
            s.benchmark,
            f"{s.score:g}",
            str(s.variant),
            f"{s.metric}; {s.setting}",
            s.source_title,
            str(s.retrieved_on),
        )
    console.print(table)
    if model_name is not None:
        return
    tasks = Table(title="task.type → benchmark and default floor (goal `quality:` overrides)")
    for header in ("Task", "Benchmark", "Also", "Default floor", "Why"):
        tasks.add_column(header)
    for t in catalog.task_benchmarks:
        also = ", ".join(t.also)
        tasks.add_row(t.task, t.benchmark, also, f"{t.default_min_score:g}", t.floor_reasoning)
    console.print(tasks)
    priors = Table(title="Quality priors (fractions; full basis in quality_priors.yaml)")
    for header in ("Prior", "Effect", "Low", "High", "Benchmarks", "From rank", "Statement"):
        priors.add_column(header)
    for q in catalog.quality_priors:
        priors.add_row(
            q.id,
            str(q.effect),
            f"{q.low:+.3f}",
            f"{q.high:+.3f}",
            ", ".join(q.benchmarks) or "all",
            str(q.min_rank or "-"),
            q.statement[:160],
        )
    console.print(priors)


def _default_sky_catalog_dir() -> Path:
    return Path("~/.sky/catalogs/v8").expanduser()


@catalog_group.command("refresh")
@click.option(
    "--from",
    "source_dir",
    type=click.Path(path_type=Path),
    help="SkyPilot catalog version folder [default: ~/.sky/catalogs/v8].",
)
def refresh_command(source_dir: Path | None) -> None:
    """Re-read prices from SkyPilot's own catalog into your tailor catalog.

    The offers of the clouds it reads replace your earlier refreshed offers of those clouds;
    your refreshed offers of other clouds are kept. Nothing is written unless every file reads.
    """
    folder = source_dir or _default_sky_catalog_dir()
    target = user_offers_path()
    outcome = refresh_user_offers(folder, catalog=load_catalog(), target=target)
    for cloud, result in outcome.read.items():
        skipped = sum(result.skipped.values())
        click.echo(f"{cloud:8s} {len(result.offers):5d} offers  ({skipped} rows skipped)")
    kept = ""
    if outcome.kept_clouds:
        kept = f"; your earlier offers of {', '.join(outcome.kept_clouds)} are kept"
    click.echo(
        f"Saved {outcome.offer_count} offers to {target}; they replace the shipped offers of "
        f"{', '.join(outcome.replaced_clouds)}{kept}."
    )


@catalog_group.command("export-sky")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--cloud", "clouds", multiple=True, help="Only these clouds (repeatable).")
def export_sky_command(out_dir: Path, clouds: tuple[str, ...]) -> None:
    """Write tailor's offers as a SkyPilot v8 catalog folder (for SkyPilot's optimizer)."""
    written = write_sky_catalog(load_catalog(), out_dir, clouds or None)
    for cloud, count in written.items():
        click.echo(f"{cloud:8s} {count:5d} offers -> {out_dir / cloud / 'vms.csv'}")
    click.echo(f"Wrote common/accelerators.csv and common/metadata.csv under {out_dir}.")


@catalog_group.command("add-model")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "model_id", help="Catalog id [default: from the config's name, lowered].")
@click.option("--hf-id", help="Hugging Face repo id of the weights [default: _name_or_path].")
@click.option("--license", "license_", default="unknown", show_default=True)
def add_model_command(config: Path, model_id: str | None, hf_id: str | None, license_: str) -> None:
    """Import a Hugging Face config.json (offline) into your catalog."""
    arch = arch_from_hf_config(config, model_id=model_id, hf_id=hf_id, license=license_)
    target = user_models_path()
    save_user_model(arch, target)
    click.echo(
        f"Added {arch.id} ({total_params(arch) / 1e9:.2f}B parameters, "
        f"{arch.num_layers} layers) to {target}."
    )


@catalog_group.command("where")
def where_command() -> None:
    """Where your catalog additions are stored."""
    click.echo(
        f"home:   {catalog_home()}\nmodels: {user_models_path()}\noffers: {user_offers_path()}"
    )
