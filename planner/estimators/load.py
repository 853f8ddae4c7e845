"""One vLLM replica under load: continuous batching with chunked prefill, as a queue.

vLLM's V1 scheduler (vllm/v1/core/sched/scheduler.py, ``Scheduler.schedule``) runs engine
steps back to back. Each step has a budget of ``max_num_batched_tokens``: running requests are
scheduled first (a decoding sequence costs one token), then waiting prompts first-come first
served while fewer than ``max_num_seqs`` run, each prompt chunked to what is left of the budget.
A prompt's first token comes out of the step that computes its last prompt token.

The model, each formula named (units in the names):

- **step time** ``t(d, p)`` with ``d`` decoding sequences and ``p`` prefill tokens in the step:
  the larger of a memory line (weights + the batch's KV read once at HBM bandwidth × MBU) and a
  compute line (FLOPs at peak × MFU), plus tensor-parallel all-reduces; both lines are affine in
  ``d`` and ``p`` (``StepLines``).
- **steady state** at ``λ`` requests/s with mean prompt ``I`` and output ``O`` (time
  accounting): ``N_p = λ·max(1, I/C + ½)`` steps per second carry prompt chunks (``t_p`` each,
  compute bound for long chunks), the others decode only (``t_d``, memory bound), and
  ``N_p·t_p + N_d·t_d = 1``; by Little's law ``d = λ·O / (N_p + N_d)`` sequences decode, a
  quadratic in ``d`` (``ReplicaQueue.steady_concurrency``). The mean step is ``d / (λ·O)``: one
  stream's tokens/s is its inverse, prefill interference included.
- **concurrency** in the replica is Poisson with mean ``d`` (an M/G/∞ system: Poisson arrivals,
  each request holding a slot for its decode time); its 99.9th percentile ``d + 3.09·√d`` must fit
  ``max_num_seqs`` and, times the mean context in flight, the KV cache.
- **saturation** ``λ_sat``: the highest rate with a steady state whose concurrency fits
  ``max_num_seqs`` and whose prompt queue is stable; the plan runs at ≤ 80 % of it.
- **prompt queue**: prompts are served by the prefill steps one at a time (M/G/1, service
  ``S = s0·max(1, I/C + ½) + s1·I`` on the roofline line a mean prompt is on, ``C = B − d`` the
  budget the decodes leave): load ``ρ = λ·E[S]``, mean wait ``λ·E[S²] / (2(1 − ρ))``
  (Pollaczek–Khinchine), p95 by the exponential tail ``W95 = W̄/ρ · ln(ρ / 0.05)``
  (0 when ρ ≤ 0.05).
- **p95 TTFT** = half the decode step in progress when the request arrives (its mean
  residual) + ``W95`` + the p95 prompt's own prefill (``s0·ceil(I95 / C) + s1·I95``) + the
  network round trip to the users.

Request lengths follow a lognormal fitted to the mean and the p95 (``Lengths``): it gives the
second moments the queue needs and the length-biased context of the sequences in flight.
tests/planner/test_load_model.py checks the model against a discrete-event simulation of the
same scheduler (tests/planner/vllm_sim.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from planner.estimators.terms import num

__all__ = [
    "CONCURRENCY_Z",
    "TARGET_UTILIZATION",
    "Lengths",
    "LoadPoint",
    "ReplicaQueue",
    "StepLines",
    "lognormal_sigma",
]

CONCURRENCY_Z = 3.09  # standard normal 99.9th percentile: concurrency sized at p99.9
TTFT_QUANTILE_TAIL = 0.05  # p95
TARGET_UTILIZATION = 0.8  # plan replicas at ≤ 80 % of saturation, headroom for p95 latency
_Z95 = 1.6448536269514722  # standard normal 95th percentile


def lognormal_sigma(mean: float, p95: float) -> float:
    """σ of the lognormal with this mean and 95th percentile (0 when p95 ≤ mean).

    mean = exp(μ + σ²/2), p95 = exp(μ + 1.645σ) ⇒ σ²/2 − 1.645σ + ln(p95/mean) = 0, the
    smaller root (the larger one puts most of the mass far below the mean).
    """
    ratio = math.log(p95 / mean) if p95 > mean else 0.0
    disc = _Z95 * _Z95 - 2 * ratio
    if disc <= 0:  # p95 more than e^(1.353) ≈ 3.87 × the mean: the widest lognormal fitting it
        return _Z95
    return _Z95 - math.sqrt(disc)


@dataclass(frozen=True)
class Lengths:
    """Request lengths in tokens: means, 95th percentiles and maxima of prompt and output."""

    input_mean: float
    input_p95: int
    input_max: int
    output_mean: float
    output_p95: int
    output_max: int

    @cached_property
    def input_second_moment(self) -> float:
        """E[I²] of the lognormal fit: mean² × exp(σ²), tokens²."""
        sigma = lognormal_sigma(self.input_mean, self.input_p95)
        return self.input_mean**2 * math.exp(sigma * sigma)

    @cached_property
    def context_in_flight(self) -> float:
        """Mean KV tokens of a sequence in flight: E[I] + E[O²] / (2 E[O]).

        Sequences are seen in proportion to how long they decode (length bias), and one that
        has produced a share u of its output holds I + u·O tokens.
        """
        sigma = lognormal_sigma(self.output_mean, self.output_p95)
        return self.input_mean + self.output_mean * math.exp(sigma * sigma) / 2

    @property
    def max_model_len(self) -> int:
        """Longest request: the longest prompt plus the longest output, tokens."""
        return self.input_max + self.output_max


@dataclass(frozen=True)
class StepLines:
    """Engine step time ``max(memory, compute)`` as two affine lines in (d, p), seconds.

    ``memory_fixed_s``: weights read once (+ all-reduce latency); ``*_per_decode_s``: one more
    decoding sequence; ``*_per_prefill_s``: one more prompt token in the step.
    """

    memory_fixed_s: float
    memory_per_decode_s: float
    memory_per_prefill_s: float
    compute_fixed_s: float
    compute_per_decode_s: float
    compute_per_prefill_s: float

    def step_s(self, decode: float, prefill: float) -> float:
        """τ(d, p): seconds of one engine step."""
        memory = self.memory_fixed_s + self.memory_per_decode_s * decode
        compute = self.compute_fixed_s + self.compute_per_decode_s * decode
        return max(
            memory + self.memory_per_prefill_s * prefill,
            compute + self.compute_per_prefill_s * prefill,
        )


@dataclass(frozen=True)
class LoadPoint:
    """A replica at ``rate_per_s``: what the queue model says of it (numbers only)."""

    rate_per_s: float
    step_s: float  # mean engine step τ(λ)
    decode_concurrency: float  # mean sequences decoding, d = λ·O·τ
    concurrency_p999: float  # d + 3.09·√d
    prefill_budget_tokens: float  # C = B − d
    full_step_s: float  # τ_f = τ(d, C)
    prefill_load: float  # ρ
    queue_wait_p95_s: float  # W95
    own_prefill_s: float  # the p95 prompt's own prefill
    network_rtt_s: float
    ttft_p95_s: float
    utilization: float  # max(λ / λ_sat, ρ)

    @property
    def tokens_per_s_per_stream(self) -> float:
        """One stream's decode speed at this load, 1 / τ."""
        return 1 / self.step_s


def _chunks(prompt_tokens: float, capacity: float) -> float:
    """Steps a prompt of that mean length is computed in, ``max(1, I/C + 1/2)``: chunks of C
    tokens, the last one half full on average."""
    return max(1.0, prompt_tokens / capacity + 0.5)


class ReplicaQueue:
    """The queue model of one replica (see the module docstring), for one request mix.

    ``moe_fixed_s(tokens)``, if given, replaces ``lines.memory_fixed_s`` for MoE models, whose
    weights read per step grow with the tokens routed in it.
    """

    def __init__(
        self,
        lines: StepLines,
        lengths: Lengths,
        *,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        kv_capacity_tokens: float,
        network_rtt_s: float = 0.0,
        moe_fixed_s: Callable[[float], float] | None = None,
    ) -> None:
        self.lines, self.lengths = lines, lengths
        self.max_num_seqs, self.budget = max_num_seqs, max_num_batched_tokens
        self.kv_capacity_tokens = kv_capacity_tokens
        self.network_rtt_s = network_rtt_s
        self._moe = moe_fixed_s
        self._seqs_limit = min(
            self.mean_for_p999(max_num_seqs),
            self.mean_for_p999(kv_capacity_tokens / lengths.context_in_flight),
        )
        self._saturation: float | None = None
        self._most_concurrency: float | None = None

    # --- steady state -------------------------------------------------------------------
    def _memory_fixed(self, tokens_per_step: float) -> float:
        if self._moe is None:
            return self.lines.memory_fixed_s
        return self._moe(tokens_per_step)

    def decode_step_s(self, decode: float) -> float:
        """A step of ``decode`` sequences and no prompt tokens, s."""
        return self.lines.step_s(decode, 0) + (
            self._memory_fixed(decode) - self.lines.memory_fixed_s if self._moe else 0.0
        )

    def prefill_step_s(self, decode: float, prefill: float) -> float:
        """A step of ``decode`` sequences and ``prefill`` prompt tokens, s."""
        extra = self._memory_fixed(decode + prefill) - self.lines.memory_fixed_s if self._moe else 0
        lines = self.lines
        return max(
            lines.memory_fixed_s
            + extra
            + lines.memory_per_decode_s * decode
            + lines.memory_per_prefill_s * prefill,
            lines.compute_fixed_s
            + lines.compute_per_decode_s * decode
            + lines.compute_per_prefill_s * prefill,
        )

    # --- steady state, parametrized by the concurrency -------------------------------------
    def _accounting(self, d: float) -> tuple[float, float, float]:
        """(k, t_p, t_d) at ``d`` sequences decoding: prompt steps per request, a prompt
        step's and a decode-only step's seconds."""
        capacity = self.budget - d
        prompt = self.lengths.input_mean
        chunk = min(prompt, capacity)
        if self._moe is not None:
            return _chunks(prompt, capacity), self.prefill_step_s(d, chunk), self.decode_step_s(d)
        # dense models: prefill_step_s and decode_step_s inlined, the same sums in the same
        # order (the search's innermost call)
        lines = self.lines
        memory = lines.memory_fixed_s + lines.memory_per_decode_s * d
        compute = lines.compute_fixed_s + lines.compute_per_decode_s * d
        return (
            _chunks(prompt, capacity),
            max(
                memory + lines.memory_per_prefill_s * chunk,
                compute + lines.compute_per_prefill_s * chunk,
            ),
            max(memory, compute),
        )

    def rate_at(self, d: float) -> float:
        """The arrival rate at which ``d`` sequences decode on average, requests/s.

        Time accounting of one second: ``N_p = λ·k`` steps carry prompt chunks (``k =
        max(1, I/C + ½)`` per prompt, ``t_p`` each), the other ``N_d`` decode only (``t_d``);
        ``N_p·t_p + N_d·t_d = 1``, and Little's law gives ``N_p + N_d = λ·O / d`` (each
        request decodes O steps). Solved for λ: ``λ = 1 / (k·t_p + (O/d − k)·t_d)`` — 0 at
        d = 0, and no steady state once ``O/d < k`` (prompt steps alone would fill the time).
        """
        if d <= 0:
            return 0.0
        if d >= self.budget:
            return math.inf
        k, t_p, t_d = self._accounting(d)
        per_request = self.lengths.output_mean / d
        if per_request < k:
            return math.inf
        return 1 / (k * t_p + (per_request - k) * t_d)

    def rate_formula(self, d: float) -> str:
        """``1 / (k·t_p + (O/d − k)·t_d)`` at ``d``, numbers substituted."""
        k, t_p, t_d = self._accounting(d)
        return (
            f"1 / ({num(k, 12)} × {num(t_p, 12)} + ({num(self.lengths.output_mean)} / "
            f"{num(d, 12)} − {num(k, 12)}) × {num(t_d, 12)})"
        )

    def _max_concurrency(self) -> float:
        """The largest d with a steady state: max_num_seqs, or where prompt steps would fill
        every step (O/d = k), or where the prompt queue stops being stable (ρ = 1)."""
        if self._most_concurrency is None:
            self._most_concurrency = self._solve_max_concurrency()
        return self._most_concurrency

    def _solve_max_concurrency(self) -> float:
        high = float(self.max_num_seqs)
        lines, budget = self.lines, self.budget
        prompt, output = self.lengths.input_mean, self.lengths.output_mean

        def stable(d: float) -> bool:
            if self._moe is not None or d <= 0 or d >= budget:
                rate = self.rate_at(d)
                return math.isfinite(rate) and self._prefill_load(rate, d) < 1
            # dense, 0 < d < B: rate_at and _prefill_load inlined (the same sums in the same
            # order), sharing the step lines they both evaluate at d
            capacity = budget - d
            chunk = min(prompt, capacity)
            memory = lines.memory_fixed_s + lines.memory_per_decode_s * d
            compute = lines.compute_fixed_s + lines.compute_per_decode_s * d
            k = _chunks(prompt, capacity)
            per_request = output / d
            if per_request < k:
                return False
            memory_step = memory + lines.memory_per_prefill_s * chunk
            compute_step = compute + lines.compute_per_prefill_s * chunk
            rate = 1 / (
                k * max(memory_step, compute_step) + (per_request - k) * max(memory, compute)
            )
            if not math.isfinite(rate):
                return False
            if memory_step >= compute_step:
                s0, s1 = memory, lines.memory_per_prefill_s
            else:
                s0, s1 = compute, lines.compute_per_prefill_s
            return rate * (s0 * k + s1 * prompt) < 1

        if stable(high):
            return high
        low = 0.0
        while high - low > 1e-4 * high:
            mid = (low + high) / 2
            low, high = (mid, high) if stable(mid) else (low, mid)
        return low

    def offline_concurrency(self) -> float:
        """Sequences decoding in an offline job, whose every prompt is queued from the start:
        the batch stays full, at max_num_seqs or what the KV cache holds of the mean context
        in flight (no arrival noise, so no p99.9 margin), leaving at least one token of the
        step's budget for prompts."""
        return max(
            0.0,
            min(
                float(self.max_num_seqs),
                self.kv_capacity_tokens / self.lengths.context_in_flight,
                self.budget - 1.0,
            ),
        )

    def offline_prefill_tokens(self, d: float) -> float:
        """Prompt tokens per step in an offline job at ``d`` sequences decoding: prompts are
        always waiting, so each step tops its decodes up with prompt chunks at the pace
        sequences finish — ``I·d/O`` tokens (one new prompt per O/d steps per slot) — or the
        step's whole remaining budget ``B − d`` when that is less (prefill-bound)."""
        n = self.lengths
        return min(n.input_mean * d / n.output_mean, self.budget - d)

    def offline_step_s(self, d: float) -> float:
        """An offline job's mean step at ``d`` decoding: d decodes + its prompt tokens, s."""
        return self.prefill_step_s(d, self.offline_prefill_tokens(d))

    def offline_rate(self, d: float) -> float:
        """Requests/s an offline job finishes at ``d`` sequences decoding (a fluid model): every
        step decodes d tokens and prefills ``p = offline_prefill_tokens(d)``, so
        ``λ = min(d / O, p / I) / τ`` — decode-bound, or prefill-bound when the budget runs
        out first. It errs fast where the KV cache is the limit: there vLLM preempts and
        recomputes, and admits prompts in bursts (tests/planner/test_batch.py measures it)."""
        n = self.lengths
        p, tau = self.offline_prefill_tokens(d), self.offline_step_s(d)
        return min(d / n.output_mean, p / n.input_mean) / tau

    def offline_rate_formula(self, d: float) -> str:
        """``offline_rate`` at ``d``, numbers substituted."""
        n = self.lengths
        p = self.offline_prefill_tokens(d)
        return (
            f"min({num(d, 12)} / {num(n.output_mean)}, {num(p, 12)} / {num(n.input_mean)}) / "
            f"{num(self.offline_step_s(d), 12)}"
        )

    def steady_concurrency(self, rate: float) -> float:
        """Mean sequences decoding at ``rate`` requests/s (the inverse of ``rate_at``, by
        bisection; inf past saturation)."""
        if rate <= 0:
            return 0.0
        if rate > self.saturation_rate():
            return math.inf
        low, high = 0.0, self._max_concurrency()
        while high - low > 1e-9 * high:
            mid = (low + high) / 2
            low, high = (mid, high) if self.rate_at(mid) < rate else (low, mid)
        return high

    @staticmethod
    def mean_for_p999(limit: float) -> float:
        """Largest mean d with d + z·√d ≤ limit (z = CONCURRENCY_Z)."""
        if limit <= 0:
            return 0.0
        root = (-CONCURRENCY_Z + math.sqrt(CONCURRENCY_Z**2 + 4 * limit)) / 2
        return root * root

    def rate_upper_bound(self) -> float:
        """A rate no replica setting can exceed, requests/s: every step takes at least its
        weights read plus its KV read (memory line) and at least its FLOPs (compute line), and
        serves at most max_num_seqs decodes, so 1 s ≥ λ·O·(a_m / N + b_d,m) and
        1 s ≥ λ·(I·b_p,c + O·b_d,c). (MoE: the compute bound only, their weights read shrinks
        at small batch.)"""
        lines, n = self.lines, self.lengths
        compute = n.input_mean * lines.compute_per_prefill_s + (
            n.output_mean * lines.compute_per_decode_s
        )
        if self._moe is not None:
            return 1 / compute
        memory = n.output_mean * (
            lines.memory_fixed_s / self.max_num_seqs + lines.memory_per_decode_s
        )
        return 1 / max(memory, compute)

    def saturation_rate(self) -> float:
        """λ_sat: the rate at the largest concurrency with a steady state (requests/s)."""
        if self._saturation is None:
            self._saturation = self.rate_at(self._max_concurrency())
        return self._saturation

    def ttft_lower_bound_s(self) -> float:
        """p95 TTFT with no other traffic (every term of ``at`` grows with the load): the
        rest of the decode step in progress (half a step), then the p95 prompt's own prefill,
        + the round trip."""
        s0, s1, capacity = self._service(0.0)
        p95 = self.lengths.input_p95
        own = s0 * math.ceil(p95 / capacity) + s1 * p95
        return self.decode_step_s(0.0) / 2 + own + self.network_rtt_s

    # --- latency at a load ----------------------------------------------------------------
    def _service(self, decode: float) -> tuple[float, float, float]:
        """(s0, s1, C): a prompt of I tokens holds the prefill steps for s0·k + s1·I seconds
        (the roofline line a mean prompt is on), with C = B − d tokens of budget per step."""
        capacity = self.budget - decode
        chunk = min(self.lengths.input_mean, capacity)
        lines = self.lines
        memory = (
            self._memory_fixed(decode + chunk) if self._moe else lines.memory_fixed_s
        ) + lines.memory_per_decode_s * decode
        compute = lines.compute_fixed_s + lines.compute_per_decode_s * decode
        if (
            memory + lines.memory_per_prefill_s * chunk
            >= compute + lines.compute_per_prefill_s * chunk
        ):
            return memory, lines.memory_per_prefill_s, capacity
        return compute, lines.compute_per_prefill_s, capacity

    def _prefill_load(self, rate: float, decode: float) -> float:
        if not math.isfinite(decode) or decode >= self.budget:
            return math.inf
        s0, s1, capacity = self._service(decode)
        return rate * (
            s0 * _chunks(self.lengths.input_mean, capacity) + s1 * self.lengths.input_mean
        )

    def at(self, rate: float) -> LoadPoint:
        """The replica at ``rate`` requests/s (inf latencies past saturation)."""
        return self.at_concurrency(self.steady_concurrency(rate), rate)

    def at_concurrency(self, d: float, rate: float | None = None) -> LoadPoint:
        """The replica with ``d`` sequences decoding on average (at ``rate_at(d)``).

        Prompts queue for the prefill steps as an M/G/1 queue (one prompt at a time: prompts
        sharing a step only shorten it, so this errs long): service ``S = s0·k + s1·I``, load
        ``ρ = λ·E[S]``, mean wait ``λ·E[S²] / (2(1 − ρ))``, p95 by the exponential tail; a
        prompt also waits for what is left of the decode step in progress: half a step
        (``t_d / 2``) on average, as Poisson arrivals land uniformly within steps.
        """
        lengths = self.lengths
        rate = self.rate_at(d) if rate is None else rate
        inf = math.inf
        if not math.isfinite(d) or d >= self.budget or not math.isfinite(rate):
            return LoadPoint(rate, inf, d, inf, 0.0, inf, inf, inf, inf, 0.0, inf, inf)
        tau = d / (rate * lengths.output_mean) if d > 0 and rate > 0 else self.decode_step_s(0)
        s0, s1, capacity = self._service(d)
        chunks = _chunks(lengths.input_mean, capacity)
        mean_service = s0 * chunks + s1 * lengths.input_mean
        second = (
            (s0 * chunks) ** 2
            + 2 * s0 * chunks * s1 * lengths.input_mean
            + (s1 * s1 * lengths.input_second_moment)
        )
        rho = rate * mean_service
        full = self.prefill_step_s(d, capacity)
        if rho >= 1:
            return LoadPoint(rate, tau, d, inf, capacity, full, rho, inf, inf, 0.0, inf, inf)
        mean_wait = rate * second / (2 * (1 - rho))
        wait = mean_wait / rho * math.log(rho / TTFT_QUANTILE_TAIL) if rho > 0.05 else 0.0
        p95 = lengths.input_p95
        own = s0 * math.ceil(p95 / capacity) + s1 * p95
        ttft = self.decode_step_s(d) / 2 + wait + own + self.network_rtt_s
        sat = self.saturation_rate()
        return LoadPoint(
            rate_per_s=rate,
            step_s=tau,
            decode_concurrency=d,
            concurrency_p999=d + CONCURRENCY_Z * math.sqrt(d),
            prefill_budget_tokens=capacity,
            full_step_s=full,
            prefill_load=rho,
            queue_wait_p95_s=wait,
            own_prefill_s=own,
            network_rtt_s=self.network_rtt_s,
            ttft_p95_s=ttft,
            utilization=rate / sat if sat > 0 else inf,
        )

    def _meets(self, point: LoadPoint, step_limit_s: float, ttft_limit_s: float) -> bool:
        return (
            point.utilization <= TARGET_UTILIZATION + 1e-12
            and point.decode_concurrency <= self._seqs_limit
            and point.step_s <= step_limit_s
            and point.ttft_p95_s <= ttft_limit_s
        )

    def _ttft_if_meets(self, d: float, step_limit_s: float, ttft_limit_s: float) -> float | None:
        """``at_concurrency(d)``'s p95 TTFT when that point meets every limit (``_meets``),
        else None: the same arithmetic, stopping at the first limit missed (the search's
        inner loop; tests check it agrees with ``_meets``)."""
        if d > self._seqs_limit or not math.isfinite(d) or d >= self.budget:
            return None
        lengths = self.lengths
        if self._moe is not None or d <= 0:
            rate = self.rate_at(d)
            s0, s1, capacity = self._service(d)
            decode_s = self.decode_step_s(d)
        else:  # dense, 0 < d < B: rate_at, _service and decode_step_s inlined (same sums)
            lines = self.lines
            capacity = self.budget - d
            chunk = min(lengths.input_mean, capacity)
            memory = lines.memory_fixed_s + lines.memory_per_decode_s * d
            compute = lines.compute_fixed_s + lines.compute_per_decode_s * d
            memory_step = memory + lines.memory_per_prefill_s * chunk
            compute_step = compute + lines.compute_per_prefill_s * chunk
            decode_s = max(memory, compute)
            k = _chunks(lengths.input_mean, capacity)
            per_request = lengths.output_mean / d
            if per_request < k:
                return None
            rate = 1 / (k * max(memory_step, compute_step) + (per_request - k) * decode_s)
            if memory_step >= compute_step:
                s0, s1 = memory, lines.memory_per_prefill_s
            else:
                s0, s1 = compute, lines.compute_per_prefill_s
        if not math.isfinite(rate):
            return None
        sat = self.saturation_rate()
        if not (rate / sat if sat > 0 else math.inf) <= TARGET_UTILIZATION + 1e-12:
            return None
        tau = d / (rate * lengths.output_mean) if d > 0 and rate > 0 else self.decode_step_s(0)
        if not tau <= step_limit_s:
            return None
        chunks = _chunks(lengths.input_mean, capacity)
        mean_service = s0 * chunks + s1 * lengths.input_mean
        rho = rate * mean_service
        if rho >= 1:
            return None
        second = (
            (s0 * chunks) ** 2
            + 2 * s0 * chunks * s1 * lengths.input_mean
            + (s1 * s1 * lengths.input_second_moment)
        )
        mean_wait = rate * second / (2 * (1 - rho))
        wait = mean_wait / rho * math.log(rho / TTFT_QUANTILE_TAIL) if rho > 0.05 else 0.0
        p95 = lengths.input_p95
        own = s0 * math.ceil(p95 / capacity) + s1 * p95
        ttft = decode_s / 2 + wait + own + self.network_rtt_s
        return ttft if ttft <= ttft_limit_s else None

    def operating_rate(
        self, *, step_limit_s: float, ttft_limit_s: float, ttft_cutoff_s: float = math.inf
    ) -> LoadPoint | Beyond | None:
        """The highest load meeting every limit — utilization ≤ TARGET_UTILIZATION, p99.9
        concurrency within max_num_seqs and the KV cache, mean step ≤ ``step_limit_s``, p95
        TTFT ≤ ``ttft_limit_s`` — by bisection on the concurrency (each grows with it); None
        when even a trickle of traffic misses them.

        ``ttft_cutoff_s``: the caller has no use for a point whose p95 TTFT is above it (a
        cheaper, faster option exists). As the p95 TTFT grows with the load, a load that meets
        the limits with a TTFT above the cutoff proves the operating point's is above it too;
        the search then stops and returns that ``Beyond``."""
        high = min(self._max_concurrency(), self._seqs_limit)
        if high <= 0 or self.saturation_rate() <= 0:
            return None
        top = self.at_concurrency(high)
        if self._meets(top, step_limit_s, ttft_limit_s):
            return top
        low = high * 1e-6
        ttft = self._ttft_if_meets(low, step_limit_s, ttft_limit_s)
        if ttft is None:
            return None
        if ttft > ttft_cutoff_s:
            return Beyond(ttft_floor_s=ttft)
        while high - low > 1e-4 * high:
            mid = (low + high) / 2
            ttft = self._ttft_if_meets(mid, step_limit_s, ttft_limit_s)
            if ttft is None:
                high = mid
                continue
            if ttft > ttft_cutoff_s:
                return Beyond(ttft_floor_s=ttft)
            low = mid
        return self.at_concurrency(low)


@dataclass(frozen=True)
class Beyond:
    """The operating point's p95 TTFT is above the search's cutoff: a load meeting the limits
    already gives ``ttft_floor_s`` (s), and TTFT grows with the load."""

    ttft_floor_s: float
