"""Benchmark: tailor's estimates against published measurements (tests/data/).

Prints one line per measurement (estimate, measured, % error) and the median absolute % error per
kind and per framework (training) or engine (serving). Rows the estimators cannot reproduce (model
or GPU not in the catalog, a setup condition the source does not state) are listed as skipped with
the reason. Asserts nothing.

Each training row is mapped onto ``TrainingSetup`` from what it states (its setup keys, see the
YAML header) plus what its framework does by construction (``FRAMEWORK_RECIPES``): nothing is
tuned per row.

Serving rows are mapped and timed by bench/fit_decode.py (one measurement model for the bench
and the calibration: prefill of the batch + decode steps, the batch capped at the KV cache;
architectures the catalog lacks come from tests/data/bench_models.yaml). Each row is scored three
ways, so the effect of each change is visible: the old bench (steady decode only, old
constants), the measurement model with the old constants, and with the calibrated constants;
medians are split by engine, by batch range and by engine × batch range, and by the fit's
FIT / TEST split (FIT figures are in-sample; TEST is held out).

Targets (issue #3): training peak memory ≤ 10 %, decode throughput ≤ 20 % median error.
llm-analysis runs side by side in its own virtualenv: bench/llm_analysis_compare.py (make bench).

Run: .venv/bin/python bench/accuracy.py
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from catalog import load_catalog
from planner.estimators.efficiency import DECODE_EFFICIENCY
from planner.estimators.terms import GIB
from planner.estimators.training_memory import LORA_TARGETS, Measure, TrainingSetup
from planner.estimators.training_memory import estimate_training_memory as train_memory
from planner.estimators.training_setup import MEMORY_LIMIT
from planner.types import AttentionImpl, Method, Optimizer, Sharding

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
import fit_decode
import fit_training

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "published_measurements.yaml"
LM_HEAD = "lm_head"

# What each measured framework does by construction, from its code and docs:
# - torchtune trains in its `dtype` (bf16) with no fp32 copy and no autocast; torch.optim.AdamW
#   allocates its moments like the (bf16) parameters; LoRA adapters are built in that dtype too.
# - litgpt --precision bf16-true: the same (bf16 weights, grads and AdamW state); its chunked
#   cross-entropy runs on the bf16 logit chunks, without an fp32 upcast.
# - trl / peft: tailor's own recipe (transformers + peft, mixed precision): TrainingSetup defaults.
FRAMEWORK_RECIPES: dict[str, dict[str, object]] = {
    "torchtune": {"master_weights": False},
    "litgpt": {"master_weights": False, "loss_fp32": False},
    "trl": {},
    "peft": {},
    "hf-trainer": {},
    "other": {},  # rows of other code are modelled only when they state master_weights
}
SHARDINGS = {
    "fsdp": Sharding.FSDP,
    "ddp": Sharding.DDP,
    "zero3": Sharding.ZERO3,
    "none": Sharding.FSDP,  # one GPU: nothing to shard
}
MORE = DATA.parent / "published_training_memory_more.yaml"  # rows collected for issue 13
THROUGHPUT = DATA.parent / "published_training_throughput.yaml"
# Which peak a framework reports when the row does not say:
# - torchtune logs torch.cuda memory stats only; its README (early 2024) states "Peak memory per
#   GPU is as reported by torch.cuda.max_memory_reserved()".
# - litgpt's finetune scripts print torch.cuda.max_memory_allocated().
FRAMEWORK_MEASURE = {"torchtune": Measure.RESERVED, "litgpt": Measure.ALLOCATED}
OPTIMIZERS = {
    "adamw": (Optimizer.ADAMW, False),
    "paged_adamw": (Optimizer.ADAMW, True),  # bitsandbytes PagedAdamW (32-bit moments)
    "adamw_8bit": (Optimizer.ADAMW_8BIT, False),
    "paged_adamw_8bit": (Optimizer.PAGED_ADAMW_8BIT, True),
}


def _missing(row: dict) -> str | None:
    """The first setup condition the row needs but does not state, or None."""
    if row.get("setup_conflict"):
        return f"stated setup contradicts the measurement ({row['setup_conflict']})"
    needed = ["seq_len", "batch", "gradient_checkpointing", "optimizer", "framework"]
    if row["method"] != "full":
        needed += ["lora_rank", "lora_targets"]
    for key in needed:
        if row.get(key) is None:
            return f"{key} not stated"
    if row["framework"] not in FRAMEWORK_RECIPES:
        return f"framework {row['framework']} not modelled"
    if row["optimizer"] not in OPTIMIZERS:
        return f"optimizer {row['optimizer']} not modelled"
    unknown = set(row.get("lora_targets") or ()) - {*LORA_TARGETS, LM_HEAD}
    return f"LoRA targets {sorted(unknown)} not modelled" if unknown else None


def _measure(row: dict) -> tuple[Measure, str]:
    """The row's stated peak counter, else its framework's (flagged as assumed)."""
    if row.get("memory_stat"):
        return Measure(row["memory_stat"]), ""
    if row["framework"] in FRAMEWORK_MEASURE:
        measure = FRAMEWORK_MEASURE[row["framework"]]
        return measure, f"{measure} assumed ({row['framework']} convention)"
    return Measure.DEVICE, "device (nvidia-smi) assumed"


def training_setup(row: dict) -> tuple[TrainingSetup, str] | str:
    """The row's stated setup as a TrainingSetup (+ a note), or why it cannot be modelled."""
    missing = _missing(row)
    if missing:
        return missing
    if row["optimizer"] not in OPTIMIZERS:
        return f"optimizer {row['optimizer']} not modelled"
    if row["framework"] not in FRAMEWORK_RECIPES:
        return f"framework {row['framework']} not modelled"
    if row["framework"] == "other" and row.get("master_weights") is None:
        return "framework other: master_weights not stated"
    sharding = row.get("sharding") or "fsdp"
    if sharding not in SHARDINGS:
        return f"sharding {sharding} not expressible"
    optimizer, paged = OPTIMIZERS[row["optimizer"]]
    measure, note = _measure(row)
    recipe = dict(FRAMEWORK_RECIPES[row["framework"]])
    if row.get("master_weights") is not None:
        recipe["master_weights"] = bool(row["master_weights"])
    if row.get("attention"):
        recipe["attention"] = AttentionImpl(row["attention"])
    if row["framework"] == "litgpt" and sharding == "fsdp" and (row.get("gpus") or 1) > 1:
        # Lightning Fabric's FSDPStrategy wraps with use_orig_params=True (its
        # setup_module_and_optimizers docstring) and litgpt wraps whole Blocks: the frozen
        # weights share a FlatParameter with the LoRA adapters.
        recipe["flat_param_frozen_grads"] = True
    if row["framework"] == "torchtune" and row.get("compile"):
        recipe["fused_loss"] = True  # torchtune compiles the loss too (training.compile_loss)
    setup = TrainingSetup(
        method=Method(row["method"]),
        seq_len_tokens=row["seq_len"],
        micro_batch=row["batch"],
        lora_rank=row.get("lora_rank") or 8,
        lora_targets=tuple(row.get("lora_targets") or LORA_TARGETS),
        gradient_checkpointing=row["gradient_checkpointing"],
        optimizer=optimizer,
        paged_optimizer=paged,
        gpus=row.get("gpus") or 1,
        sharding=SHARDINGS[sharding],
        optimizer_in_backward=bool(row.get("optimizer_in_backward")),
        cpu_offload=bool(row.get("cpu_offload")),
        loss_chunks=row.get("loss_chunks") or 1,
        nf4_double_quant=row.get("nf4_double_quant", True),
        measure=measure,
        **recipe,
    )
    return setup, note


def _training_row(catalog, row: dict) -> tuple[float, str, str] | str:
    if not row.get("gpu"):
        return "GPU not stated"
    arch, gpu = catalog.find_model(row["model"]), catalog.find_gpu(row["gpu"])
    if arch is None or gpu is None:
        return f"not in catalog: {row['model'] if arch is None else row['gpu']}"
    mapped = training_setup(row)
    if isinstance(mapped, str):
        return mapped
    setup, note = mapped
    return train_memory(arch, setup).peak_gib_per_gpu, "GiB", note


def measured_peak_gib(row: dict) -> tuple[float | None, str]:
    """The measured peak in GiB and a note when it is converted from the source's decimal GB.

    ``raw_unit: decimal_gb`` marks sources whose logger printed bytes / 1e9 as "GB" (torchtune
    until mid-2024); ``measured_peak_gib`` of those rows holds the GB number as recorded.
    """
    recorded = row.get("measured_peak_gib")
    if row.get("raw_unit") != "decimal_gb":
        return recorded, ""
    gb = float(str(row["raw_value"]).split()[0])
    return gb * 1e9 / GIB, f"{gb:g} GB (1e9 B) = {gb * 1e9 / GIB:.2f} GiB"


def _median_line(label: str, errors: list[float]) -> str:
    return (
        f"-- {label}: median |error| {statistics.median(errors):.1f}% over {len(errors)} rows "
        f"(mean {statistics.mean(errors):.1f}%)"
    )


def _report(kind: str, rows: list[dict], estimate, measured_key, group_key: str) -> list[float]:
    """Print each row's estimate against its measurement; median |error| overall and per group.

    ``measured_key(row)`` returns (measured value, note). When a note marks a unit conversion the
    median is also printed with the values as recorded, so the conversion's effect is visible.
    """
    errors, recorded_errors, by_group, skipped = [], [], defaultdict(list), []
    print(f"\n== {kind} ==")
    print(f"{'id':48s} {'group':12s} {'estimate':>10s} {'measured':>10s} {'error':>8s}")
    for row in rows:
        result, (measured, measured_note) = estimate(row), measured_key(row)
        if isinstance(result, str) or measured is None:
            skipped.append((row["id"], result if isinstance(result, str) else "no measurement"))
            continue
        value, unit, note = result
        error = (value - measured) / measured * 100
        recorded = row.get("measured_peak_gib") or measured
        errors.append(abs(error))
        recorded_errors.append(abs(value - recorded) / recorded * 100)
        group = str(row.get(group_key) or "?")
        by_group[group].append(abs(error))
        notes = "; ".join(n for n in (measured_note, note) if n)
        print(
            f"{row['id']:48s} {group:12s} {value:10.2f} {measured:10.2f} {error:+7.1f}%  "
            f"{unit}{f'  [{notes}]' if notes else ''}"
        )
    for row_id, reason in skipped:
        print(f"{row_id:48s} skipped: {reason}")
    if errors:
        print(_median_line(kind, errors))
        for group, group_errors in sorted(by_group.items()):
            print(_median_line(f"  {group_key} {group}", group_errors))
        if recorded_errors != errors:
            print(
                _median_line(
                    "  with every measured value as recorded (no GB→GiB fix)", recorded_errors
                )
            )
    return errors


_SERVING_MODELS = {
    "old bench": lambda r: fit_decode.decode_only_estimate(r, fit_decode.LEGACY),
    "old const": lambda r: fit_decode.estimate(r, fit_decode.LEGACY),
    "calibrated": lambda r: fit_decode.estimate(r, DECODE_EFFICIENCY),
}


def _serving_groups(row) -> list[str]:
    split = "FIT (in-sample)" if fit_decode.is_fit(row) else "TEST (held out)"
    batch = fit_decode.batch_range(row)
    return ["all", f"split {split}", f"engine {row.engine}", f"batch {batch}",
            f"{row.engine} × batch {batch}"]  # fmt: skip


def serving_report() -> None:
    """Serving throughput: each row under the three models, then medians per group."""
    rows, skipped = fit_decode.load_rows()
    names = list(_SERVING_MODELS)
    print("\n== serving throughput (tokens/s; % error of: " + ", ".join(names) + ") ==")
    by_group: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        errs = {n: fit_decode.error_pct(row, f(row)) for n, f in _SERVING_MODELS.items()}
        split = "FIT" if fit_decode.is_fit(row) else "TEST"
        print(
            f"{row.id[:52]:52s} {row.engine:12s} {fit_decode.batch_range(row):12s} {split:4s} "
            f"{row.measured_tokens_per_s:9.1f} "
            + " ".join(f"{errs[n]:+7.1f}%" for n in names)
            + ("  per stream" if row.per_stream else "")
        )
        for group in _serving_groups(row):
            for n in names:
                by_group[group][n].append(abs(errs[n]))
    for row_id, reason in skipped:
        print(f"{row_id:52s} skipped: {reason}")
    print(f"-- median |error| (mean) per group: {' | '.join(names)}")
    for group in sorted(by_group, key=lambda g: (g != "all", g)):
        cells = " | ".join(
            f"{statistics.median(v):5.1f}% ({statistics.fmean(v):5.1f}%)"
            for v in by_group[group].values()
        )
        print(f"--   {group:40s} {len(by_group[group][names[0]]):3d} rows  {cells}")


def main() -> None:
    """Compare every published measurement with tailor's estimate of it."""
    catalog = load_catalog()
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    _report(
        "training peak memory (GiB)",
        data["training_memory"],
        lambda r: _training_row(catalog, r),
        measured_peak_gib,
        "framework",
    )
    more = yaml.safe_load(MORE.read_text(encoding="utf-8"))["training_memory"]
    _report(
        "training peak memory (GiB), rows collected for issue 13 (never used to tune)",
        more,
        lambda r: _training_row(catalog, r),
        measured_peak_gib,
        "framework",
    )
    fit_verdicts(catalog, data["training_memory"] + more)
    throughput_report()
    serving_report()


def fit_verdicts(catalog, rows: list[dict]) -> None:
    """Runs that ran (so fitted) but that tailor would call "does not fit": estimated peak
    above MEMORY_LIMIT of the GPU's memory."""
    refused = []
    costed = 0
    for row in rows:
        result = _training_row(catalog, row)
        if isinstance(result, str):
            continue
        costed += 1
        gpu = catalog.find_gpu(row["gpu"])
        measured, _ = measured_peak_gib(row)
        if row["gpu"] == "A100" and measured and measured > gpu.memory_gib:
            gpu = catalog.find_gpu("A100-80GB")  # "A100": the peak says it was the 80 GB card
        limit = MEMORY_LIMIT * gpu.memory_gib
        if result[0] > limit:
            refused.append(f"{row['id']} ({result[0]:.1f} > {limit:.1f} GiB)")
    print(
        f"-- published runs that fitted but tailor reports 'does not fit' (> "
        f"{MEMORY_LIMIT:.0%} of the GPU): {len(refused)} of {costed}"
        + "".join(f"\n--   {r}" for r in refused)
    )


def throughput_report() -> None:
    """Training tokens/s per GPU: the fitted model (bench/fit_training.py) per framework, on
    the rows it was fitted on (in-sample) and on the held-out third, and tailor's planner
    (training_mfu: the HF-Trainer / trl class it launches) on the HF rows it can express."""
    catalog = load_catalog()
    points = fit_training._points(catalog)
    model = fit_training.fit_model(points)
    by_id = {r["id"]: r for r in yaml.safe_load(THROUGHPUT.read_text())["training_throughput"]}
    print("\n== training throughput (tokens/s per GPU; fit/test: sha1(id) % 3 == 0 held out) ==")
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        split = "TEST" if p["test"] else "FIT"
        error = 100 * (fit_training.predict(model, p) / p["u"] - 1)
        groups[f"framework {p['framework']}"][split].append(abs(error))
        groups["all"][split].append(abs(error))
        planner_u = fit_training._planner_u(p, catalog, by_id)
        if p["framework"] == "hf" and planner_u is not None:
            groups["planner (tailor's recipe) on hf rows"][split].append(
                abs(100 * (planner_u / p["u"] - 1))
            )
    for name in sorted(groups):
        cells = "  ".join(
            f"{split} {len(e):3d} rows {statistics.median(e):5.1f}%"
            for split, e in sorted(groups[name].items())
            if e
        )
        print(f"--   {name:40s} {cells}")


if __name__ == "__main__":
    main()
