"""The training recipe: config and data checks, and real fine-tunes of a tiny model on the CPU.

The slow tests train ``executor.recipes.tiny_model`` (2 layers, hidden 128, random init) for a few
dozen steps; the LoRA path trains ``lm_head`` too (``modules_to_save``), which a random-init
model needs to learn anything.
"""

from __future__ import annotations

import ast
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from executor.recipes import tiny_model, train
from tests.conftest import REPO_ROOT

DATA = REPO_ROOT / "examples" / "data"
RECIPES = REPO_ROOT / "executor" / "recipes"
METRIC_KEYS = {"step", "epoch", "loss", "tokens_per_s", "peak_memory_gib", "time"}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make tiny-model`'s folder when it is complete, else a fresh build."""
    cached = REPO_ROOT / ".cache" / "tiny-llama"
    if tiny_model.is_complete(cached):
        return cached
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    tiny_model.build(out)
    return out


def write_config(folder: Path, **keys: object) -> Path:
    keys.setdefault("output_dir", str(folder / "run"))
    path = folder / "config.json"
    path.write_text(json.dumps(keys), encoding="utf-8")
    return path


def smoke_config(folder: Path, model: Path, data: Path, **overrides: object) -> Path:
    """A few steps of LoRA on short sequences: seconds on a CPU."""
    keys: dict[str, object] = {
        "model": str(model),
        "data_path": str(data),
        "data_format": "chat",
        "method": "lora",
        "lora_rank": 8,
        "modules_to_save": ["lm_head"],
        "seq_len_tokens": 96,
        "micro_batch": 4,
        "learning_rate": 3e-3,
        "max_steps": 3,
        "save_steps": 3,
        "seed": 1,
    }
    return write_config(folder, **(keys | overrides))


def metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def run_subprocess(config: Path, *, script: bool = False) -> subprocess.CompletedProcess[str]:
    target = [str(RECIPES / "train.py")] if script else ["-m", "executor.recipes.train"]
    return subprocess.run(
        [sys.executable, *target, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        check=False,
    )


# ---- fast: no model ------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["train.py", "tiny_model.py", "training_rows.py"])
def test_recipe_imports_only_the_ml_stack(recipe: str) -> None:
    allowed = {"torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "tokenizers"}
    allowed |= {"accelerate"}  # pinned in TRAIN_REQUIREMENTS: fsdp-hybrid's ParallelismConfig
    allowed |= {p.stem for p in RECIPES.glob("*.py")}  # siblings, shipped in the same folder
    if recipe == "training_rows.py":  # tailor launch imports it too: the standard library only
        allowed = set()
    tree = ast.parse((RECIPES / recipe).read_text(encoding="utf-8"))
    roots = {
        alias.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for alias in n.names
    }
    roots |= {
        n.module.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0
    }
    assert roots - allowed <= set(sys.stdlib_module_names) | {"__future__"}, roots


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"method": "dora"}, "method"),
        ({"lora_rank": "8"}, "lora_rank"),
        ({"merge": 1}, "merge"),
        ({"learning_rat": 0.1}, "learning_rat"),
        ({"early_stopping_patience": 2, "validation_fraction": 0}, "early_stopping_patience"),
        ({"early_stopping_patience": 2, "save_steps": 5, "eval_steps": 2}, "save_steps"),
    ],
)
def test_bad_config_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: dict, named: str
) -> None:
    config = write_config(tmp_path, model="m", data_path="d.jsonl", **keys)
    assert train.main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert named in err and "To fix:" in err
    assert err.count("\n") == 1  # one paragraph


def test_missing_required_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, model="m")
    assert train.main(["--config", str(config)]) == 2
    assert "data_path is missing. To fix:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fmt", "row", "problem"),
    [
        ("chat", {"messages": []}, 'empty "messages"'),
        ("chat", {"messages": [{"role": "bot", "content": "hi"}]}, "role 'bot'"),
        ("chat", {"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
        ("chat", {"messages": [{"role": "assistant", "content": " "}]}, "empty or non-text"),
        ("instruction", {"instruction": "Do it"}, 'missing key "output"'),
        ("instruction", {"instruction": "", "output": "x"}, '"instruction" is empty'),
        ("completion", {"prompt": "p", "completion": 3}, '"completion" is int'),
        ("completion", ["p", "c"], "expected a JSON object"),
    ],
)
def test_bad_rows_say_what_is_wrong(fmt: str, row: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        train.to_messages(row, fmt)


def test_instruction_and_completion_rows_become_chats() -> None:
    row = {"instruction": "Classify.", "input": "Great app", "output": "Positive"}
    assert train.to_messages(row, "instruction") == [
        {"role": "user", "content": "Classify.\n\nGreat app"},
        {"role": "assistant", "content": "Positive"},
    ]
    assert train.to_messages({"prompt": "Q:", "completion": " A"}, "completion")[1] == {
        "role": "assistant",
        "content": " A",
    }


def test_split_is_deterministic_and_disjoint() -> None:
    rows = list(range(50))
    train_rows, val_rows = train.split_rows(rows, 0.1, seed=3)
    assert (train_rows, val_rows) == train.split_rows(rows, 0.1, seed=3)
    assert len(val_rows) == 5 and sorted(train_rows + val_rows) == rows
    assert train.split_rows(rows, 0.1, seed=4)[1] != val_rows
    kept, held_out = train.split_rows(rows, 0.0, seed=3)
    assert sorted(kept) == rows and held_out == []


def test_bad_row_stops_the_run_naming_the_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    good = (DATA / "support-chat.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    data.write_text("\n".join([*good, '{"messages": [}', good[0]]) + "\n", encoding="utf-8")
    config = write_config(tmp_path, model="unused", data_path=str(data))
    result = run_subprocess(config, script=True)  # the file alone, as on a bare GPU machine
    assert result.returncode == 2, result.stderr
    assert f"{data}:4: invalid JSON" in result.stderr
    assert "on_bad_rows" in result.stderr and "Traceback" not in result.stderr


# ---- slow: real fine-tunes of the tiny model ----------------------------------------------------


@pytest.mark.slow
def test_tiny_model_loads_with_a_generation_template(tiny_model_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.architectures == ["LlamaForCausalLM"]
    assert config.hidden_size // config.num_attention_heads == 64
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    out = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    trained = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(trained) == "Hello.<|im_end|>"
    assert not tiny_model.build(tiny_model_dir)  # complete: nothing to do


@pytest.mark.slow
def test_lora_run_learns_and_writes_everything(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = smoke_config(
        tmp_path,
        tiny_model_dir,
        DATA / "support-chat.jsonl",
        micro_batch=8,
        max_steps=24,
        save_steps=8,
        eval_steps=8,
        early_stopping_patience=5,
        merge=True,
    )
    assert train.main(["--config", str(config)]) == 0
    run = tmp_path / "run"
    lines = metrics(run)
    assert [line["step"] for line in lines] == list(range(1, 25))
    assert all(line.keys() >= METRIC_KEYS for line in lines)
    assert all(line["tokens_per_s"] > 0 and line["peak_memory_gib"] > 0 for line in lines)
    assert lines[-1]["loss"] < lines[0]["loss"] - 2.0  # random init: ~6.5 falls below 3
    evals = [line["eval_loss"] for line in lines if "eval_loss" in line]
    assert len(evals) == 3 and evals[-1] < evals[0]
    assert (run / "final" / "adapter_model.safetensors").is_file()
    assert (run / "final" / "tokenizer_config.json").is_file()
    assert (run / "merged" / "model.safetensors").is_file()
    assert len(list((run / "checkpoints").glob("checkpoint-*"))) <= 3  # last 2 + best
    done = json.loads((run / "DONE").read_text(encoding="utf-8"))
    assert done["final_step"] == 24 and done["skipped_rows"] == 0
    assert done["eval_loss"] == min(evals) and done["assistant_only_loss"] is True
    assert train.main(["--config", str(config)]) == 0  # DONE: a rerun does nothing
    assert len(metrics(run)) == 24


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "data"), [("instruction", "instructions.jsonl"), ("completion", "completions.jsonl")]
)
def test_other_formats_train(tiny_model_dir: Path, tmp_path: Path, fmt: str, data: str) -> None:
    config = smoke_config(tmp_path, tiny_model_dir, DATA / data, data_format=fmt)
    assert train.main(["--config", str(config)]) == 0
    done = json.loads((tmp_path / "run" / "DONE").read_text(encoding="utf-8"))
    assert done["final_step"] == 3 and done["train_rows"] == 45
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_bad_rows_are_skipped_and_counted(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "mixed.jsonl"
    good = (DATA / "completions.jsonl").read_text(encoding="utf-8").splitlines()[:20]
    bad = ["not json", '{"prompt": "p"}', '{"prompt": "", "completion": "c"}']
    data.write_text("\n".join(good[:10] + bad + good[10:]) + "\n", encoding="utf-8")
    config = smoke_config(
        tmp_path, tiny_model_dir, data, data_format="completion", on_bad_rows="skip", max_steps=2
    )
    assert train.main(["--config", str(config)]) == 0
    assert "3 bad rows skipped" in capsys.readouterr().out
    done = json.loads((tmp_path / "run" / "DONE").read_text(encoding="utf-8"))
    assert done["skipped_rows"] == 3 and done["train_rows"] + done["validation_rows"] == 20


@pytest.mark.slow
def test_killed_run_resumes_from_newest_checkpoint(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = smoke_config(
        tmp_path,
        tiny_model_dir,
        DATA / "support-chat.jsonl",
        micro_batch=2,
        max_steps=20,
        save_steps=4,
        validation_fraction=0,
    )
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "executor.recipes.train", "--config", str(config)],
        cwd=REPO_ROOT,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while train.newest_checkpoint(run / "checkpoints") is None and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    checkpoint = train.newest_checkpoint(run / "checkpoints")
    assert checkpoint is not None and not (run / "DONE").exists()
    saved = int(checkpoint.name.rsplit("-", 1)[1])

    assert train.main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {checkpoint} (step {saved})" in out
    first_new = next(int(line.split()[1]) for line in out.splitlines() if line.startswith("step "))
    assert first_new == saved + 1
    steps = [line["step"] for line in metrics(run)]
    assert steps == list(range(1, 21))  # nothing lost, nothing logged twice
    state = json.loads((checkpoint.parent / "checkpoint-20" / "trainer_state.json").read_text())
    assert state["global_step"] == 20
    done = json.loads((run / "DONE").read_text(encoding="utf-8"))
    assert done["resumed_from_step"] == saved and done["final_step"] == 20


@pytest.mark.slow
def test_qlora_trains_a_4bit_base_on_cpu(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = smoke_config(
        tmp_path,
        tiny_model_dir,
        DATA / "support-chat.jsonl",
        method="qlora",
        max_steps=2,
        gradient_checkpointing=True,
    )
    assert train.main(["--config", str(config)]) == 0
    assert "for qlora (4-bit NF4)" in capsys.readouterr().out
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("precision", "method", "expected"),
    [
        ("fp32", "lora", train.Precision("float32", "float32", bf16=False, fp16=False)),
        ("bf16-mixed", "lora", train.Precision("bfloat16", "float32", bf16=True, fp16=False)),
        ("bf16-mixed", "full", train.Precision("float32", "float32", bf16=True, fp16=False)),
        ("bf16-pure", "full", train.Precision("bfloat16", "bfloat16", bf16=True, fp16=False)),
        ("bf16-pure", "qlora", train.Precision("bfloat16", "bfloat16", bf16=True, fp16=False)),
        ("fp16-mixed", "lora", train.Precision("float16", "float32", bf16=False, fp16=True)),
        ("fp16-mixed", "full", train.Precision("float32", "float32", bf16=False, fp16=True)),
    ],
)
def test_each_precision_loads_keeps_and_autocasts_as_the_plan_says(
    precision: str, method: str, expected: train.Precision
) -> None:
    # Mixed precision keeps an fp32 copy of what trains (full: the weights themselves, LoRA:
    # the adapters) and autocasts the matmuls; pure bf16 keeps everything in bf16; fp16 also
    # turns on the Trainer's loss scaler (fp16=True), which refuses fp16 trainable weights.
    config = train.TrainConfig(
        model="m", data_path="d", output_dir="o", method=method, precision=precision
    )
    assert train.precision_of(config) == expected


def test_an_unknown_precision_names_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, model="m", data_path="d", precision="bf16")
    with pytest.raises(train.RecipeError, match="precision"):
        train.load_config(config)


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "dtype"), [("bf16-pure", "BF16"), ("bf16-mixed", "F32")])
def test_bf16_runs_keep_the_adapters_in_the_planned_dtype(
    tiny_model_dir: Path, tmp_path: Path, precision: str, dtype: str
) -> None:
    config = smoke_config(
        tmp_path,
        tiny_model_dir,
        DATA / "support-chat.jsonl",
        precision=precision,
        max_steps=2,
        modules_to_save=[],
    )
    assert train.main(["--config", str(config)]) == 0
    adapter = tmp_path / "run" / "final" / "adapter_model.safetensors"
    header_len = int.from_bytes(adapter.read_bytes()[:8], "little")
    header = json.loads(adapter.read_bytes()[8 : 8 + header_len])
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {dtype}
    assert all(math.isfinite(line["loss"]) for line in metrics(tmp_path / "run"))


# ---- the plan's recipe knobs: sharding, packing, attention -----------------------------------


def test_sharding_becomes_the_trainers_distributed_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trl import SFTConfig

    def config(sharding: str) -> train.TrainConfig:
        return train.TrainConfig(
            model="m", data_path="d", output_dir="o", sharding=sharding, gradient_checkpointing=True
        )

    assert train.distributed_args(config("ddp")) == {}  # torchrun + the Trainer is DDP
    fsdp = train.distributed_args(config("fsdp"))
    # transformers' own validation builds the FSDP2 plugin from it (as a GPU run would)
    args = SFTConfig(output_dir="o", use_cpu=True, report_to="none", **fsdp)
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert args.fsdp_plugin_args["reshard_after_forward"] is True
    assert args.fsdp_plugin_args["activation_checkpointing"] is True  # FSDP's, not the Trainer's
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    hybrid = train.distributed_args(config("fsdp-hybrid"))["parallelism_config"]
    assert (hybrid.dp_replicate_size, hybrid.dp_shard_size) == (2, 8)  # 2 nodes × 8 shards
    zero3 = train.distributed_args(config("zero3"))["deepspeed"]
    assert zero3["zero_optimization"]["stage"] == 3


def test_an_unknown_sharding_names_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, model="m", data_path="d", sharding="fsdp2")
    with pytest.raises(train.RecipeError, match="sharding"):
        train.load_config(config)


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packing_and_attention_reach_the_trainer(
    tiny_model_dir: Path, tmp_path: Path, attention: str
) -> None:
    path = smoke_config(
        tmp_path,
        tiny_model_dir,
        DATA / "support-chat.jsonl",
        packing=True,
        attention=attention,
        seq_len_tokens=512,  # room for several examples per block
        max_steps=2,
    )
    config = train.load_config(path)
    rows, _ = train.read_rows(Path(config.data_path), config.data_format, config.on_bad_rows)
    train_rows, val_rows = train.split_rows(rows, config.validation_fraction, config.seed)
    trainer, _, _ = train.build_trainer(config, train_rows, val_rows, tmp_path / "run")
    assert trainer.model.config._attn_implementation == attention
    # bfd packing: several examples per seq_len block, padding-free (no pad tokens computed)
    assert len(trainer.train_dataset) < len(train_rows)
    assert trainer.data_collator.padding_free
    trainer.train()
    assert all(math.isfinite(e["loss"]) for e in trainer.state.log_history if "loss" in e)


@pytest.mark.slow
def test_two_ranks_write_one_set_of_outputs(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Under torchrun with two processes (DDP over gloo on the CPU, as on two GPUs over NCCL),
    rank 0 alone writes metrics.jsonl, the tokenizer, merged/ and DONE: one line per step, one
    `done:` line, and both ranks exit 0."""
    config = smoke_config(
        tmp_path, tiny_model_dir, DATA / "support-chat.jsonl", max_steps=4, merge=True
    )
    torchrun = Path(sys.executable).with_name("torchrun")
    with socket.socket() as probe:  # a free port for the rendezvous (torchrun hangs on 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            str(RECIPES / "train.py"),
            *("--config", str(config)),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert [line["step"] for line in metrics(run)] == [1, 2, 3, 4]
    assert result.stdout.count("done: ") == 1
    assert (run / "merged" / "model.safetensors").is_file()
    assert (run / "merged" / "tokenizer_config.json").is_file()
    assert json.loads((run / "DONE").read_text(encoding="utf-8"))["final_step"] == 4
