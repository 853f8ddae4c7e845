"""Render a plan file as SkyPilot task YAML (pure: no sky import, no I/O).

- Training: a managed job. Accelerators and the failover offers come from the plan (``ordered``
  resources, restricted by the planner to the goal's clouds and regions), spot with job
  recovery, ``num_nodes`` and torchrun wired to SkyPilot's node environment, the dataset and a
  checkpoint bucket mounted, the recipe run with the plan's hyperparameters; after a preemption
  the recipe resumes from the newest checkpoint in the bucket.
- Serving: a SkyServe service running ``vllm serve`` of the fine-tuned weights (the LoRA
  adapter merged into its base by the training recipe, or the full fine-tune) under the name
  ``tailor``, or of a published pre-quantized checkpoint the plan chose, else the plan's model;
  the plan's ``--quantization`` (only for dynamic FP8: a quantized checkpoint names its own
  method), tensor parallelism, max-model-len, max-num-seqs and max-num-batched-tokens;
  readiness probe ``/health``; an API key (``VLLM_API_KEY``, a secret) on its ``/v1``
  routes; replicas and target QPS from the plan.
- Batch: a managed job on the plan's instances, each running ``vllm run-batch`` over its share
  of the input file with the same weights and engine flags, results to the bucket.

Secrets travel by name only (``secrets: {HF_TOKEN: null}``), and only those a task needs
(``task_secret_names``: HF_TOKEN where the task downloads a gated repository); the sky backend
passes their values from the launching environment when it submits. No value is ever written.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from dataclasses import dataclass

from executor import locks
from executor.api_key import API_KEY_ENV
from executor.errors import ExecutorError
from planner.plan import BatchPlan, OfferChoice, PlanFile, ServingPlan, TrainingPlan
from planner.types import Method

__all__ = [
    "MAX_RUNTIME_FACTOR",
    "RECIPE_DIR",
    "SECRET_NAMES",
    "TRAIN_RECOVERY",
    "RenderOptions",
    "batch_runtime_s",
    "bucket_name",
    "max_runtime_s",
    "render_batch_task",
    "render_serve_task",
    "render_train_task",
    "task_secret_names",
    "task_yaml",
    "train_requirements",
    "training_config",
]

RECIPE_DIR = "~/tailor-recipes"
SECRET_NAMES = ("HF_TOKEN", API_KEY_ENV)  # what a task may need: the recipe logs to no tracker
TRAIN_RECOVERY = {"max_restarts_on_errors": 0}
"""SkyPilot job recovery besides preemption: none. A preempted cluster is always recovered (it
does not count against max_restarts_on_errors); a non-zero exit of the recipe — bad data, the
runtime deadline's 124, an out-of-memory error — would fail the same way again, so it is not
retried (SkyPilot's default of 0 stated; recover_on_exit_codes left empty: torchrun exits 1
for every failure, so no code tells a transient fault apart)."""
LOCKS_ON_MACHINE = "~/tailor-locks"  # a service / batch job's copy of the lock folder
ACTIVATE = 'export PATH="$HOME/tailor-env/bin:$PATH"'  # the setup's locked env (locks.py)
SERVE_PORT = 8000
MAX_RUNTIME_FACTOR = 1.5  # training may run 1.5 × its pessimistic estimate, then stops
SERVED_MODEL_NAME = "tailor"  # what clients send as `model` to a fine-tuned plan's service


_BUCKET_MAX = 63  # S3 and Azure containers: 3-63 characters (GCS allows 222 with dots)
_GOOGLE_LOOKALIKES = ("google", "g00gle", "go0gle", "g0ogle")  # GCS refuses them anywhere


def bucket_name(run_id: str) -> str:
    """The run's checkpoint bucket: ``tailor-<run id>`` where that is a valid name on every
    store SkyPilot may create it in, else a cleaned form with a hash of the run id.

    Valid on S3, GCS and Azure at once (SkyPilot's S3CompatibleStore, GcsStore and
    AzureBlobStore ``validate_name``): 3-63 characters of ``[a-z0-9-]``, starting and ending
    with a letter or digit, no ``--`` (Azure; and so no ``xn--`` or ``--ol-s3``), no dots (no
    IP form, no dot rules), not starting with ``goog`` nor containing google look-alikes."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")
    for word in _GOOGLE_LOOKALIKES:
        slug = slug.replace(word, "goo-gle")
    name = f"tailor-{slug}" if slug else "tailor"
    if name == f"tailor-{run_id}" and len(name) <= _BUCKET_MAX and not name.endswith("-s3alias"):
        return name
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
    return f"{name[: _BUCKET_MAX - len(digest) - 1].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class RenderOptions:
    """Where the data and the checkpoints live, and the recipe source to ship."""

    run_name: str
    data_source: str  # local path or bucket URI of the training JSONL
    checkpoint_bucket: str  # bucket name for checkpoints and the trained adapter
    recipe_source: str  # local folder holding train.py (shipped to RECIPE_DIR)
    data_format: str = "chat"
    batch_input: str = "batch.jsonl"  # local path or bucket URI of a batch job's requests

    @property
    def locks_source(self) -> str:
        """The local folder of the lock files (executor.locks), inside the recipes."""
        return f"{self.recipe_source.rstrip('/')}/locks"


def _resources(
    offer: OfferChoice, alternatives: tuple[OfferChoice, ...], count: int, extra: dict
) -> dict:
    def one(o: OfferChoice) -> dict:
        return {
            "cloud": o.cloud,
            "region": o.region,
            "instance_type": o.instance_type,
            "accelerators": {o.accelerator: count},
            "use_spot": o.spot,
        }

    return {**extra, "ordered": [one(o) for o in (offer, *alternatives)]}


def _repo_id(plan_file: PlanFile) -> str:
    """The Hugging Face repository the plan trains and serves, as the plan file says."""
    repo = plan_file.plan.hf_repo_id
    if repo is None:
        raise ExecutorError(
            f"plan {plan_file.plan.id} names no Hugging Face repository for "
            f"{plan_file.plan.model}.",
            fix="re-plan with `tailor plan` (plan files of open models carry hf_repo_id).",
        )
    return repo


def task_secret_names(plan_file: PlanFile, *, downloads_weights: bool) -> tuple[str, ...]:
    """The secrets a task needs: HF_TOKEN when it downloads the plan's gated repository
    (``plan.hf_gated``; a published quantized checkpoint of it is taken to carry the same
    license gate). A task serving weights the training job wrote downloads nothing."""
    return ("HF_TOKEN",) if downloads_weights and plan_file.plan.hf_gated else ()


def _secrets(names: tuple[str, ...]) -> dict:
    return {"secrets": dict.fromkeys(names)} if names else {}


def training_config(plan_file: PlanFile, options: RenderOptions, output_dir: str) -> dict:
    """The train recipe's config (executor/recipes/train.py) for this plan."""
    t = plan_file.plan.training
    assert t is not None
    lora = (
        {"lora_rank": t.lora_rank, "lora_alpha": t.lora_alpha, "lora_targets": list(t.lora_targets)}
        if t.method is not Method.FULL
        else {}  # a full fine-tune has no adapter: the recipe refuses a null rank
    )
    return {
        "model": _repo_id(plan_file),
        "method": str(t.method),
        **lora,
        "seq_len_tokens": t.seq_len_tokens,
        "micro_batch": t.micro_batch,
        "gradient_accumulation": t.gradient_accumulation,
        "gradient_checkpointing": t.gradient_checkpointing,
        "optimizer": t.optimizer,
        "learning_rate": t.learning_rate,
        "epochs": t.epochs,
        "data_path": "/data/train.jsonl",
        "data_format": options.data_format,
        "on_bad_rows": "error",
        "validation_fraction": plan_file.goal.data.validation_fraction,
        "output_dir": output_dir,
        "save_steps": t.save_steps,
        "eval_steps": 100 if t.save_steps % 100 == 0 else t.save_steps,
        "early_stopping_patience": 3,
        "merge": t.method is not Method.FULL,
        "precision": str(t.precision),
        "sharding": str(t.sharding) if t.sharding is not None else "ddp",
        "packing": t.packing,
        "attention": str(t.attention),
        "seed": 0,
    }


def _heredoc(path: str, text: str, delimiter: str) -> list[str]:
    """Shell lines writing ``text`` to ``path`` verbatim (a quoted here-document: nothing in it
    is expanded; no line of it may end it early)."""
    if delimiter in text.splitlines():
        raise ExecutorError(
            f"the text written to {path} holds the line {delimiter!r}.",
            fix="re-plan with `tailor plan` (a plan file's values are single-line).",
        )
    return [f"cat > {shlex.quote(path)} <<'{delimiter}'", text, delimiter]


def train_requirements(t: TrainingPlan) -> tuple[str, ...]:
    """The direct pins of the training task's lock: TRAIN_REQUIREMENTS, plus DeepSpeed for a
    zero3 plan and flash-attn for a flash-attention one (executor.locks)."""
    return locks.lock_inputs(train_lock(t))


def train_lock(t: TrainingPlan) -> str:
    """The training task's lock file name (executor.locks) for the plan's knobs."""
    return locks.train_lock_name((str(t.sharding), str(t.attention)))


def max_runtime_s(t: TrainingPlan) -> int:
    """The training job's timeout, s: the plan's pessimistic hours × MAX_RUNTIME_FACTOR."""
    return math.ceil(t.hours_high * MAX_RUNTIME_FACTOR * 3600)


def _train_run(t: TrainingPlan, config: dict, output_dir: str) -> str:
    launcher = ["torchrun", "--nproc_per_node=$SKYPILOT_NUM_GPUS_PER_NODE"]
    if t.nodes > 1:
        launcher += [
            "--nnodes=$SKYPILOT_NUM_NODES",
            "--node_rank=$SKYPILOT_NODE_RANK",
            '--master_addr="$(echo "$SKYPILOT_NODE_IPS" | head -n1)"',
            "--master_port=29500",
        ]
    # json.dumps escapes every control character, so the config is lines of JSON
    config_text = json.dumps(config, indent=2)
    return (
        "\n".join(
            [
                "set -euo pipefail",
                ACTIVATE,
                *_heredoc("/tmp/tailor-train.json", config_text, "TAILOR_CONFIG"),
                # max runtime: the plan's pessimistic hours × MAX_RUNTIME_FACTOR across every
                # restart: the first start's time is kept in the checkpoint bucket, and a
                # recovered job gets only what is left of the deadline.
                f"mkdir -p {shlex.quote(output_dir)}",
                f"started={shlex.quote(output_dir + '/.tailor-started-at')}",
                '[ -s "$started" ] || date +%s > "$started"',
                f'left=$(( {max_runtime_s(t)} - ( $(date +%s) - $(cat "$started") ) ))',
                'if [ "$left" -le 0 ]; then echo "tailor: training passed its max runtime '
                f'({max_runtime_s(t)} s since its first start); not restarting" >&2; exit 124; fi',
                " ".join(
                    [
                        "timeout",
                        "--signal=TERM",
                        "--kill-after=300",
                        '"$left"',
                        *launcher,  # constants: they expand SkyPilot's variables
                        f"{RECIPE_DIR}/train.py",  # RECIPE_DIR starts with ~: left unquoted
                        "--config",
                        "/tmp/tailor-train.json",
                    ]
                ),
            ]
        )
        + "\n"
    )


def render_train_task(plan_file: PlanFile, options: RenderOptions) -> dict:
    """The training task (a SkyPilot managed job) as a YAML-ready dict."""
    t = plan_file.plan.training
    if t is None:
        raise ExecutorError(
            f"plan {plan_file.plan.id} trains nothing (strategy {plan_file.plan.strategy}).",
            fix="launch a fine-tune plan.",
        )
    output_dir = f"/checkpoints/{options.run_name}"
    recovery = {"strategy": "EAGER_NEXT_REGION" if t.offer.spot else "FAILOVER", **TRAIN_RECOVERY}
    return {
        "name": f"{options.run_name}-train",
        "num_nodes": t.nodes,
        "resources": _resources(
            t.offer,
            t.alternative_offers,
            t.gpus_per_node,
            {"job_recovery": recovery, "disk_size": 256},
        ),
        "file_mounts": {
            "/data/train.jsonl": options.data_source,
            "/checkpoints": {"name": options.checkpoint_bucket, "mode": "MOUNT"},
            RECIPE_DIR: options.recipe_source,
        },
        "envs": {"TAILOR_RUN": options.run_name, "HF_HUB_ENABLE_HF_TRANSFER": "0"},
        **_secrets(task_secret_names(plan_file, downloads_weights=True)),
        "setup": locks.setup_script(train_lock(t), f"{RECIPE_DIR}/locks"),
        "run": _train_run(t, training_config(plan_file, options, output_dir), output_dir),
    }


def _served_weights(
    plan_file: PlanFile, s: ServingPlan | BatchPlan, trained_dir: str | None
) -> list[str]:
    """What vLLM serves: the fine-tuned weights (a LoRA adapter merged into its base by the
    training recipe — merged is the default for one adapter — or the full fine-tune), else a
    published pre-quantized checkpoint the plan chose, else the plan's model."""
    t = plan_file.plan.training
    if t is not None and trained_dir is not None:
        if s.served_repo_id is not None:
            raise ExecutorError(
                f"plan {plan_file.plan.id} trains {plan_file.plan.model} but serves the "
                f"published checkpoint {s.served_repo_id}, which holds the untrained weights.",
                fix="re-plan with `tailor plan` (fine-tuned plans serve their own weights).",
            )
        weights = f"{trained_dir}/final" if t.method is Method.FULL else f"{trained_dir}/merged"
        return [weights, "--served-model-name", SERVED_MODEL_NAME]
    return [s.served_repo_id or _repo_id(plan_file)]


def _engine_args(s: ServingPlan | BatchPlan) -> list[str]:
    """vLLM's engine flags for the plan's setup (the same for serve and run-batch)."""
    quantization = ["--quantization", s.vllm_quantization] if s.vllm_quantization else []
    return [
        "--tensor-parallel-size",
        str(s.tensor_parallel),
        "--max-model-len",
        str(s.max_model_len),
        "--max-num-seqs",
        str(s.max_concurrent_sequences),
        "--max-num-batched-tokens",
        str(s.max_num_batched_tokens),
        *quantization,
    ]


def _vllm_command(plan_file: PlanFile, s: ServingPlan, trained_dir: str | None) -> list[str]:
    return [
        "vllm",
        "serve",
        *_served_weights(plan_file, s, trained_dir),
        "--host",
        "0.0.0.0",
        "--port",
        str(SERVE_PORT),
        *_engine_args(s),
    ]


_GUARD = """\
import json, sys
config, served = sys.argv[1], sys.argv[2]
base = json.load(open(config))["base_model_name_or_path"]
sys.exit(0 if base == served else f"adapter was trained on {base}; this service serves {served}")
"""


def _adapter_guard(plan_file: PlanFile, adapter_dir: str | None) -> str:
    """Shell lines that refuse to serve an adapter trained on another base model.

    The Python check is a constant; the adapter's config path and the served repository reach
    it as arguments, each quoted with ``shlex.quote``, so no value can become code.
    """
    t = plan_file.plan.training
    if adapter_dir is None or t is None or t.method is Method.FULL:
        return ""
    config = f"{adapter_dir}/adapter_config.json"
    argv = " ".join(shlex.quote(a) for a in (config, _repo_id(plan_file)))
    return f"set -e\npython3 - {argv} <<'TAILOR_CHECK'\n{_GUARD}TAILOR_CHECK\n"


def render_serve_task(plan_file: PlanFile, options: RenderOptions) -> dict:
    """The serving task (a SkyServe service) as a YAML-ready dict.

    A fine-tuned plan serves the base model plus the adapter the training task writes to
    ``<bucket>/<run>/final`` (full fine-tunes serve that folder as the model).
    """
    s = plan_file.plan.serving
    if s is None:
        raise ExecutorError(
            f"plan {plan_file.plan.id} serves nothing on our GPUs (strategy "
            f"{plan_file.plan.strategy}).",
            fix="launch a self-hosted plan.",
        )
    training = plan_file.plan.training
    trained = training is not None
    mounts = {"/adapters": {"name": options.checkpoint_bucket, "mode": "MOUNT"}} if trained else {}
    trained_dir = f"/adapters/{options.run_name}" if trained else None
    adapter = f"{trained_dir}/final" if trained else None
    command = _vllm_command(plan_file, s, trained_dir)
    return {
        "name": f"{options.run_name}-serve",
        "service": {
            # /health: open while the API key guards /v1, and up once the model is loaded
            "readiness_probe": {"path": "/health", "initial_delay_seconds": 1200},
            "replica_policy": {
                "min_replicas": s.min_replicas,
                "max_replicas": s.max_replicas,
                "target_qps_per_replica": round(s.requests_per_s_per_replica, 3),
            },
        },
        "resources": _resources(
            s.offer,
            s.alternative_offers,
            s.tensor_parallel,
            {"ports": SERVE_PORT, "disk_size": 256},
        ),
        "file_mounts": {LOCKS_ON_MACHINE: options.locks_source, **mounts},
        # the endpoint's key (executor.api_key): vLLM reads VLLM_API_KEY from its environment
        **_secrets((*task_secret_names(plan_file, downloads_weights=not trained), API_KEY_ENV)),
        "setup": locks.setup_script("serve.txt", LOCKS_ON_MACHINE),
        "run": f"{ACTIVATE}\n"
        + _adapter_guard(plan_file, adapter)
        + " ".join(shlex.quote(c) for c in command)
        + "\n",
    }


_SHARD = """\
import json, sys
source, target, rank, nodes, model = sys.argv[1:6]
rank, nodes = int(rank), int(nodes)
with open(source) as lines, open(target, "w") as out:
    for number, line in enumerate(lines):
        if not line.strip() or number % nodes != rank:
            continue
        request = json.loads(line)
        request["body"]["model"] = model
        out.write(json.dumps(request) + "\\n")
"""


def batch_runtime_s(b: BatchPlan) -> int:
    """A batch job's timeout, s: the plan's hours per job × MAX_RUNTIME_FACTOR."""
    return math.ceil(b.hours_per_job * MAX_RUNTIME_FACTOR * 3600)


def render_batch_task(plan_file: PlanFile, options: RenderOptions) -> dict:
    """A batch job (a SkyPilot managed job on ``instances`` nodes) as a YAML-ready dict.

    Each node takes every ``instances``-th request of the input file (the OpenAI batch format
    vLLM's ``run-batch`` reads), names the plan's model in it, runs ``vllm run-batch`` with
    the plan's engine flags, and writes its results to
    ``<bucket>/<run>/results/part-<node>.jsonl``. The job stops after hours_per_job ×
    MAX_RUNTIME_FACTOR.
    """
    b = plan_file.plan.batch
    if b is None:
        raise ExecutorError(
            f"plan {plan_file.plan.id} runs no batch jobs (strategy {plan_file.plan.strategy}).",
            fix="launch a plan of a goal with traffic.requests_per_month: 0 and a batch section.",
        )
    trained = plan_file.plan.training is not None
    trained_dir = f"/bucket/{options.run_name}" if trained else None
    weights = _served_weights(plan_file, b, trained_dir)
    model = SERVED_MODEL_NAME if trained else weights[0]
    shard = " ".join(
        [
            "python3",
            "-",
            "/batch/input.jsonl",
            "/tmp/tailor-shard.jsonl",
            '"$SKYPILOT_NODE_RANK"',
            '"$SKYPILOT_NUM_NODES"',
            shlex.quote(model),
        ]
    )
    command = [
        "timeout",
        "--signal=TERM",
        "--kill-after=300",
        str(batch_runtime_s(b)),
        "vllm",
        "run-batch",
        "-i",
        "/tmp/tailor-shard.jsonl",
        "-o",
        "/tmp/tailor-results.jsonl",
        "--model",
        *weights,
        *_engine_args(b),
    ]
    results = f"/bucket/{options.run_name}/results"
    run = "\n".join(
        [
            "set -euo pipefail",
            ACTIVATE,
            _adapter_guard(plan_file, f"{trained_dir}/final" if trained else None).rstrip(),
            f"{shard} <<'TAILOR_SHARD'",
            _SHARD.rstrip("\n"),
            "TAILOR_SHARD",
            " ".join(shlex.quote(c) for c in command),
            f"mkdir -p {shlex.quote(results)}",
            "cp /tmp/tailor-results.jsonl "
            f'"{results}/part-$(printf %05d "$SKYPILOT_NODE_RANK").jsonl"',
        ]
    )
    return {
        "name": f"{options.run_name}-batch",
        "num_nodes": b.instances,
        "resources": _resources(
            b.offer,
            b.alternative_offers,
            b.tensor_parallel,
            {
                "job_recovery": {"strategy": "FAILOVER", **TRAIN_RECOVERY},
                "disk_size": 256,
            },
        ),
        "file_mounts": {
            "/batch/input.jsonl": options.batch_input,
            "/bucket": {"name": options.checkpoint_bucket, "mode": "MOUNT"},
            LOCKS_ON_MACHINE: options.locks_source,
        },
        **_secrets(task_secret_names(plan_file, downloads_weights=not trained)),
        "setup": locks.setup_script("serve.txt", LOCKS_ON_MACHINE),
        "run": "\n".join(line for line in run.splitlines() if line) + "\n",
    }


def task_yaml(task: dict) -> str:
    """A rendered task as YAML text, multi-line strings (setup, run) as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def literal(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
        return dumper.represent_scalar(
            "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
        )

    Dumper.add_representer(str, literal)
    return yaml.dump(task, Dumper=Dumper, sort_keys=False, width=100)
