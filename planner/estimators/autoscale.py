"""SkyServe autoscaling: replicas per hour of day, replica-hours per month, scale-to-zero.

Modelled on SkyPilot 0.14.1's ``RequestRateAutoscaler`` (sky/serve/autoscalers.py), whose
constants are in sky/serve/constants.py:

- The load balancer reports request timestamps to the controller every 20 s
  (``LB_CONTROLLER_SYNC_INTERVAL_SECONDS``); the autoscaler keeps those of the last 60 s
  (``AUTOSCALER_QPS_WINDOW_SIZE_SECONDS``) and every 20 s
  (``AUTOSCALER_DEFAULT_DECISION_INTERVAL_SECONDS``; 5 s while the target is 0) computes the
  candidate ``clip(ceil(window requests / 60 / target_qps_per_replica), min, max)``.
- Hysteresis: the target rises to the candidate only after ``int(upscale_delay / 20)``
  consecutive decisions above it, and falls to it only after ``int(downscale_delay / 20)``
  consecutive decisions below it (defaults 300 s and 1,200 s); a target of 0 jumps at once.
- Each decision launches or terminates replicas to match the target; a replica is billed from
  its launch (provisioning, setup, the readiness probe) until it is terminated.

The estimate: traffic is a rate per hour of day (constant within the hour, an assumption).
The candidate is ceil(N / (60 · target)) with N ~ Poisson(60 · rate) the window's requests, so
it wanders around ceil(rate / target); since a rise takes 15 decisions in a row (about 5
independent windows) and a fall 60 (about 20), the target ratchets up to the top of that
wander and rarely comes down while the rate holds. Each hour gets a band (``_band``): the
level the target rises to, the highest level it stays at, and the level a move lands on, from
the waiting time for such runs of windows; the target then follows the bands with the
reaction times above (``_hysteresis``). With ``min_replicas == 0`` a replica exists only while
a request arrived within the keep-alive, so with Poisson arrivals the chance one is up is
``1 − exp(−requests expected in that span)``, and a request meets no ready replica with the
chance that none arrived early enough to have one ready. ``tests/planner/test_autoscale.py``
drives SkyPilot's own autoscaler with Poisson traces and compares; ``bench/autoscale_check.py``
prints the gaps over 23 traffic shapes (median 0.4 %, at most 7 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from planner.errors import PlannerError
from planner.estimators.terms import Term, num
from planner.types import HOURS_PER_MONTH, SECONDS_PER_MONTH

__all__ = [
    "DECISION_INTERVAL_S",
    "DEFAULT_DOWNSCALE_DELAY_S",
    "DEFAULT_UPSCALE_DELAY_S",
    "LB_SYNC_INTERVAL_S",
    "NO_REPLICA_DECISION_INTERVAL_S",
    "PROBE_INTERVAL_S",
    "QPS_WINDOW_S",
    "HourlyProfile",
    "ReplicaPlan",
    "replica_plan",
    "scale_to_zero_cold",
    "scale_to_zero_up",
]

# sky/serve/constants.py, SkyPilot 0.14.1 (tests/planner/test_autoscale.py checks them).
QPS_WINDOW_S = 60  # AUTOSCALER_QPS_WINDOW_SIZE_SECONDS
DECISION_INTERVAL_S = 20  # AUTOSCALER_DEFAULT_DECISION_INTERVAL_SECONDS
NO_REPLICA_DECISION_INTERVAL_S = 5  # AUTOSCALER_NO_REPLICA_DECISION_INTERVAL_SECONDS
LB_SYNC_INTERVAL_S = 20  # LB_CONTROLLER_SYNC_INTERVAL_SECONDS
PROBE_INTERVAL_S = 10  # DEFAULT_ENDPOINT_PROBE_INTERVAL_SECONDS (readiness probe period)
DEFAULT_UPSCALE_DELAY_S = 300  # AUTOSCALER_DEFAULT_UPSCALE_DELAY_SECONDS
DEFAULT_DOWNSCALE_DELAY_S = 1200  # AUTOSCALER_DEFAULT_DOWNSCALE_DELAY_SECONDS
LB_MAX_RETRY = 3  # LB_MAX_RETRY: tries before the load balancer answers 503

HOURS = 24
DAY_S = HOURS * 3600
E = "2.718281828"  # e, as formulas write exp(x) (the formula grammar has ^, not exp)
_SUBSTEPS = 12  # samples per hour when averaging the chance that a replica is up
_PEAK_HOUR = 14  # assumption: the busiest hour of the day starts at 14:00


class HourlyProfile(BaseModel):
    """How traffic spreads over the hours of a day: 24 relative weights with mean 1
    (weight 2 = twice the day's average rate in that hour). Traffic is assumed constant
    within each hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: tuple[float, ...] = Field(
        description="24 non-negative weights, hour 0 to 23, normalised to mean 1."
    )
    basis: str = Field(description="Where the shape comes from (measured, or an assumption).")

    @field_validator("weights")
    @classmethod
    def _normalise(cls, weights: tuple[float, ...]) -> tuple[float, ...]:
        if len(weights) != HOURS or any(not math.isfinite(w) or w < 0 for w in weights):
            raise ValueError("a profile is 24 finite non-negative weights")
        total = sum(weights)
        if total <= 0:
            raise ValueError("a profile needs at least one hour with traffic")
        return tuple(w * HOURS / total for w in weights)

    @classmethod
    def flat(cls) -> HourlyProfile:
        """The same rate every hour (peak = average)."""
        return cls(weights=(1.0,) * HOURS, basis="flat: the same rate every hour")

    @classmethod
    def from_peak_to_average(cls, ratio: float) -> HourlyProfile:
        """A one-peak day whose busiest hour carries ``ratio`` × the day's average rate.

        Assumption (labelled in ``basis``): the weight of hour h is ``((1 + cos(2π(h − 14)/24))
        / 2)^k``, a raised cosine peaking at 14:00 and quietest at 02:00, sharpened by the
        power ``k`` that makes the busiest hour's weight ``ratio`` × the mean (k = 0 is flat,
        k = 1 the plain raised cosine, peak/average ≈ 2). Ratios reach up to 24 (all traffic
        in one hour)."""
        if not 1.0 <= ratio < HOURS:
            raise PlannerError(
                f"a peak-to-average ratio of {ratio:g} cannot be spread over a day. "
                f"To fix: give a ratio from 1 (flat) to below {HOURS} (all traffic in one hour)."
            )
        return _peak_profile(cls, ratio)

    @classmethod
    def _peak_profile(cls, ratio: float) -> HourlyProfile:
        if ratio == 1.0:
            return cls.flat()
        lo, hi = 0.0, 1.0
        while _cosine_ratio(hi) < ratio:
            hi *= 2
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _cosine_ratio(mid) < ratio else (lo, mid)
        k = (lo + hi) / 2
        return cls(
            weights=_cosine_weights(k),
            basis=f"assumption: a one-peak day, weight of hour h = ((1 + cos(2π(h − "
            f"{_PEAK_HOUR})/24)) / 2)^{k:.3g}, busiest hour {ratio:g} × the average",
        )

    @classmethod
    def from_traffic(
        cls, *, requests_per_month: float, peak_requests_per_s: float
    ) -> HourlyProfile:
        """The one-peak day (``from_peak_to_average``) whose busiest hour runs at the peak
        rate, given the month's requests (730-hour month)."""
        average = requests_per_month / SECONDS_PER_MONTH
        return cls.from_peak_to_average(max(1.0, peak_requests_per_s / average))


@lru_cache(maxsize=512)
def _cosine_weights(k: float) -> tuple[float, ...]:
    raw = [((1 + math.cos(2 * math.pi * (h - _PEAK_HOUR) / HOURS)) / 2) ** k for h in range(HOURS)]
    total = sum(raw)
    return tuple(w * HOURS / total for w in raw)


@lru_cache(maxsize=64)
def _peak_profile(cls: type[HourlyProfile], ratio: float) -> HourlyProfile:
    """``from_peak_to_average``'s bisection, once per ratio (profiles are frozen)."""
    return cls._peak_profile(ratio)


def _cosine_ratio(k: float) -> float:
    return max(_cosine_weights(k))


class ReplicaPlan(BaseModel):
    """The replicas SkyServe's request-rate autoscaler keeps over a day, and what they bill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean_requests_per_s: float = Field(description="The day's average arrival rate, requests/s.")
    min_replicas: int = Field(description="replica_policy.min_replicas (0: scale to zero).")
    max_replicas: int = Field(description="replica_policy.max_replicas.")
    target_qps_per_replica: float = Field(
        description="replica_policy.target_qps_per_replica: requests/s one replica sustains "
        "at the planned utilisation."
    )
    needed_by_hour: tuple[int, ...] = Field(
        description="Replicas each hour's rate asks for: clip(ceil(rate / target), min, max)."
    )
    replicas_by_hour: tuple[float, ...] = Field(
        description="Expected replicas up in each hour (hysteresis and scale-to-zero included)."
    )
    peak_replicas: int = Field(description="Most replicas any hour asks for (within max).")
    hours_over_max: int = Field(
        description="Hours whose rate needs more replicas than max_replicas (they queue)."
    )
    replica_hours_per_month: float = Field(description="Replica-hours billed in 730 hours.")
    up_fraction: float = Field(description="Share of time with at least one replica up.")
    p_cold_start: float = Field(
        description="Chance a request finds no ready replica (0 unless min_replicas is 0)."
    )
    cold_start_ttft_s: float = Field(
        description="Time to first token of a request that meets a cold service and retries "
        "until served, s."
    )
    _build_terms: Callable[[], tuple[Term, ...]] | None = PrivateAttr(default=None)

    @property
    def terms(self) -> tuple[Term, ...]:
        """Each number with its formula (built when first asked: a search prices many plans
        and shows few)."""
        return self._build_terms() if self._build_terms is not None else ()


_LAG = QPS_WINDOW_S / 2 + LB_SYNC_INTERVAL_S / 2 + DECISION_INTERVAL_S / 2
"""Seconds from a change of rate to the first decision that counts it: half the QPS window to
fill, half the report interval, half the decision interval (assumption: phases uniform)."""


class _Timing(NamedTuple):
    """The autoscaler's reaction times (numbers only); phases taken at their means."""

    up_decisions: int
    down_decisions: int

    @property
    def up_s(self) -> float:
        return _LAG + (self.up_decisions - 1) * DECISION_INTERVAL_S

    @property
    def down_s(self) -> float:
        return _LAG + (self.down_decisions - 1) * DECISION_INTERVAL_S

    @property
    def keepalive_s(self) -> float:
        """Last request to last replica gone: the window empties at a report, the next
        decision starts the downscale counter."""
        tail = LB_SYNC_INTERVAL_S / 2 + DECISION_INTERVAL_S / 2
        return QPS_WINDOW_S + tail + (self.down_decisions - 1) * DECISION_INTERVAL_S

    @property
    def launch_lag_s(self) -> float:
        """A request at 0 replicas to the launch: next report, next 5 s decision."""
        return LB_SYNC_INTERVAL_S / 2 + NO_REPLICA_DECISION_INTERVAL_S / 2

    @property
    def discovery_s(self) -> float:
        """Ready to known ready by the load balancer: next probe, next report."""
        return PROBE_INTERVAL_S / 2 + LB_SYNC_INTERVAL_S / 2


def _timing(upscale_delay_s: float, downscale_delay_s: float) -> _Timing:
    """Consecutive decisions each counter needs: int(delay / 20), at least one
    (``_AutoscalerWithHysteresis._setup_thresholds``; a threshold of 0 acts on the first)."""
    return _Timing(
        max(int(upscale_delay_s / DECISION_INTERVAL_S), 1),
        max(int(downscale_delay_s / DECISION_INTERVAL_S), 1),
    )


def _needed(rate: float, target: float, lo: int, hi: int) -> int:
    """SkyPilot's candidate: clip(ceil(rate / target), lo, hi); 1e-9 absorbs float noise."""
    return max(lo, min(hi, math.ceil(rate / target - 1e-9)))


def _poisson_cdf(k: float, mean: float) -> float:
    """P(N ≤ k) for N ~ Poisson(mean): P(χ² with 2(⌊k⌋+1) degrees > 2·mean), by the
    Wilson-Hilferty approximation (within ~0.01 of the exact value, O(1) for any mean)."""
    if k < 0:
        return 0.0
    if mean <= 0:
        return 1.0
    dof = 2 * (math.floor(k + 1e-9) + 1)
    spread = 2 / (9 * dof)
    z = ((2 * mean / dof) ** (1 / 3) - (1 - spread)) / math.sqrt(spread)
    return 0.5 * math.erfc(z / math.sqrt(2))


@lru_cache(maxsize=256)
def _run_chance(runs: float, hold_s: float) -> float:
    """The per-window chance p at which a run of ``runs`` windows in a row, each past a
    threshold, is expected once in ``hold_s``: W·(1 − p^k) / ((1 − p)·p^k) = hold_s (the mean
    waiting time for k successes in a row)."""
    lo, hi = 1e-9, 1 - 1e-9
    for _ in range(60):
        p = (lo + hi) / 2
        wait = QPS_WINDOW_S * (1 - p**runs) / ((1 - p) * p**runs)
        lo, hi = (p, hi) if wait > hold_s else (lo, p)
    return (lo + hi) / 2


@lru_cache(maxsize=8192)
def _band(
    rate: float, per: float, lo: int, hi: int, timing: _Timing, hold_s: float
) -> tuple[int, int, float]:
    """(least level the target rises to, highest level it stays at, the expected level a move
    lands on) under one rate held for ``hold_s``.

    The candidate is ceil(N / (W · per)) with N ~ Poisson(W · rate) the window's requests, so
    it wanders; a rise needs the upscale counter's decisions (a fall the downscale
    counter's) in a row. Assumption: windows W apart are independent trials, so a move needs
    decisions × 20 s / W of them in a row, at least one. The target rises to the least n the
    candidate does not pass often enough to climb above within the hold, and stays anywhere
    up to the least n it falls to often enough to come down to. A move lands on the
    candidate of that moment, kept within the two."""
    mean = QPS_WINDOW_S * rate
    windows = DECISION_INTERVAL_S / QPS_WINDOW_S
    up = _run_chance(max(timing.up_decisions * windows, 1.0), hold_s)
    down = _run_chance(max(timing.down_decisions * windows, 1.0), hold_s)
    rise = next(
        (n for n in range(lo, hi) if 1 - _poisson_cdf(QPS_WINDOW_S * per * n, mean) < up), hi
    )
    stay = next(
        (n for n in range(rise, hi) if _poisson_cdf(QPS_WINDOW_S * per * n, mean) >= down), hi
    )
    above = (1 - _poisson_cdf(QPS_WINDOW_S * per * n, mean) for n in range(rise, stay))
    return rise, stay, rise + sum(above)


def _bands(
    rates: Sequence[float], per: float, lo: int, hi: int, timing: _Timing
) -> list[tuple[int, int, float]]:
    """Each hour's ``_band``, the hold being the run of neighbouring hours with the same
    one-hour band (assumption), or the whole month when every hour has it."""
    hourly = [_band(r, per, lo, hi, timing, 3600) for r in rates]
    if all(band == hourly[0] for band in hourly):
        month = HOURS_PER_MONTH * 3600
        return [_band(r, per, lo, hi, timing, month) for r in rates]
    bands = []
    for h in range(HOURS):
        after = next(d for d in range(1, HOURS) if hourly[(h + d) % HOURS] != hourly[h]) - 1
        before = next(d for d in range(1, HOURS) if hourly[(h - d) % HOURS] != hourly[h]) - 1
        bands.append(_band(rates[h], per, lo, hi, timing, (1 + after + before) * 3600))
    return bands


def _hysteresis(
    bands: Sequence[tuple[int, int, float]], up_s: float, down_s: float
) -> list[tuple[float, float]]:
    """(time, replicas) change points of the last of three repeated days, times in [0, DAY_S).

    As ``_set_target_num_replicas_with_hysteresis``: the target rises once the candidate has
    been above it for ``up_s`` and falls once below it for ``down_s`` (a counter restarts
    when the comparison flips), from 0 at once. Each hour's candidate is its ``_band``: above
    the target when the band's low end is, below when the band's high end is."""
    t, target, since, sign = 0.0, bands[0][2], 0.0, 0
    points: list[tuple[float, float]] = []
    while t < 3 * DAY_S:
        rise, stay, level = bands[int(t // 3600) % HOURS]
        now = 1 if rise > target + 1e-9 else -1 if stay < target - 1e-9 else 0
        if now != sign:
            sign, since = now, t
        trigger = since + (up_s if sign > 0 else down_s)
        if sign and (target == 0 or trigger <= t):
            target, sign = level, 0
            continue
        if t >= 2 * DAY_S:
            points.append((t - 2 * DAY_S, target))
        boundary = (t // 3600 + 1) * 3600
        t = min(boundary, trigger) if sign else boundary
    return points


@lru_cache(maxsize=1024)
def _change_points(
    rates: tuple[float, ...], per: float, floor: int, hi: int, timing: _Timing
) -> tuple[tuple[float, float], ...]:
    """``_hysteresis`` of the hours' ``_bands``: the same for a setup's warm plan and its
    scale-to-zero plan (both floor the target at one replica), so computed once."""
    return tuple(_hysteresis(_bands(rates, per, floor, hi, timing), timing.up_s, timing.down_s))


def _expected_in(rates: Sequence[float], start_s: float, end_s: float) -> float:
    """Requests expected in [start_s, end_s) of the repeating day (hourly constant rates)."""
    total, t = 0.0, start_s
    while t < end_s:
        step = min(end_s, (math.floor(t / 3600) + 1) * 3600)
        total += rates[int(t // 3600) % HOURS] * (step - t)
        t = step
    return total


def _sample_times() -> tuple[tuple[float, ...], ...]:
    """Per hour of the second day, the _SUBSTEPS mid-points at which chances are sampled."""
    return tuple(
        tuple((h + (i + 0.5) / _SUBSTEPS) * 3600 + DAY_S for i in range(_SUBSTEPS))
        for h in range(HOURS)
    )


_SAMPLE_TIMES = _sample_times()
_FIRST_DAY_TIMES = tuple(tuple(t - DAY_S for t in ts) for ts in _SAMPLE_TIMES)
"""_SAMPLE_TIMES a day earlier: where in the day's change points each sample falls."""


@lru_cache(maxsize=256)
def _up_chances(rates: tuple[float, ...], timing: _Timing) -> tuple[tuple[float, ...], ...]:
    """Scale to zero, per hour and sample: the chance a replica is up (a request came in
    [t − keep-alive, t − launch lag]); the same for every replica setup of one traffic."""
    return tuple(
        tuple(
            1 - math.exp(-_expected_in(rates, t - timing.keepalive_s, t - timing.launch_lag_s))
            for t in ts
        )
        for ts in _SAMPLE_TIMES
    )


@lru_cache(maxsize=1024)
def _cold_chances(
    rates: tuple[float, ...], timing: _Timing, cold_wait_s: float
) -> tuple[float, ...]:
    """Scale to zero, per hour: the chance a request meets no ready replica (none came in
    [t − keep-alive, t − cold wait]), averaged over the hour's samples."""
    if cold_wait_s >= timing.keepalive_s:
        return (1.0,) * HOURS
    return tuple(
        sum(math.exp(-_expected_in(rates, t - timing.keepalive_s, t - cold_wait_s)) for t in ts)
        / _SUBSTEPS
        for ts in _SAMPLE_TIMES
    )


def _by_hour(
    rates: Sequence[float], points: list[tuple[float, float]], timing: _Timing, cold_wait_s: float
) -> tuple[list[float], list[float], list[float]]:
    """Per hour: mean replicas, share of time up, chance a request meets no ready replica.

    Scale to zero: up at t iff a request came in [t − keep-alive, t − launch lag]; ready at t
    for the load balancer iff one came in [t − keep-alive, t − cold wait] (Poisson)."""
    key = tuple(rates)
    chances = _up_chances(key, timing)
    # the sample times rise, so the change point in force at each is found by walking the
    # points once (what bisect_right(starts, t − DAY_S) − 1 gives, -1 included)
    starts = [start for start, _ in points] + [math.inf]
    replicas = []
    j = -1
    level = points[-1][1]
    following = starts[0]
    for ts, p_up in zip(_FIRST_DAY_TIMES, chances, strict=True):
        total = 0.0
        for t, p in zip(ts, p_up, strict=True):
            if following <= t:
                while starts[j + 1] <= t:
                    j += 1
                level, following = points[j][1], starts[j + 1]
            total += p * level
        replicas.append(total / _SUBSTEPS)
    return replicas, list(_up_shares(key, timing)), list(_cold_chances(key, timing, cold_wait_s))


@lru_cache(maxsize=256)
def _up_shares(rates: tuple[float, ...], timing: _Timing) -> tuple[float, ...]:
    """Scale to zero, per hour: the share of the hour's samples a replica is up."""
    return tuple(sum(p_up) / _SUBSTEPS for p_up in _up_chances(rates, timing))


@lru_cache(maxsize=64)
def scale_to_zero_up(
    profile: HourlyProfile,
    requests_per_month: float,
    upscale_delay_s: float = DEFAULT_UPSCALE_DELAY_S,
    downscale_delay_s: float = DEFAULT_DOWNSCALE_DELAY_S,
) -> tuple[float, float]:
    """Scale to zero: (the least, the mean) chance over the day's samples that a replica is
    up. Every up replica counts at least one, so a scale-to-zero plan bills at least the mean
    × the month's hours, and at least the least × what the same autoscaler bills with one
    replica kept (both floor the target at 1)."""
    mean = requests_per_month / SECONDS_PER_MONTH
    rates = tuple(mean * w for w in profile.weights)
    chances = _up_chances(rates, _timing(upscale_delay_s, downscale_delay_s))
    samples = [p for hour in chances for p in hour]
    return min(samples), sum(samples) / len(samples)


@lru_cache(maxsize=1024)
def scale_to_zero_cold(
    profile: HourlyProfile,
    requests_per_month: float,
    cold_start_s: float,
    upscale_delay_s: float = DEFAULT_UPSCALE_DELAY_S,
    downscale_delay_s: float = DEFAULT_DOWNSCALE_DELAY_S,
) -> tuple[float, float]:
    """Scale to zero: (the chance a request meets no ready replica, the wait of one that
    does, s) — ``replica_plan``'s p_cold_start and cold wait, which depend on the traffic
    and the cold start only, not on the replica's capacity."""
    mean = requests_per_month / SECONDS_PER_MONTH
    rates = tuple(mean * w for w in profile.weights)
    timing = _timing(upscale_delay_s, downscale_delay_s)
    wait = timing.launch_lag_s + cold_start_s + timing.discovery_s
    cold = _cold_chances(rates, timing, wait)
    weighted = sum(w * c for w, c in zip(profile.weights, cold, strict=True)) / HOURS
    return min(1.0, weighted), wait


class _Numbers(NamedTuple):
    """What ``replica_plan`` computed, for its terms (numbers only)."""

    mean: float
    rates: list[float]
    wanted: list[int]
    replicas: list[float]
    up: list[float]
    cold: list[float]
    weights: tuple[float, ...]
    over: int
    cold_wait: float

    @property
    def p_cold(self) -> float:
        """Chance per request: each hour's chance weighted by its share of the requests."""
        weighted = sum(w * c for w, c in zip(self.weights, self.cold, strict=True)) / HOURS
        return min(1.0, weighted)  # the weights average 1; min() absorbs their rounding


def _hour_means(points: list[tuple[float, float]]) -> list[float]:
    """Mean of the piecewise-constant replica count over each hour of the day."""
    ends = [start for start, _ in points[1:]] + [float(DAY_S)]
    means = [0.0] * HOURS
    for (start, replicas), end in zip(points, ends, strict=True):
        t = start
        while t < end:
            step = min(end, (math.floor(t / 3600) + 1) * 3600)
            means[int(t // 3600)] += replicas * (step - t) / 3600
            t = step
    return means


def _mean_rate(
    profile: HourlyProfile, requests_per_month: float | None, peak_requests_per_s: float | None
) -> tuple[float, str, str]:
    """(mean requests/s, its formula, its basis) from exactly one of the two traffic figures."""
    if (requests_per_month is None) == (peak_requests_per_s is None):
        raise PlannerError(
            "replica_plan needs the traffic as one figure. To fix: pass exactly one of "
            "requests_per_month and peak_requests_per_s (the profile gives the shape)."
        )
    if requests_per_month is not None:
        if not requests_per_month >= 0:
            raise PlannerError("requests_per_month must be ≥ 0. To fix: give a count.")
        return (
            requests_per_month / SECONDS_PER_MONTH,
            f"{num(requests_per_month)} / {SECONDS_PER_MONTH:,}",
            f"requests per month over the {HOURS_PER_MONTH}-hour month's seconds",
        )
    assert peak_requests_per_s is not None
    if not peak_requests_per_s >= 0:
        raise PlannerError("peak_requests_per_s must be ≥ 0. To fix: give a rate.")
    top = max(profile.weights)
    return (
        peak_requests_per_s / top,
        f"{num(peak_requests_per_s)} / {num(top)}",
        f"peak requests/s over the busiest hour's weight ({profile.basis})",
    )


def _check_policy(rate_per_replica: float, min_replicas: int, max_replicas: int) -> None:
    if not rate_per_replica > 0:
        raise PlannerError(
            f"target_qps_per_replica is {rate_per_replica!r}; the autoscaler divides by it. "
            "To fix: give the requests/s one replica sustains, above 0."
        )
    if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
        raise PlannerError(
            f"min_replicas {min_replicas}, max_replicas {max_replicas}: SkyServe needs "
            "0 ≤ min_replicas ≤ max_replicas (service_spec.py) and a replica to serve. "
            "To fix: set max_replicas ≥ max(min_replicas, 1)."
        )


def replica_plan(
    *,
    profile: HourlyProfile,
    rate_per_replica: float,
    min_replicas: int,
    max_replicas: int,
    cold_start_s: float,
    ttft_s: float,
    requests_per_month: float | None = None,
    peak_requests_per_s: float | None = None,
    upscale_delay_s: float = DEFAULT_UPSCALE_DELAY_S,
    downscale_delay_s: float = DEFAULT_DOWNSCALE_DELAY_S,
) -> ReplicaPlan:
    """Replicas SkyServe keeps per hour of day and the replica-hours a 730-hour month bills.

    ``rate_per_replica``: requests/s one replica sustains at the planned utilisation (the
    service's ``target_qps_per_replica``). Traffic: exactly one of ``requests_per_month`` and
    ``peak_requests_per_s`` (the rate of the profile's busiest hour). ``cold_start_s``: launch
    to ready of a fresh replica (provisioning + setup + engine start to the first passing
    readiness probe); ``ttft_s``: time to first token on a warm replica."""
    _check_policy(rate_per_replica, min_replicas, max_replicas)
    mean, mean_formula, mean_basis = _mean_rate(profile, requests_per_month, peak_requests_per_s)
    rates = [mean * w for w in profile.weights]
    timing = _timing(upscale_delay_s, downscale_delay_s)
    wanted = [_needed(r, rate_per_replica, min_replicas, max_replicas) for r in rates]
    floor = max(min_replicas, 1)  # scale to zero: one replica while up, see _by_hour
    points = list(_change_points(tuple(rates), rate_per_replica, floor, max_replicas, timing))
    cold_wait = timing.launch_lag_s + cold_start_s + timing.discovery_s
    if min_replicas == 0:
        replicas, up, cold = _by_hour(rates, points, timing, cold_wait)
    else:
        replicas, up, cold = _hour_means(points), [1.0] * HOURS, [0.0] * HOURS
    plan = _Numbers(
        mean=mean,
        rates=rates,
        wanted=wanted,
        replicas=replicas,
        up=up,
        cold=cold,
        weights=profile.weights,
        over=sum(math.ceil(r / rate_per_replica - 1e-9) > max_replicas for r in rates),
        cold_wait=cold_wait,
    )
    result = ReplicaPlan(
        mean_requests_per_s=mean,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_qps_per_replica=rate_per_replica,
        needed_by_hour=tuple(wanted),
        replicas_by_hour=tuple(replicas),
        peak_replicas=max(wanted),
        hours_over_max=plan.over,
        replica_hours_per_month=sum(replicas) * HOURS_PER_MONTH / HOURS,
        up_fraction=sum(up) / HOURS,
        p_cold_start=plan.p_cold,
        cold_start_ttft_s=cold_wait + ttft_s,
    )
    result._build_terms = lambda: _terms(
        plan,
        timing,
        rate_per_replica=rate_per_replica,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cold_start_s=cold_start_s,
        ttft_s=ttft_s,
        mean_formula=mean_formula,
        mean_basis=mean_basis,
    )
    return result


def _listed(values: Sequence[float]) -> str:
    return " + ".join(num(v) for v in values)


def _weighted(weights: Sequence[float], values: Sequence[float]) -> str:
    return " + ".join(f"{num(w)} × {num(v)}" for w, v in zip(weights, values, strict=True))


def _terms(
    n: _Numbers,
    timing: _Timing,
    *,
    rate_per_replica: float,
    min_replicas: int,
    max_replicas: int,
    cold_start_s: float,
    ttft_s: float,
    mean_formula: str,
    mean_basis: str,
) -> tuple[Term, ...]:
    """The plan's terms, from the numbers ``replica_plan`` computed."""
    top = max(range(HOURS), key=lambda h: n.rates[h])
    zero = min_replicas == 0
    terms = [
        Term(
            name="serve.min_replicas",
            value=min_replicas,
            unit="replicas",
            formula=f"{min_replicas}",
            basis="replica_policy.min_replicas"
            + (" = 0: scale to zero (SkyPilot's schema allows minimum 0)" if zero else ""),
        ),
        Term(
            name="serve.max_replicas",
            value=max_replicas,
            unit="replicas",
            formula=f"{max_replicas}",
            basis="replica_policy.max_replicas"
            + (f"; {n.over} hour(s) need more and queue" if n.over else ""),
        ),
        Term(
            name="serve.mean_requests_per_s",
            value=n.mean,
            unit="requests/s",
            formula=mean_formula,
            basis=mean_basis,
        ),
        Term(
            name="serve.peak_replicas",
            value=n.wanted[top],
            unit="replicas",
            formula=f"max({min_replicas}, min({max_replicas}, ceil({num(n.rates[top])} / "
            f"{num(rate_per_replica)})))",
            basis="the busiest hour's rate over target_qps_per_replica, rounded up and clipped "
            "to [min, max] as RequestRateAutoscaler._calculate_target_num_replicas does",
        ),
        Term(
            name="serve.upscale_reaction_s",
            value=timing.up_s,
            unit="s",
            formula=f"{QPS_WINDOW_S} / 2 + {LB_SYNC_INTERVAL_S} / 2 + {DECISION_INTERVAL_S} / 2 "
            f"+ ({timing.up_decisions} − 1) × {DECISION_INTERVAL_S}",
            basis=_REACTION_BASIS.format(what="upscale"),
        ),
        Term(
            name="serve.downscale_reaction_s",
            value=timing.down_s,
            unit="s",
            formula=f"{QPS_WINDOW_S} / 2 + {LB_SYNC_INTERVAL_S} / 2 + {DECISION_INTERVAL_S} / 2 "
            f"+ ({timing.down_decisions} − 1) × {DECISION_INTERVAL_S}",
            basis=_REACTION_BASIS.format(what="downscale"),
        ),
        Term(
            name="serve.replica_hours_per_month",
            value=sum(n.replicas) * HOURS_PER_MONTH / HOURS,
            unit="replica-hours",
            formula=f"({_listed(n.replicas)}) × {HOURS_PER_MONTH} / {HOURS}",
            basis="expected replicas up in each hour 0-23 (each hour's candidate clip(ceil(rate "
            "/ target), min, max), held by the hysteresis: a rise lands after the upscale "
            "reaction, a fall after the downscale reaction"
            + (", × the chance a replica is up" if zero else "")
            + f"), the day repeated over {HOURS_PER_MONTH} hours. A replica bills from launch "
            "to termination; the minutes a cluster takes to tear down are not counted",
        ),
    ]
    return tuple(terms) + (_zero_terms(n, timing, cold_start_s, ttft_s) if zero else ())


_REACTION_BASIS = (
    "seconds from a change of rate to the new target: half the 60 s QPS window to fill, half "
    "the 20 s load-balancer report interval, half the 20 s decision interval to the first "
    "decision that counts, then int({what}_delay / 20) − 1 more decisions "
    "(sky/serve/autoscalers.py _set_target_num_replicas_with_hysteresis). Assumption: phases "
    "uniform, taken at their means"
)


def _zero_terms(
    n: _Numbers, timing: _Timing, cold_start_s: float, ttft_s: float
) -> tuple[Term, ...]:
    """Scale-to-zero terms: keep-alive, time up, cold-start chance and wait."""
    return (
        Term(
            name="serve.idle_keepalive_s",
            value=timing.keepalive_s,
            unit="s",
            formula=f"{QPS_WINDOW_S} + {LB_SYNC_INTERVAL_S} / 2 + {DECISION_INTERVAL_S} / 2 + "
            f"({timing.down_decisions} − 1) × {DECISION_INTERVAL_S}",
            basis="seconds the last replica outlives the last request: the 60 s QPS window "
            "empties at a load-balancer report (every 20 s), the next decision (every 20 s) "
            "starts the downscale counter, int(downscale_delay / 20) − 1 more decisions end it",
        ),
        Term(
            name="serve.up_fraction",
            value=sum(n.up) / HOURS,
            unit="fraction",
            formula=f"({_listed(n.up)}) / {HOURS}",
            basis="each hour's mean chance that a replica is up: 1 − exp(−requests expected "
            f"in [t − {num(timing.keepalive_s)} s, t − {num(timing.launch_lag_s)} s]) "
            "(Poisson arrivals; a replica launches after the launch lag, lives until the "
            "keep-alive passes without a request)",
        ),
        Term(
            name="serve.p_cold_start",
            value=n.p_cold,
            unit="fraction",
            formula=f"({_weighted(n.weights, n.cold)}) / {HOURS}",
            basis="per hour, the chance no request came in [t − keep-alive, t − cold wait] "
            "(then no replica is ready: exp(−requests expected there)), weighted by the hour's "
            "share of the requests",
        ),
        Term(
            name="serve.cold_start_ttft_s",
            value=n.cold_wait + ttft_s,
            unit="s",
            formula=f"{LB_SYNC_INTERVAL_S} / 2 + {NO_REPLICA_DECISION_INTERVAL_S} / 2 + "
            f"{num(cold_start_s)} + {PROBE_INTERVAL_S} / 2 + {LB_SYNC_INTERVAL_S} / 2 + "
            f"{num(ttft_s)}",
            basis="the request reaches the controller at the next load-balancer report, the "
            "next decision (every 5 s at 0 replicas) launches a replica, which is ready after "
            "the cold start, passes the next readiness probe (every 10 s) and reaches the load "
            "balancer at its next report; then the warm TTFT. Meanwhile the load balancer "
            f"answers 503 'No ready replicas' after {LB_MAX_RETRY} tries, so this is the wait "
            "of a client that retries until served",
        ),
    )
