"""Discrete-event simulation of one vLLM V1 engine's scheduler: a test-side reference for the
planner's analytic queueing model of a replica.

What it is for: the planner predicts p95 TTFT (queueing + prefill interference), per-stream
tokens/s and the concurrency cap of one vLLM replica in closed form. This module steps the same
scheduling rules one engine step at a time, so a test can check the closed form against it. It is
pure Python (a deque and a loop), deterministic for a given request list and step-time function,
and has no vLLM dependency: the rules were read from the installed vLLM 0.32.0 source
(``.venv-vllm/lib/python3.11/site-packages/vllm``, ``_version.py:21`` says ``0.32.0``), and each
mirrored rule cites ``file:line`` in the docstring of the function that mirrors it. Paths below are
relative to that ``vllm/`` package directory.

Rules mirrored (``v1/core/sched/scheduler.py``, ``Scheduler.schedule`` at :591):

* One token budget per step, ``max_num_batched_tokens`` (:611 with :137-141 -- the budget is
  ``max_num_scheduled_tokens``, which defaults to ``max_num_batched_tokens``).
* RUNNING requests first, in list order (:657-659). Each asks for
  ``num_tokens - num_computed_tokens`` (:703-707): 1 for a decoding request, the rest of the
  prompt for one still in prefill, capped by ``long_prefill_token_threshold`` (:708-709; 0
  disables it, and it is dropped when only one request is eligible, :640-649) and by the budget
  (:710-712). That cap is chunked prefill; V1 has it on by default
  (``config/scheduler.py:134``).
* KV blocks of ``block_size`` tokens. A chunk needs ``ceil((computed + new) / block_size)`` blocks
  in all (``v1/core/kv_cache_manager.py:541-544``,
  ``v1/core/single_type_kv_cache_manager.py:213``, :227-235). When they are not free the scheduler
  preempts ``self.running[-1]``, the most recently added running request, until they are, or until
  it has preempted the request itself (``scheduler.py:777-848``). Preemption frees all the
  victim's blocks, sets ``num_computed_tokens = 0`` and puts it at the *front* of the waiting
  queue (:1589-1593, :1613; ``v1/core/sched/request_queue.py:92-94``): recompute preemption, its
  prompt and generated tokens are prefilled again on resume.
* WAITING requests only if nothing was preempted this step (:900), FCFS from the head (:926),
  while ``len(running) < max_num_seqs`` (:922-924, ``max_num_active_reqs`` defaults to
  ``max_num_seqs``, :132-136) and budget remains (:912). A request is admitted only if its whole
  current sequence fits in the free blocks (``scheduler_reserve_full_isl=True`` by default,
  ``config/scheduler.py:190``, used at ``scheduler.py:1270``; ``kv_cache_manager.py:522-539``),
  plus the watermark when something is already running (``kv_cache_manager.py:509-516``,
  :208; watermark defaults to 0.0, ``config/scheduler.py:196``). The first admission that fails
  stops the scan (``scheduler.py:1275-1282``: ``break``), so the queue is strictly FCFS. Its
  first chunk is ``min(num_tokens, budget)`` (:1129, :1169), no prefix cache hit (prefix caching
  is off here).
* A request's KV grows to ``prompt + generated`` tokens; a step that computes the last of them
  samples one token (partial prefill chunks return none, ``scheduler.py:2289`` and
  :2497-2499), so the first token comes at the end of the step that computes the last prompt
  token, and each later step that schedules it emits one more. It stops when
  ``num_output_tokens >= max_tokens`` (``v1/core/sched/utils.py:115-116``), then leaves RUNNING
  keeping the order of the others (``scheduler.py:2294-2295``, ``utils.py:65``) and frees its
  blocks.
* One block of the pool is the null block (``v1/core/block_pool.py:184-188``), so
  ``kv_capacity_tokens // block_size - 1`` blocks are usable.

What it leaves out, on purpose: async scheduling (on by default where supported,
``config/vllm.py:1644``; it overlaps the next schedule with the running step and does not change
which tokens a step computes in steady state), speculative decoding, prefix caching, the priority
policy, KV connectors, pipeline parallelism, EOS (every request generates exactly
``output_tokens``), detokenization and network time. Requests that arrive while a step runs are
seen at the next ``schedule()`` call; an engine with nothing to run jumps to the next arrival.

Engine defaults worth knowing when choosing arguments (``engine/arg_utils.py:2933-2952``): for the
OpenAI server on a >= 70 GiB non-A100 GPU (H100/H200), ``max_num_batched_tokens=8192`` and
``max_num_seqs=1024``; on other GPUs 2048 and 256; ``block_size`` defaults to 16
(``config/cache.py:72``).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

StepTime = Callable[[int, int, int], float]
"""``step_time_s(decode_seqs, prefill_tokens, kv_tokens_read)`` -> seconds of one engine step.

``decode_seqs``: running sequences generating one token this step; ``prefill_tokens``: prompt (or
recomputed) tokens computed this step over all requests; ``kv_tokens_read``: context tokens of all
scheduled sequences, ``computed + new`` each, i.e. the KV the step's attention covers."""

TokenCount = int | Callable[[random.Random], int]
"""A fixed token count, or a function drawing one from the generator it is given."""


@dataclass(frozen=True)
class SimRequest:
    """One request: when it reaches the engine, its prompt length and how many tokens it gets."""

    arrival_s: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class StepRecord:
    """One engine step, kept when ``simulate(..., trace=True)``, to check the scheduler's caps."""

    start_s: float
    duration_s: float
    decode_seqs: int
    prefill_tokens: int
    kv_tokens_read: int
    scheduled_seqs: int
    running_seqs: int
    preempted: int
    chunks: tuple[int, ...]
    """Tokens scheduled per request this step, in scheduling order."""
    request_ids: tuple[int, ...] = ()
    """Which requests those are: their index in arrival order (stable sort of the input)."""


@dataclass(frozen=True)
class SimResult:
    """Per-request latencies of the measured requests (arrival order) and engine averages.

    The averages are over the measured window: from the arrival of the first measured request to
    the arrival of the last request (the steady-state part of an open-loop run), or to the last
    finish when those coincide (a single request). ``output_tokens_per_s`` counts every token
    sampled inside the window, warm-up requests' included. ``busy_fraction`` is the share of the
    window with a step running: with continuous batching it is near 1 whenever any request is in
    flight, so it measures occupancy, not how close the engine is to its token capacity.
    ``mean_running`` is the time average of ``len(running)`` (vLLM's RUNNING list, which may hold
    requests the budget left out of a step), zero while idle."""

    ttft_s: tuple[float, ...]
    tpot_s: tuple[float, ...]
    e2e_s: tuple[float, ...]
    mean_running: float
    busy_fraction: float
    output_tokens_per_s: float
    preemptions: int
    window_s: float = 0.0
    num_steps: int = 0
    steps: tuple[StepRecord, ...] = ()

    def quantile(self, values: Sequence[float], q: float) -> float:
        """The ``q`` quantile of ``values``; see the module function ``quantile``."""
        return quantile(values, q)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default "linear", Hyndman-Fan type 7) of ``values``.

    Why this one: it is what ``numpy.quantile`` and ``statistics.quantiles(method="inclusive")``
    give, so a test comparing against either reads the same number."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _draw(count: TokenCount, rng: random.Random) -> int:
    """A token count: ``count`` itself, or one drawn from it with ``rng``."""
    return count if isinstance(count, int) else int(count(rng))


def poisson_requests(
    rate_per_s: float,
    n: int,
    *,
    input_tokens: TokenCount,
    output_tokens: TokenCount,
    seed: int,
    start_s: float = 0.0,
) -> list[SimRequest]:
    """``n`` requests of a Poisson process of ``rate_per_s`` (exponential gaps, the first after
    ``start_s``), lengths fixed or drawn per request from one seeded generator."""
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    rng = random.Random(seed)
    out: list[SimRequest] = []
    t = start_s
    for _ in range(n):
        t += rng.expovariate(rate_per_s)
        out.append(SimRequest(t, _draw(input_tokens, rng), _draw(output_tokens, rng)))
    return out


class _Req:
    """Mutable scheduler state of one request (vLLM's ``Request``, reduced to what we mirror)."""

    __slots__ = (
        "arrival",
        "blocks",
        "computed",
        "finish",
        "first_token",
        "generated",
        "idx",
        "out",
        "prompt",
        "target",
    )

    def __init__(self, idx: int, req: SimRequest) -> None:
        self.idx = idx
        self.arrival = req.arrival_s
        self.prompt = req.input_tokens
        self.out = req.output_tokens
        self.computed = 0  # num_computed_tokens
        self.generated = 0  # num_output_tokens
        self.blocks = 0  # KV blocks held
        self.target = 0  # num_tokens at (re)admission: prefill ends when computed reaches it
        self.first_token = math.nan
        self.finish = math.nan


@dataclass(frozen=True)
class _Config:
    """The scheduler limits one simulation runs under."""

    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int
    usable_blocks: int
    long_prefill_token_threshold: int
    watermark_blocks: int
    reserve_full_isl: bool

    def blocks_for(self, tokens: int) -> int:
        """Blocks holding ``tokens`` KV slots (``single_type_kv_cache_manager.py:213``, cdiv)."""
        return -(-tokens // self.block_size)


def _chunk(remaining: int, budget: int, threshold: int) -> int:
    """Tokens scheduled for a request with ``remaining`` uncomputed tokens: capped by the long
    prefill threshold when non-zero, then by the budget (``scheduler.py:708-712``, :1155-1169)."""
    if 0 < threshold < remaining:
        remaining = threshold
    return min(remaining, budget)


class _Engine:
    """The scheduler loop of one engine: waiting deque, running list, free-block count, clock."""

    def __init__(self, cfg: _Config, step_time_s: StepTime, window: tuple[float, float]) -> None:
        self.cfg = cfg
        self.step_time_s = step_time_s
        self.free_blocks = cfg.usable_blocks
        self.running: list[_Req] = []
        self.waiting: deque[_Req] = deque()
        self.now = 0.0
        self.preemptions = 0
        self.num_steps = 0
        self.w0, self.w1 = window
        self.busy_s = 0.0
        self.running_area = 0.0
        self.tokens_in_window = 0
        self.trace: list[StepRecord] | None = None

    # -- scheduling ---------------------------------------------------------------------------

    def _preempt(self, victim: _Req) -> None:
        """Recompute preemption (``scheduler.py:1589-1593``, :1613): free all blocks, forget
        computed tokens, go to the front of the waiting queue."""
        self.free_blocks += victim.blocks
        victim.blocks = 0
        victim.computed = 0
        self.preemptions += 1
        self.waiting.appendleft(victim)

    def _make_room(self, req: _Req, need: int) -> bool:
        """Preempt ``running[-1]`` until ``need`` blocks are free; False if ``req`` itself went
        (``scheduler.py:777-848``, FCFS branch :834)."""
        while need > self.free_blocks:
            victim = self.running.pop()
            self._preempt(victim)
            if victim is req:
                return False
        return True

    def _schedule_running(self, budget: int, threshold: int) -> tuple[list[tuple[_Req, int]], int]:
        """Schedule RUNNING requests in order (``scheduler.py:657-858``); returns the chunks
        scheduled and the budget left. ``_chunk`` and ``blocks_for`` are inlined: this is the
        hot loop."""
        scheduled: list[tuple[_Req, int]] = []
        running = self.running  # _make_room pops from this same list
        bs = self.cfg.block_size
        i = 0
        while i < len(running) and budget > 0:
            req = running[i]
            n = req.prompt + req.generated - req.computed
            if 0 < threshold < n:
                n = threshold
            n = min(n, budget)
            need = -(-(req.computed + n) // bs) - req.blocks
            if need > 0:
                if need > self.free_blocks and not self._make_room(req, need):
                    break
                self.free_blocks -= need
                req.blocks += need
            scheduled.append((req, n))
            budget -= n
            i += 1
        return scheduled, budget

    def _admissible(self, req: _Req, first_chunk: int) -> bool:
        """The admission gate of ``kv_cache_manager.allocate_slots`` for a fresh or resumed
        request: the whole current sequence (``full_sequence_must_fit``, :522-539) or only the
        first chunk (:561-579), plus the watermark when something runs (:509-516)."""
        tokens = req.prompt + req.generated if self.cfg.reserve_full_isl else first_chunk
        watermark = self.cfg.watermark_blocks if self.running else 0
        return self.cfg.blocks_for(tokens) + watermark <= self.free_blocks

    def _schedule_waiting(
        self, scheduled: list[tuple[_Req, int]], budget: int, threshold: int
    ) -> None:
        """Admit WAITING requests FCFS (``scheduler.py:912-1369``) while a sequence slot and
        budget remain; stop at the first that does not fit (:1275-1282)."""
        while budget > 0 and self.waiting and len(self.running) < self.cfg.max_num_seqs:
            req = self.waiting[0]
            n = _chunk(req.prompt + req.generated, budget, threshold)
            if not self._admissible(req, n):
                break
            self.waiting.popleft()
            self.running.append(req)
            req.target = req.prompt + req.generated
            req.blocks = self.cfg.blocks_for(n)
            self.free_blocks -= req.blocks
            scheduled.append((req, n))
            budget -= n

    def schedule(self) -> tuple[list[tuple[_Req, int]], int]:
        """One ``Scheduler.schedule()``: running first, then waiting unless something was
        preempted (``scheduler.py:900``). Returns the chunks and the number preempted."""
        eligible = len(self.running) + len(self.waiting)
        threshold = self.cfg.long_prefill_token_threshold if eligible > 1 else 0
        before = self.preemptions
        scheduled, budget = self._schedule_running(self.cfg.max_num_batched_tokens, threshold)
        preempted = self.preemptions - before
        if not preempted:
            self._schedule_waiting(scheduled, budget, threshold)
        return scheduled, preempted

    # -- executing ----------------------------------------------------------------------------

    def _overlap(self, start: float, end: float) -> float:
        """Seconds of ``[start, end]`` inside the measured window."""
        return max(0.0, min(end, self.w1) - max(start, self.w0))

    def _milestone(self, req: _Req) -> bool:
        """After ``req`` sampled a token at ``now``: stamp its first token, and finish it when it
        reached its output length (``v1/core/sched/utils.py:115-116``), freeing its blocks.
        True when it finished."""
        if req.generated == 1:
            req.first_token = self.now
        if req.generated < req.out:
            return False
        req.finish = self.now
        self.free_blocks += req.blocks
        req.blocks = 0
        return True

    def _sample(self, scheduled: list[tuple[_Req, int]]) -> None:
        """Advance computed tokens; a request whose computed tokens caught up with its tokens
        samples one (partial prefill chunks sample none, ``scheduler.py:2289``, :2497-2499).
        Finished requests leave RUNNING, the others keep their order (:2294-2295)."""
        done = False
        emitted = 0
        for req, n in scheduled:
            req.computed += n
            if req.computed == req.prompt + req.generated:
                req.generated += 1
                emitted += 1
                if (req.generated == 1 or req.generated >= req.out) and self._milestone(req):
                    done = True
        if self.w0 <= self.now <= self.w1:
            self.tokens_in_window += emitted
        if done:
            self.running = [r for r in self.running if r.generated < r.out]

    def execute(self, scheduled: list[tuple[_Req, int]], preempted: int) -> None:
        """Run one step: classify its work, time it with ``step_time_s``, account the window
        averages, then sample (``_sample``). A request counts as decoding once its computed
        tokens reached ``target`` (its tokens at (re)admission), so recomputation after a
        preemption counts as prefill."""
        decode = prefill = kv = 0
        for req, n in scheduled:
            if req.computed >= req.target:
                decode += 1
            else:
                prefill += n
            kv += req.computed + n
        dt = self.step_time_s(decode, prefill, kv)
        if not dt > 0:
            raise ValueError(f"step_time_s must be positive, got {dt!r}")
        start = self.now
        self.now += dt
        self.num_steps += 1
        inside = self._overlap(start, self.now)
        self.busy_s += inside
        self.running_area += inside * len(self.running)
        if self.trace is not None:
            self.trace.append(
                StepRecord(
                    start,
                    dt,
                    decode,
                    prefill,
                    kv,
                    len(scheduled),
                    len(self.running),
                    preempted,
                    tuple(n for _, n in scheduled),
                    tuple(r.idx for r, _ in scheduled),
                )
            )
        self._sample(scheduled)


def _validate(requests: Sequence[SimRequest], cfg: _Config) -> None:
    """Reject inputs vLLM would reject or that could never run: ``max_num_batched_tokens <
    max_num_seqs`` (``config/scheduler.py:328-333``), empty prompts or outputs, and a request
    whose full KV (prompt + output - 1 slots) exceeds the usable pool."""
    if cfg.max_num_seqs < 1 or cfg.max_num_batched_tokens < cfg.max_num_seqs:
        raise ValueError("need 1 <= max_num_seqs <= max_num_batched_tokens")
    if cfg.usable_blocks < 1:
        raise ValueError("kv_capacity_tokens leaves no usable block")
    for r in requests:
        if r.input_tokens < 1 or r.output_tokens < 1:
            raise ValueError(f"request needs >= 1 input and output token: {r}")
        if cfg.blocks_for(r.input_tokens + r.output_tokens - 1) > cfg.usable_blocks:
            raise ValueError(f"request does not fit the KV cache: {r}")


def _window(ordered: Sequence[SimRequest], warmup: int) -> tuple[float, float]:
    """Measured window: first measured arrival to last arrival (``inf`` if they coincide, closed
    at the last finish afterwards)."""
    w0 = ordered[warmup].arrival_s
    w1 = ordered[-1].arrival_s
    return w0, (w1 if w1 > w0 else math.inf)


def _run(engine: _Engine, reqs: list[_Req]) -> None:
    """The engine loop: add arrivals up to ``now``, step while anything is runnable, else jump to
    the next arrival."""
    pending = deque(reqs)
    while pending or engine.running or engine.waiting:
        while pending and pending[0].arrival <= engine.now:
            engine.waiting.append(pending.popleft())
        if not engine.running and not engine.waiting:
            engine.now = pending[0].arrival
            continue
        scheduled, preempted = engine.schedule()
        engine.execute(scheduled, preempted)


def _result(engine: _Engine, measured: list[_Req], trace: bool) -> SimResult:
    """Collect per-request latencies and window averages."""
    w1 = engine.w1 if math.isfinite(engine.w1) else max(r.finish for r in measured)
    span = w1 - engine.w0
    ttft = tuple(r.first_token - r.arrival for r in measured)
    tpot = tuple((r.finish - r.first_token) / (r.out - 1) for r in measured if r.out > 1)
    e2e = tuple(r.finish - r.arrival for r in measured)
    return SimResult(
        ttft_s=ttft,
        tpot_s=tpot,
        e2e_s=e2e,
        mean_running=engine.running_area / span if span > 0 else 0.0,
        busy_fraction=engine.busy_s / span if span > 0 else 0.0,
        output_tokens_per_s=engine.tokens_in_window / span if span > 0 else 0.0,
        preemptions=engine.preemptions,
        window_s=span,
        num_steps=engine.num_steps,
        steps=tuple(engine.trace or ()) if trace else (),
    )


def simulate(
    requests: Sequence[SimRequest],
    *,
    step_time_s: StepTime,
    max_num_seqs: int,
    max_num_batched_tokens: int,
    kv_capacity_tokens: int,
    block_size: int = 16,
    warmup: int = 0,
    long_prefill_token_threshold: int = 0,
    watermark: float = 0.0,
    reserve_full_isl: bool = True,
    trace: bool = False,
) -> SimResult:
    """Simulate one vLLM V1 engine serving ``requests`` (any order; run in arrival order).

    ``kv_capacity_tokens`` is the KV pool in tokens (``num_gpu_blocks * block_size``); one block
    is the null block. The first ``warmup`` requests by arrival are run but not measured.
    ``long_prefill_token_threshold``, ``watermark`` and ``reserve_full_isl`` mirror the vLLM
    options of those names with their defaults (``config/scheduler.py:79``, :196, :190);
    ``trace`` keeps a ``StepRecord`` per step."""
    if not requests:
        raise ValueError("no requests")
    if not 0 <= warmup < len(requests):
        raise ValueError("warmup must leave at least one measured request")
    num_blocks = kv_capacity_tokens // block_size
    cfg = _Config(
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        block_size=block_size,
        usable_blocks=num_blocks - 1,
        long_prefill_token_threshold=long_prefill_token_threshold,
        watermark_blocks=int(watermark * num_blocks),
        reserve_full_isl=reserve_full_isl,
    )
    _validate(requests, cfg)
    ordered = sorted(requests, key=lambda r: r.arrival_s)
    reqs = [_Req(i, r) for i, r in enumerate(ordered)]
    engine = _Engine(cfg, step_time_s, _window(ordered, warmup))
    if trace:
        engine.trace = []
    _run(engine, reqs)
    return _result(engine, reqs[warmup:], trace)
