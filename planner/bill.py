"""The lines of the bill that come on top of the GPUs: egress, disks, controllers, storage.

Each is a ``CostLine`` with its quantity, unit price and basis, so a plan's first-year figure
is what the cloud's invoice will say, not only its GPU hours. Prices are the catalog's cloud
facts (catalog/data/clouds.yaml, each with its source); a price the catalog does not have is
a line of $0 that says so, never a guess.

- **Response egress** of a self-hosted endpoint: requests × output tokens × the bytes one
  streamed token takes on the wire (``STREAMED_BYTES_PER_TOKEN``), less the cloud's free
  allowance, at its internet egress price. Hosted APIs bill none (their token price covers it).
- **Disks**: every node SkyPilot starts gets the ``disk_size`` the task renders
  (``executor.render``: 256 GB), billed per GB-month while it exists: serving replicas all
  month, training nodes for the run's hours.
- **SkyPilot controllers**: a SkyServe controller runs as long as the service does; the managed
  jobs controller runs during training, then stops after 10 idle minutes (``down: False``), its
  disk kept and billed.
- **Batch jobs**: each instance's disk for the job's hours, the managed jobs controller up
  for each job (+ its idle minutes) with its disk kept, and the results file downloaded once
  (``RESULT_LINE_BYTES`` of JSON + the text per request, assumptions) at the egress price.
- **Artifacts**: the bucket keeps the last two training checkpoints and the final weights (the
  train recipe's ``save_total_limit``), and for LoRA the adapter merged into its base (the
  rendered ``merge: true``: what serving loads), billed per GB-month for the year.
- **Weights out**: after the last step the recipe writes final/ and, for LoRA, loads the base
  again and writes merged/ to the bucket mount; the nodes stay billed meanwhile
  (``CHECKPOINT_WRITE_BYTES_PER_S``, an assumption).
- **Training data in**: the JSONL SkyPilot uploads to the node (train_examples × tokens ×
  ``DATA_BYTES_PER_TOKEN``), at the cloud's ingress price where the catalog has one.
"""

from __future__ import annotations

from catalog import Catalog, CloudFacts, ModelArch, total_params
from planner.estimators.spot import CHECKPOINT_WRITE_BYTES_PER_S
from planner.estimators.terms import Term, num
from planner.estimators.training_memory import lora_adapter_params
from planner.plan import BatchPlan, CostLine, ServingPlan, TrainingPlan
from planner.spec import GoalSpec
from planner.types import HOURS_PER_MONTH, Method

__all__ = [
    "CHECKPOINT_BYTES_PER_TRAINED_PARAM",
    "DATA_BYTES_PER_TOKEN",
    "NODE_DISK_GB",
    "STREAMED_BYTES_PER_TOKEN",
    "cost_term",
    "side_costs",
    "trained_parameters",
]

STREAMED_BYTES_PER_TOKEN = 250
"""Bytes one generated token costs on the wire when streamed: one server-sent event
``data: {"id":"chatcmpl-…","object":"chat.completion.chunk","created":…,"model":…,"choices":
[{"index":0,"delta":{"content":…},"logprobs":null,"finish_reason":null}]}``. Measured by
serializing vLLM 0.32's ``ChatCompletionStreamResponse`` as its server does
(``model_dump_json(exclude_unset=True)``, chat_completion/serving.py:588): 218 B with the model
named "tailor", 244 B with "meta-llama/Llama-3.1-8B-Instruct"; rounded up for HTTP chunk framing.
Assumption: responses are streamed (chat clients do); unstreamed ones are ~60× smaller."""
RESULT_LINE_BYTES = 600
"""Assumption: bytes of one result line of vLLM's run-batch output (the OpenAI batch format:
``{"id", "custom_id", "response": {"status_code", "request_id", "body": {chat.completion with
its usage}}, "error"}``) besides the generated text."""
TEXT_BYTES_PER_TOKEN = 4
"""Bytes of UTF-8 text per generated token (about 4 characters of English per token)."""
NODE_DISK_GB = 256
"""The disk executor.render asks SkyPilot for on every training and serving node, GB."""
JOBS_CONTROLLER_IDLE_H = 10 / 60
"""SkyPilot 0.14.1 stops an idle jobs controller after 10 minutes (catalog controllers row)."""
DATA_BYTES_PER_TOKEN = 5
"""Assumption: bytes of a training JSONL per token: ~4 bytes of UTF-8 text per token plus the
chat JSON around it (role keys, quotes, escapes)."""
CHECKPOINT_BYTES_PER_TRAINED_PARAM = 2 * (2 + 8) + 2
"""Assumption: two kept checkpoints of (bf16 weights 2 B + AdamW's two fp32 moments 8 B) per
trained parameter, plus the final bf16 weights (2 B)."""


def _price(value: float | None, cloud: str, what: str) -> tuple[float, str]:
    if value is None:
        return 0.0, f"no published {what} price for {cloud} in the catalog: not billed here"
    return value, ""


def _egress(goal: GoalSpec, serving: ServingPlan, facts: CloudFacts | None) -> CostLine:
    cloud = serving.offer.cloud
    t = goal.traffic
    requests = goal.monthly_requests
    gb = requests * t.avg_output_tokens * STREAMED_BYTES_PER_TOKEN / 1e9
    free = (facts.egress_free_gb_per_month or 0.0) if facts else 0.0
    price, missing = _price(facts.egress_usd_per_gb if facts else None, cloud, "egress")
    billed = max(0.0, gb - free)
    return CostLine(
        name="response egress",
        phase="serving",
        quantity=f"{gb:,.1f} GB/month" + (f" − {free:g} GB free" if free else ""),
        unit_price=f"${price:g}/GB",
        one_time_usd=0.0,
        monthly_usd=billed * price,
        basis=missing
        or f"{num(requests)} requests × {t.avg_output_tokens:,} tokens × "
        f"{STREAMED_BYTES_PER_TOKEN} B per streamed token, {cloud} internet egress",
    )


def _disk_price(facts: CloudFacts | None, cloud: str) -> tuple[float, str]:
    if facts is not None and facts.disk_included_gb and facts.disk_included_gb >= NODE_DISK_GB:
        return 0.0, f"{cloud} includes {facts.disk_included_gb:g} GB of disk in the instance"
    price, missing = _price(facts.disk_usd_per_gb_month if facts else None, cloud, "disk")
    kind = facts.disk_kind if facts and facts.disk_kind else "disk"
    return price, missing or kind


def _serving_disks(serving: ServingPlan, facts: CloudFacts | None) -> CostLine:
    price, basis = _disk_price(facts, serving.offer.cloud)
    replicas = serving.replica_hours_per_month / HOURS_PER_MONTH
    gb = replicas * NODE_DISK_GB
    return CostLine(
        name="serving disks",
        phase="serving",
        quantity=f"{replicas:,.3g} × {NODE_DISK_GB} GB",
        unit_price=f"${price:g}/GB-month",
        one_time_usd=0.0,
        monthly_usd=gb * price,
        basis=f"one {NODE_DISK_GB} GB disk per replica (render disk_size) while it exists: "
        f"the month's mean replicas (replica-hours / {HOURS_PER_MONTH}), {basis}",
    )


def _training_disks(training: TrainingPlan, facts: CloudFacts | None) -> CostLine:
    price, basis = _disk_price(facts, training.offer.cloud)
    gb_months = training.nodes * NODE_DISK_GB * training.hours / HOURS_PER_MONTH
    return CostLine(
        name="training disks",
        phase="training",
        quantity=f"{training.nodes} × {NODE_DISK_GB} GB × {training.hours:.2f} h",
        unit_price=f"${price:g}/GB-month",
        one_time_usd=gb_months * price,
        monthly_usd=0.0,
        basis=f"one {NODE_DISK_GB} GB disk per node for the run's mid-estimate hours, {basis}",
    )


def _controller_price(catalog: Catalog, kind: str, cloud: str) -> tuple[float, float, float, str]:
    """($/h, disk GB, disk $/GB-month, basis) of a SkyPilot controller placed for a task on
    ``cloud``: the VM its defaults pick there, else (none priced there) the cheapest priced."""
    defaults = catalog.controller(kind)
    if defaults is None:
        return 0.0, 0.0, 0.0, f"no {kind} controller row in the catalog: not billed here"
    priced = [vm for vm in defaults.per_cloud if vm.usd_per_hour is not None]
    here = next((vm for vm in priced if vm.cloud == cloud), None)
    vm = here or min(priced, key=lambda v: v.usd_per_hour or 0.0, default=None)
    if vm is None or vm.usd_per_hour is None:
        return 0.0, defaults.disk_size_gb, 0.0, f"no priced {kind} controller VM: not billed here"
    where = "" if here else f" (assumed: {cloud} has none priced, the cheapest priced cloud's)"
    disk_price, _ = _disk_price(catalog.cloud_facts(vm.cloud), vm.cloud)
    return (
        vm.usd_per_hour,
        defaults.disk_size_gb,
        disk_price,
        f"SkyPilot {defaults.skypilot_version} {kind} controller ({defaults.cpus} vCPUs, "
        f"{defaults.memory} memory): {vm.cloud} {vm.instance_type}{where}",
    )


def _serve_controller(catalog: Catalog, serving: ServingPlan) -> CostLine:
    price, disk_gb, disk_price, basis = _controller_price(catalog, "serve", serving.offer.cloud)
    return CostLine(
        name="serve controller",
        phase="serving",
        quantity=f"{HOURS_PER_MONTH} h + {disk_gb:g} GB disk",
        unit_price=f"${price:g}/h + ${disk_price:g}/GB-month",
        one_time_usd=0.0,
        monthly_usd=HOURS_PER_MONTH * price + disk_gb * disk_price,
        basis=f"{basis}; runs (and bills) while the service is up",
    )


def _jobs_controller(catalog: Catalog, training: TrainingPlan) -> CostLine:
    price, disk_gb, disk_price, basis = _controller_price(catalog, "jobs", training.offer.cloud)
    hours = training.hours + JOBS_CONTROLLER_IDLE_H
    return CostLine(
        name="jobs controller",
        phase="training",
        quantity=f"{hours:.2f} h + {disk_gb:g} GB disk",
        unit_price=f"${price:g}/h + ${disk_price:g}/GB-month",
        one_time_usd=hours * price,
        monthly_usd=disk_gb * disk_price,
        basis=f"{basis}; up for the run + 10 idle minutes, then stopped, not deleted: its "
        "disk stays and bills each month",
    )


def trained_parameters(arch: ModelArch, training: TrainingPlan) -> int:
    """Parameters the run trains: all of them (full), else the LoRA matrices' A and B."""
    if training.method is Method.FULL:
        return total_params(arch)
    return lora_adapter_params(arch, training.lora_rank or 0, training.lora_targets)


def _artifacts(arch: ModelArch, training: TrainingPlan, facts: CloudFacts | None) -> CostLine:
    cloud = training.offer.cloud
    price, missing = _price(
        facts.object_storage_usd_per_gb_month if facts else None, cloud, "object storage"
    )
    params = trained_parameters(arch, training)
    merged = _merged_bytes(arch, training)
    gb = (params * CHECKPOINT_BYTES_PER_TRAINED_PARAM + merged) / 1e9
    kind = facts.object_storage_kind if facts and facts.object_storage_kind else "object storage"
    plus = f" + {total_params(arch):,} × 2 B (the merged bf16 model)" if merged else ""
    return CostLine(
        name="checkpoint bucket",
        phase="storage",
        quantity=f"{gb:,.2f} GB",
        unit_price=f"${price:g}/GB-month",
        one_time_usd=0.0,
        monthly_usd=gb * price,
        basis=missing
        or f"{params:,} trained parameters × {CHECKPOINT_BYTES_PER_TRAINED_PARAM} B (two kept "
        f"checkpoints with AdamW state + the final bf16 weights){plus}, {cloud} {kind}",
    )


def _merged_bytes(arch: ModelArch, training: TrainingPlan) -> int:
    """Bytes of merged/: the whole model in bf16 for LoRA / QLoRA (render merges), else 0."""
    return 0 if training.method is Method.FULL else total_params(arch) * 2


def _weights_out(arch: ModelArch, training: TrainingPlan) -> CostLine:
    """The nodes' time writing the final weights (and loading the base + writing merged/)."""
    final = trained_parameters(arch, training) * 2
    merged = _merged_bytes(arch, training)
    moved = final + 2 * merged  # merge: read the bf16 base, write the merged model
    hours = moved / CHECKPOINT_WRITE_BYTES_PER_S / 3600
    rate = training.offer.usd_per_hour * training.nodes
    what = "final/ + base read + merged/ written" if merged else "final/ written"
    return CostLine(
        name="weights out",
        phase="training",
        quantity=f"{moved / 1e9:,.1f} GB moved, {hours * 60:.1f} min",
        unit_price=f"${rate:g}/h ({training.nodes} node{'s' if training.nodes > 1 else ''})",
        one_time_usd=hours * rate,
        monthly_usd=0.0,
        basis=f"{what} after the last step at {CHECKPOINT_WRITE_BYTES_PER_S / 1e6:g} MB/s "
        "(assumption: a single-stream bucket mount), the training nodes billed meanwhile",
    )


def _data_in(goal: GoalSpec, training: TrainingPlan, facts: CloudFacts | None) -> CostLine:
    cloud = training.offer.cloud
    tokens = goal.data.train_examples * (goal.data.avg_example_tokens or 0)
    gb = tokens * DATA_BYTES_PER_TOKEN / 1e9
    price, missing = _price(None, cloud, "ingress")
    return CostLine(
        name="training data in",
        phase="training",
        quantity=f"{gb:,.3f} GB once per node × {training.nodes}",
        unit_price=f"${price:g}/GB",
        one_time_usd=gb * training.nodes * price,
        monthly_usd=0.0,
        basis=f"{goal.data.train_examples:,} examples × {goal.data.avg_example_tokens or 0:,} "
        f"tokens × {DATA_BYTES_PER_TOKEN} B (JSONL, assumption), uploaded to each node; " + missing,
    )


def _batch_disks(batch: BatchPlan, facts: CloudFacts | None) -> CostLine:
    price, basis = _disk_price(facts, batch.offer.cloud)
    hours = batch.jobs_per_month * batch.instances * batch.hours_per_job
    return CostLine(
        name="batch disks",
        phase="serving",
        quantity=f"{batch.instances} × {NODE_DISK_GB} GB × {batch.hours_per_job:.2f} h × "
        f"{batch.jobs_per_month:g} jobs",
        unit_price=f"${price:g}/GB-month",
        one_time_usd=0.0,
        monthly_usd=NODE_DISK_GB * hours / HOURS_PER_MONTH * price,
        basis=f"one {NODE_DISK_GB} GB disk per instance (render disk_size) for each job's "
        f"hours, {basis}",
    )


def _batch_results(goal: GoalSpec, batch: BatchPlan, facts: CloudFacts | None) -> CostLine:
    cloud = batch.offer.cloud
    requests = batch.requests_per_job * batch.jobs_per_month
    per_request = RESULT_LINE_BYTES + goal.traffic.avg_output_tokens * TEXT_BYTES_PER_TOKEN
    gb = requests * per_request / 1e9
    free = (facts.egress_free_gb_per_month or 0.0) if facts else 0.0
    price, missing = _price(facts.egress_usd_per_gb if facts else None, cloud, "egress")
    return CostLine(
        name="results download",
        phase="serving",
        quantity=f"{gb:,.2f} GB/month" + (f" − {free:g} GB free" if free else ""),
        unit_price=f"${price:g}/GB",
        one_time_usd=0.0,
        monthly_usd=max(0.0, gb - free) * price,
        basis=missing
        or f"{num(requests)} results a month × ({RESULT_LINE_BYTES} B of JSON per result + "
        f"{goal.traffic.avg_output_tokens:,} tokens × {TEXT_BYTES_PER_TOKEN} B), downloaded "
        f"once from {cloud} (internet egress)",
    )


def _batch_controller(catalog: Catalog, batch: BatchPlan, disk_billed: bool) -> CostLine:
    price, disk_gb, disk_price, basis = _controller_price(catalog, "jobs", batch.offer.cloud)
    hours = batch.jobs_per_month * (batch.hours_per_job + JOBS_CONTROLLER_IDLE_H)
    disk = 0.0 if disk_billed else disk_gb
    return CostLine(
        name="batch jobs controller",
        phase="serving",
        quantity=f"{hours:.2f} h/month + {disk:g} GB disk",
        unit_price=f"${price:g}/h + ${disk_price:g}/GB-month",
        one_time_usd=0.0,
        monthly_usd=hours * price + disk * disk_price,
        basis=f"{basis}; up for each job + 10 idle minutes, then stopped, not deleted"
        + (
            " (the training run's controller: its disk is billed on that line)"
            if disk_billed
            else ": its disk stays and bills each month"
        ),
    )


def side_costs(
    goal: GoalSpec,
    catalog: Catalog,
    arch: ModelArch | None,
    training: TrainingPlan | None,
    serving: ServingPlan | None,
    batch: BatchPlan | None = None,
) -> tuple[CostLine, ...]:
    """Every cost line beyond the GPU instances of a plan's training, serving and batch
    jobs."""
    lines: list[CostLine] = []
    if batch is not None:
        facts = catalog.cloud_facts(batch.offer.cloud)
        lines += [
            _batch_results(goal, batch, facts),
            _batch_disks(batch, facts),
            _batch_controller(catalog, batch, disk_billed=training is not None),
        ]
    if serving is not None:
        facts = catalog.cloud_facts(serving.offer.cloud)
        lines += [
            _egress(goal, serving, facts),
            _serving_disks(serving, facts),
            _serve_controller(catalog, serving),
        ]
    if training is not None:
        facts = catalog.cloud_facts(training.offer.cloud)
        lines += [_training_disks(training, facts), _jobs_controller(catalog, training)]
        lines.append(_data_in(goal, training, facts))
        if arch is not None:
            lines += [_weights_out(arch, training), _artifacts(arch, training, facts)]
    return tuple(lines)


def cost_term(line: CostLine) -> Term:
    """The line as an estimate term: its first-year $ (one-time + 12 months) with its basis."""
    return Term(
        name=f"cost.{line.name.replace(' ', '_')}",
        value=line.one_time_usd + 12 * line.monthly_usd,
        unit="USD in the first year",
        formula=f"{num(line.one_time_usd)} + 12 × {num(line.monthly_usd)}",
        basis=f"{line.quantity} at {line.unit_price}: {line.basis}",
    )
