"""The decision graph: goal → strategy → model → method → training → serving → plans.

Nodes are decisions; an edge is kept when the child is feasible, and recorded as pruned — with
its Reason — when it is not. Every source→sink path through kept edges is one candidate Plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import networkx as nx

from catalog import Catalog, GpuSku, ModelArch
from planner.batch_options import batch_options
from planner.bill import cost_term, side_costs
from planner.budget import affordable_failover, budget_excesses
from planner.errors import PlannerError
from planner.estimators.terms import Term
from planner.hosted import API_TOKENS_PER_S, api_usage, rag_setup, total_terms
from planner.lifecycle import api_lifecycle, planning_date
from planner.offers import MOUNTED_SERVE_NEEDS, OfferIndex, build_offer_index, launch_refusal
from planner.plan import ApiUsage, BatchPlan, Plan, RagSetup, ServingPlan, TrainingPlan
from planner.quality import (
    LAUNCHED_FORMAT,
    PlanQuality,
    QualityInputs,
    QualityTarget,
    estimate_quality,
    quality_target,
)
from planner.quantization import (
    ServedFormats,
    ServedWeights,
    cold_start_seconds,
    served_formats,
    unmerged_lora_slowdown,
)
from planner.rules import Reason, allowed_strategies
from planner.serving_options import SearchMemo, serving_options
from planner.spec import GoalSpec
from planner.training_options import Knobs, choose_training, lora_rank_for, precision_for
from planner.types import Method, Quantization, Strategy

__all__ = ["DecisionGraph", "build_decision_graph"]

SOURCE, SINK = "goal", "plans"


@dataclass
class DecisionGraph:
    """The graph, every pruning Reason, and the candidates its feasible paths make."""

    graph: nx.DiGraph
    reasons: list[Reason] = field(default_factory=list)
    candidates: list[Plan] = field(default_factory=list)
    over_limits: list[tuple[Plan, Reason]] = field(default_factory=list)
    below_floor: list[tuple[Plan, Reason]] = field(default_factory=list)
    target: QualityTarget | None = None
    references: DecisionGraph | None = None

    def add(self, parent: str, child: str, kind: str, label: str) -> None:
        """Add a feasible decision under ``parent``."""
        self.graph.add_node(child, kind=kind, label=label, feasible=True)
        self.graph.add_edge(parent, child, pruned=False)

    def prune(self, parent: str, child: str, kind: str, reason: Reason) -> None:
        """Record a decision that was ruled out, with its reason."""
        self.graph.add_node(child, kind=kind, label=reason.subject, feasible=False)
        self.graph.add_edge(parent, child, pruned=True, reason=str(reason))
        self.reasons.append(reason)


@dataclass
class _Context:
    goal: GoalSpec
    catalog: Catalog
    offers: OfferIndex
    rag: tuple[RagSetup, list] | None
    target: QualityTarget | None
    as_of: date
    gpus: dict = field(default_factory=dict)
    serving_cache: dict = field(default_factory=dict)
    serving_memo: SearchMemo = field(default_factory=SearchMemo)
    training_cache: dict = field(default_factory=dict)
    serving_reasons: list = field(default_factory=list)
    quality_cache: dict = field(default_factory=dict)
    formats_cache: dict = field(default_factory=dict)
    mounted_offers: OfferIndex | None = None

    def serving_offers(self, weights: ServedWeights) -> OfferIndex:
        """The offers a service (or batch job) may use: one of fine-tuned weights, and every
        batch job, mounts the run's bucket, so only clouds with SkyPilot storage mounting."""
        if weights is ServedWeights.PUBLISHED and self.goal.batch is None:
            return self.offers
        if self.mounted_offers is None:
            self.mounted_offers = build_offer_index(
                self.goal, self.catalog, serve_needs=MOUNTED_SERVE_NEEDS
            )
        return self.mounted_offers

    def formats(self, arch: ModelArch, sku: GpuSku, weights: ServedWeights) -> ServedFormats:
        """The weight formats a plan may serve (planner.quantization), once per model, GPU and
        weights (the searches with and without retrieved context ask the same)."""
        key = (arch.id, sku.name, weights)
        if key not in self.formats_cache:
            self.formats_cache[key] = served_formats(self.catalog, arch, sku, weights=weights)
        return self.formats_cache[key]

    def quality(self, inputs: QualityInputs) -> PlanQuality | None:
        """The estimate for these decisions, made once per graph (few distinct combinations)."""
        if inputs not in self.quality_cache:
            self.quality_cache[inputs] = estimate_quality(
                self.target, self.catalog, inputs, train_examples=self.goal.data.training_examples
            )
        return self.quality_cache[inputs]


def _open_models(goal: GoalSpec, catalog: Catalog) -> list[ModelArch]:
    if not goal.models.candidates:
        return list(catalog.models)
    return [m for name in goal.models.candidates if (m := catalog.find_model(name))]


def _api_models(goal: GoalSpec, catalog: Catalog, *, fine_tune: bool) -> list:
    names = goal.models.candidates
    models = [
        a
        for a in catalog.api_models
        if not names
        or any(
            n.lower() in (a.id.lower(), a.model.lower(), *(x.lower() for x in a.aliases))
            for n in names
        )
    ]
    return [a for a in models if not fine_tune or (a.fine_tunable and a.fine_tuning)]


def _check_candidates(goal: GoalSpec, catalog: Catalog) -> None:
    for name in goal.models.candidates:
        if catalog.find_model(name) is None and not _api_models(
            goal.model_copy(
                update={"models": goal.models.model_copy(update={"candidates": (name,)})}
            ),
            catalog,
            fine_tune=False,
        ):
            raise PlannerError(
                f"models.candidates: {name!r} is neither a catalog model nor a "
                "hosted API model. To fix: use a name from `tailor catalog models`"
                " or `tailor catalog api`."
            )


def _assemble(
    ctx: _Context,
    strategy: Strategy,
    model: str,
    path: list[str],
    *,
    training: TrainingPlan | None = None,
    serving: ServingPlan | None = None,
    batch: BatchPlan | None = None,
    api: tuple[ApiUsage, list[Term]] | None = None,
    hf_repo_id: str | None = None,
    quality: PlanQuality | None = None,
    warnings: tuple[str, ...] = (),
    notes: tuple[Term, ...] = (),
) -> Plan:
    rag = ctx.rag if ctx.rag and strategy.uses_rag else None
    usage = api[0] if api else None
    arch = ctx.catalog.find_model(model) if training is not None else None
    extra = side_costs(ctx.goal, ctx.catalog, arch, training, serving, batch)
    parts = (
        ("training", training.cost_usd if training else None),
        ("hosted fine-tuning", usage.training_usd if usage and usage.training_usd else None),
        ("RAG embedding", rag[0].embedding_usd if rag else None),
        *((line.name, line.one_time_usd) for line in extra if line.one_time_usd),
    )
    monthly_parts = (
        ("serving replicas", serving.monthly_usd if serving else None),
        ("batch jobs", batch.monthly_usd if batch else None),
        ("API tokens", usage.monthly_usd if usage else None),
        ("vector store", rag[0].vector_store_usd_per_month if rag else None),
        *((line.name, line.monthly_usd) for line in extra if line.monthly_usd),
    )
    one_time = sum(v for _, v in parts if v is not None)
    monthly = sum(v for _, v in monthly_parts if v is not None)
    training, serving, batch = affordable_failover(
        ctx.goal.budget,
        one_time_usd=one_time,
        monthly_usd=monthly,
        training=training,
        serving=serving,
        batch=batch,
    )
    if serving is not None:
        ttft, speed = serving.p95_ttft_s, serving.output_tokens_per_s_per_stream
    elif batch is not None:  # a batch request's answer comes when its job ends
        ttft, speed = batch.hours_per_job * 3600, batch.output_tokens_per_s_per_stream
    else:
        ttft, speed = (usage.p95_ttft_s if usage else 0.0), API_TOKENS_PER_S
    plan = Plan(
        id="",
        strategy=strategy,
        model=model,
        training=training,
        serving=serving,
        batch=batch,
        api=usage,
        rag=rag[0] if rag else None,
        hf_repo_id=hf_repo_id,
        hf_gated=bool(hf_repo_id and (gated := ctx.catalog.find_model(model)) and gated.gated),
        extra_costs=extra,
        one_time_usd=one_time,
        monthly_usd=monthly,
        first_year_usd=one_time + 12 * monthly,
        p95_ttft_s=ttft,
        output_tokens_per_s=speed,
        decision_path=tuple(path),
        estimates=(),
        quality=quality,
        warnings=warnings,
    )

    def terms() -> tuple[Term, ...]:
        found = [*(rag[1] if rag else ())]
        found += [*(training.built_terms() if training else ())]
        found += [*(serving.built_terms() if serving else ())]
        found += [*(batch.built_terms() if batch else ())]
        found += [*(api[1] if api else ())]
        found += notes
        found += [cost_term(line) for line in extra]
        return (*found, *total_terms(plan, parts, monthly_parts))

    return plan.with_term_source(terms)


def _limits_reason(goal: GoalSpec, plan: Plan, subject: str) -> Reason | None:
    """Budget and latency checks at plan level (APIs included)."""
    lat = goal.latency
    for excess in budget_excesses(
        goal.budget, one_time_usd=plan.one_time_usd, monthly_usd=plan.monthly_usd
    ):
        return Reason(
            subject=subject,
            constraint=excess.field,
            detail=excess.detail,
            fix=f"raise {excess.field}"
            + (" or lower traffic" if excess.field == "budget.monthly_usd" else ""),
        )
    if lat.p95_time_to_first_token_ms is not None and (
        plan.p95_ttft_s * 1000 > lat.p95_time_to_first_token_ms
    ):
        return Reason(
            subject=subject,
            constraint="latency.p95_time_to_first_token_ms",
            detail=f"p95 TTFT {plan.p95_ttft_s * 1000:.0f} ms > "
            f"{lat.p95_time_to_first_token_ms:g} ms",
            fix="relax the TTFT target",
        )
    if lat.min_output_tokens_per_s is not None and (
        plan.output_tokens_per_s < lat.min_output_tokens_per_s
    ):
        return Reason(
            subject=subject,
            constraint="latency.min_output_tokens_per_s",
            detail=f"{plan.output_tokens_per_s:.0f} tokens/s < {lat.min_output_tokens_per_s:g}",
            fix="relax the speed target",
        )
    return None


def _floor_reason(plan: Plan, subject: str) -> Reason | None:
    """The goal's quality floor, on the pessimistic end of the plan's expected range."""
    q = plan.quality
    if q is None or q.meets_floor:
        return None
    field_name = "quality (default floor)" if q.default_floor else "quality"
    shown = (
        f"expected {q.benchmark_name} {q.expected_low:.1f}–{q.expected_high:.1f}"
        if q.expected_low is not None and q.expected_high is not None
        else f"no published {q.benchmark_name} score for {q.scored_model}"
    )
    return Reason(
        subject=subject,
        constraint=field_name,
        detail=f"{shown}, below the floor {q.floor:g} ({q.floor_basis.split(': ', 1)[0]})",
        fix="choose a stronger model, or lower quality.min_score (0: no floor)",
    )


def _finish(
    dg: DecisionGraph, ctx: _Context, parent: str, node: str, label: str, plan: Plan
) -> None:
    reason = _limits_reason(ctx.goal, plan, label)
    if reason is not None:
        dg.prune(parent, node, "plan", reason)
        dg.over_limits.append((plan, reason))
        return
    reason = _floor_reason(plan, label)
    if reason is not None:
        dg.prune(parent, node, "plan", reason)
        dg.below_floor.append((plan, reason))
        return
    dg.add(parent, node, "plan", label)
    dg.graph.add_edge(node, SINK, pruned=False)
    dg.candidates.append(plan)


def _expand_api(dg: DecisionGraph, ctx: _Context, strategy: Strategy, parent: str) -> None:
    fine_tune = strategy in (Strategy.API_FINE_TUNE, Strategy.API_FINE_TUNE_RAG)
    for api in _api_models(ctx.goal, ctx.catalog, fine_tune=fine_tune):
        node, label = f"{parent}/{api.id}", f"{strategy} {api.id}"
        stop, warnings = api_lifecycle(api, fine_tuned=fine_tune, as_of=ctx.as_of, subject=label)
        if stop is not None:
            dg.prune(parent, node, "plan", stop)
            continue
        usage = api_usage(ctx.goal, api, fine_tuned=fine_tune)
        path = [
            f"strategy {strategy}",
            f"hosted model {api.id}" + (" (fine-tuned by the provider)" if fine_tune else ""),
        ]
        inputs = QualityInputs(
            scored_model=api.open_model or api.id,
            strategy=strategy,
            provider_method=api.fine_tuning.method if fine_tune and api.fine_tuning else None,
            served_format=api.served_quantization if api.open_model else None,
            format_note=f" by {api.provider}" if api.open_model else "",
        )
        quality = ctx.quality(inputs)
        plan = _assemble(ctx, strategy, api.id, path, api=usage, quality=quality, warnings=warnings)
        _finish(dg, ctx, parent, node, label, plan)


def _serving_for(ctx: _Context, arch: ModelArch, strategy: Strategy):
    extra = ctx.rag[0].retrieved_tokens_per_request if ctx.rag and strategy.uses_rag else 0
    weights = ServedWeights.FINE_TUNED if strategy.trains_own_model else ServedWeights.PUBLISHED
    key = (arch.id, extra, weights)
    if key not in ctx.serving_cache:
        build = batch_options if ctx.goal.batch is not None else serving_options
        ctx.serving_cache[key] = options = build(
            ctx.goal,
            arch,
            ctx.serving_offers(weights),
            ctx.gpus,
            formats=lambda sku: ctx.formats(arch, sku, weights),
            engine_start=lambda tp, per_weight: cold_start_seconds(
                ctx.catalog, arch, tensor_parallel=tp, bytes_per_weight=per_weight
            ),
            extra_input_tokens=extra,
            memo=ctx.serving_memo,
        )
        ctx.serving_reasons.extend(options[1])
    return ctx.serving_cache[key]


def _training_for(ctx: _Context, arch: ModelArch, method: Method):
    key = (arch.id, method)
    if key not in ctx.training_cache:
        ctx.training_cache[key] = choose_training(
            ctx.goal,
            arch,
            method,
            ctx.offers,
            ctx.gpus.__getitem__,
            spot_rates=ctx.catalog.spot_interruption,
        )
    return ctx.training_cache[key]


def _expand_self_hosted(dg: DecisionGraph, ctx: _Context, strategy: Strategy, parent: str) -> None:
    methods: list[Method | None] = [None]
    if strategy.trains_own_model:
        methods = [m for m in Method if not ctx.goal.models.methods or m in ctx.goal.models.methods]
    for arch in _open_models(ctx.goal, ctx.catalog):
        model_node = f"{parent}/{arch.id}"
        dg.add(parent, model_node, "model", arch.id)
        methods_left = [m for m in methods if _may_meet_floor(ctx, arch.id, strategy, m)]
        if not methods_left:  # no served format can lift it over the floor: skip the search
            _prune_below_floor(dg, ctx, model_node, arch.id, strategy, methods[0])
            continue
        options, serve_reasons = _serving_for(ctx, arch, strategy)
        if not options:
            dg.prune(
                model_node,
                f"{model_node}/serve",
                "serving",
                Reason(
                    subject=f"batch {arch.id}",
                    constraint="batch.deadline_hours / GPU memory",
                    detail=f"no GPU setup can run the batch job ({len(serve_reasons)} tried)",
                    fix="a longer batch.deadline_hours, or a smaller model",
                )
                if ctx.goal.batch is not None
                else Reason(
                    subject=f"serve {arch.id}",
                    constraint="latency / GPU memory",
                    detail=f"no GPU setup meets the targets ({len(serve_reasons)} tried)",
                    fix="relax latency targets or choose a smaller model",
                ),
            )
            continue
        for method in methods_left:
            _expand_method(dg, ctx, strategy, arch, method, model_node, options)


def _inputs(
    ctx: _Context, model: str, strategy: Strategy, method: Method | None, fmt: str
) -> QualityInputs:
    """The quality inputs a plan of this model and method will have (its LoRA rank is the
    goal's, by the data-size rule of planner.training_options)."""
    lora = method is not None and method is not Method.FULL
    rank = lora_rank_for(ctx.goal.data.train_examples) if lora else None
    return QualityInputs(
        scored_model=model, strategy=strategy, method=method, lora_rank=rank, served_format=fmt
    )


def _may_meet_floor(ctx: _Context, model: str, strategy: Strategy, method: Method | None) -> bool:
    """Some served format keeps the low end of the expected range at or above the floor (the
    estimate does not depend on the GPUs, so a model that fails here fails on every setup)."""
    formats = sorted(set(LAUNCHED_FORMAT.values()))
    estimates = [ctx.quality(_inputs(ctx, model, strategy, method, fmt)) for fmt in formats]
    return any(q is None or q.meets_floor for q in estimates)


def _prune_below_floor(
    dg: DecisionGraph,
    ctx: _Context,
    node: str,
    model: str,
    strategy: Strategy,
    method: Method | None,
) -> None:
    q = ctx.quality(_inputs(ctx, model, strategy, method, LAUNCHED_FORMAT[Quantization.BF16]))
    assert q is not None and q.floor is not None
    shown = (
        f"expected {q.benchmark_name} at most {q.expected_low:.1f} on the low end"
        if q.expected_low is not None
        else f"no published {q.benchmark_name} score for {model}"
    )
    dg.prune(
        node,
        f"{node}/quality",
        "quality",
        Reason(
            subject=f"{strategy} {model}",
            constraint="quality (default floor)" if q.default_floor else "quality",
            detail=f"{shown}, below the floor {q.floor:g} ({q.floor_basis.split(': ', 1)[0]}) "
            "with any method and served format",
            fix="choose a stronger model, or lower quality.min_score (0: no floor)",
        ),
    )


def _expand_method(
    dg: DecisionGraph,
    ctx: _Context,
    strategy: Strategy,
    arch: ModelArch,
    method: Method | None,
    parent: str,
    options: Sequence[ServingPlan | BatchPlan],
) -> None:
    path = [f"strategy {strategy}", f"model {arch.id}"]
    training, node = None, parent
    notes: tuple[Term, ...] = ()
    if method is not None:
        node = f"{parent}/{method}"
        training, reasons = _training_for(ctx, arch, method)
        if training is None:
            dg.prune(
                parent,
                node,
                "method",
                Reason(
                    subject=f"{method} {arch.id}",
                    constraint="GPU memory / budget.training_usd",
                    detail=f"none of {len(reasons)} GPU shapes fits; e.g. {reasons[0].detail}"
                    if reasons
                    else "no GPU offers allowed",
                    fix=reasons[0].fix if reasons else "",
                ),
            )
            dg.reasons.extend(reasons)
            return
        dg.add(parent, node, "training", _training_label(training))
        path += [
            f"method {method}" + (f" r={training.lora_rank}" if training.lora_rank else ""),
            f"train: {_training_label(training)}",
            f"precision {training.precision} ({_precision_why(ctx.goal, ctx, training)})",
            _recipe_line(ctx.goal, training),
        ]
        if method is not Method.FULL and (slow := unmerged_lora_slowdown(ctx.catalog)):
            notes = (slow,)
            path.append(
                f"serve the adapter merged into its base (one adapter; unmerged it would "
                f"decode {slow.value:.2f}× slower: serve.unmerged_lora_slowdown)"
            )
    for option in options:
        if isinstance(option, BatchPlan):
            serving, batch = None, option
            label = (
                f"batch {option.quantization} on {option.tensor_parallel}× "
                f"{option.offer.gpu} × {option.instances}"
            )
        else:
            serving, batch = option, None
            label = (
                f"serve {option.quantization} on {option.tensor_parallel}× "
                f"{option.offer.gpu} × {option.replicas_label}"
            )
        inputs = QualityInputs(
            scored_model=arch.id,
            strategy=strategy,
            method=method,
            lora_rank=training.lora_rank if training is not None else None,
            served_format=LAUNCHED_FORMAT[option.quantization],
        )
        quality = ctx.quality(inputs)
        plan = _assemble(
            ctx,
            strategy,
            arch.id,
            [*path, label],
            training=training,
            serving=serving,
            batch=batch,
            hf_repo_id=arch.instruct_hf_id or arch.hf_id,
            quality=quality,
            notes=notes,
            warnings=_training_warnings(training),
        )
        _finish(
            dg,
            ctx,
            node,
            f"{node}/{option.quantization}/{option.offer.gpu}x{option.tensor_parallel}",
            label,
            plan,
        )


def _training_warnings(training: TrainingPlan | None) -> tuple[str, ...]:
    """A spot run's expected cost next to its on-demand ceiling and its capacity warning; a
    multi-node run's interconnect assumption."""
    if training is None:
        return ()
    lines = []
    if training.nodes > 1:
        lines.append(
            f"multi-node training: {training.nodes} nodes at the fitted multi-node speed, "
            "measured on InfiniBand / RoCE clusters; between instances without a fast "
            f"interconnect ({training.offer.instance_type} on {training.offer.cloud}: check "
            "its network) the gradient traffic makes it slower and dearer than planned"
        )
    if training.spot is None:
        return tuple(lines)
    s = training.spot
    ceiling = (
        f", ${s.on_demand_usd:,.2f} on demand (the ceiling)" if s.on_demand_usd is not None else ""
    )
    lines.append(
        f"training on spot: expected ${s.expected_usd:,.2f} with {s.expected_preemptions:.2g} "
        f"preemptions at {s.rate_per_hour:.3g}/h (range {s.rate_low_per_hour:.3g}–"
        f"{s.rate_high_per_hour:.3g}/h), ${s.uninterrupted_usd:,.2f} if never preempted"
        f"{ceiling}"
    )
    if s.capacity_warning:
        lines.append(f"spot capacity: {s.capacity_warning}")
    return tuple(lines)


def _precision_why(goal: GoalSpec, ctx, training) -> str:
    if goal.preferences.training.precision is not None:
        return "given (preferences.training.precision)"
    return precision_for(ctx.gpus[training.offer.gpu])[1]


def _recipe_line(goal: GoalSpec, training) -> str:
    """The recipe's knobs and why each has its value."""
    why = Knobs.of(goal).why(goal)
    parts = []
    if training.sharding is not None:
        gpus = training.gpus_per_node * training.nodes
        parts.append(f"{training.sharding} over {gpus} GPUs ({why['sharding']})")
    parts.append(f"{'packed' if training.packing else 'padded'} ({why['packing']})")
    parts.append(f"attention {training.attention} ({why['attention']})")
    if training.lora_targets:
        parts.append(f"LoRA on {', '.join(training.lora_targets)} ({why['lora_targets']})")
    return "recipe: " + "; ".join(parts)


def _training_label(t: TrainingPlan) -> str:
    return (
        f"{t.nodes}×{t.gpus_per_node}× {t.offer.gpu} {t.offer.cloud}/{t.offer.region}"
        f"{' spot' if t.offer.spot else ''}"
    )


def build_decision_graph(
    goal: GoalSpec,
    catalog: Catalog,
    *,
    as_of: date | None = None,
    only: Iterable[Strategy] | None = None,
    also: Iterable[Strategy] = (),
) -> DecisionGraph:
    """Build the decision graph of a goal and collect its candidate plans.

    ``as_of`` is the planning day hosted-model lifecycle is judged on (default: today).
    ``only`` expands exactly those strategies, whatever the decision rules say; by default the
    rules decide. ``also`` expands more strategies (ones the rules pruned) into a separate
    graph, ``references``, sharing this one's estimates (the planner's reference rows)."""
    _check_candidates(goal, catalog)
    target = quality_target(goal, catalog)
    dg = DecisionGraph(graph=nx.DiGraph(), target=target)
    dg.graph.add_node(SOURCE, kind="source", label=goal.name, feasible=True)
    dg.graph.add_node(SINK, kind="sink", label="plans", feasible=True)
    if only is None:
        strategies, reasons = allowed_strategies(goal)
    else:
        strategies, reasons = list(only), []
    for reason in reasons:
        dg.prune(SOURCE, reason.subject.replace("strategy ", "strategy:"), "strategy", reason)
    extra = list(also)
    ctx = _Context(
        goal=goal,
        catalog=catalog,
        offers=build_offer_index(goal, catalog),
        rag=rag_setup(goal) if any(s.uses_rag for s in (*strategies, *extra)) else None,
        target=target,
        as_of=as_of or planning_date(),
        gpus={g.name: g for g in catalog.gpus},
    )
    dg.reasons.extend(_unlaunchable_gpus(goal, catalog))
    _expand(dg, ctx, strategies)
    dg.reasons.extend(ctx.serving_reasons)
    if extra:
        dg.references = DecisionGraph(graph=nx.DiGraph(), target=target)
        dg.references.graph.add_node(SOURCE, kind="source", label=goal.name, feasible=True)
        dg.references.graph.add_node(SINK, kind="sink", label="plans", feasible=True)
        ctx.serving_reasons = []
        _expand(dg.references, ctx, extra)
    return dg


def _unlaunchable_gpus(goal: GoalSpec, catalog: Catalog) -> list[Reason]:
    """One reason per GPU the goal's clouds offer but tailor's launched stack cannot run on
    (planner.offers.launch_refusal): no plan uses them."""
    clouds = goal.privacy.allowed_clouds
    wanted = {catalog.gpu(name).name for name in goal.preferences.gpus}
    offered = (
        {o.gpu for o in catalog.offers if (clouds is None or o.cloud in clouds) and o.gpu in wanted}
        if wanted
        else {o.gpu for o in catalog.offers if clouds is None or o.cloud in clouds}
    )
    reasons = []
    for name in sorted(offered):
        detail = launch_refusal(catalog.gpu(name))
        if detail is not None:
            reasons.append(
                Reason(
                    subject=f"gpu {name}",
                    constraint="launched stack (executor/locks.py)",
                    detail=detail,
                    fix="no plan uses it; choose a Turing-or-newer NVIDIA GPU on an x86_64 host",
                )
            )
    return reasons


def _expand(dg: DecisionGraph, ctx: _Context, strategies: list[Strategy]) -> None:
    for strategy in strategies:
        node = f"strategy:{strategy}"
        dg.add(SOURCE, node, "strategy", str(strategy))
        if strategy.hosted_api:
            _expand_api(dg, ctx, strategy, node)
        else:
            _expand_self_hosted(dg, ctx, strategy, node)
