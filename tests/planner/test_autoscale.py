"""planner.estimators.autoscale against SkyPilot's own RequestRateAutoscaler.

``simulate`` drives SkyPilot 0.14.1's real autoscaler (built by ``Autoscaler.from_spec`` from a
``SkyServiceSpec`` parsed from a service YAML section) the way its controller and load balancer
do (sky/serve/controller.py ``_run_autoscaler``, sky/serve/load_balancer.py): Poisson requests
following the hourly profile; every 20 s the load balancer reports their timestamps
(``collect_request_information``) and learns which replicas are ready; every decision interval
(``get_decision_interval``: 20 s, 5 s at 0 replicas) ``generate_scaling_decisions`` gets the
replicas and its SCALE_UP / SCALE_DOWN decisions are applied: a launched replica is
PROVISIONING, turns READY at the first 10 s readiness probe after its cold start, and bills
from launch to termination. The only fake is the clock the autoscaler reads (``time.time`` in
sky/serve/autoscalers.py), which follows the simulated time. Nothing of the autoscaler's logic
is reimplemented here.

Gaps measured (``bench/autoscale_check.py`` prints them, more seeds): see the tolerances below.
"""

from __future__ import annotations

import logging
import math
import random
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.estimators import autoscale
from planner.estimators.autoscale import HourlyProfile, ReplicaPlan, replica_plan
from planner.estimators.terms import evaluate_formula
from planner.types import HOURS_PER_MONTH, SECONDS_PER_MONTH

HOUR_S = 3600
DAY_S = 24 * HOUR_S
COLD_START_S = 300.0
pytestmark = [
    # Importing sky.serve warns twice, both in third-party code at import time: SkyPilot
    # 0.14.1's state modules (sky/serve/serve_state.py, sky/global_user_state.py, ...) call
    # sqlalchemy's declarative_base(), deprecated in SQLAlchemy 2.0; and passlib, which
    # sky imports, imports the `crypt` module, deprecated in Python 3.11.
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.MovedIn20Warning"),
    pytest.mark.filterwarnings("ignore:'crypt' is deprecated:DeprecationWarning"),
]
TOLERANCE = 0.15  # replica-hours, model vs SkyPilot's autoscaler on one Poisson trace


@dataclass(frozen=True)
class Simulated:
    """What one run of SkyPilot's autoscaler billed and served (after the warm-up)."""

    replica_hours: float
    hours: float
    requests: int
    cold_requests: int
    up_hours: float
    replicas_by_hour: tuple[float, ...]

    @property
    def replica_hours_per_month(self) -> float:
        return self.replica_hours * HOURS_PER_MONTH / self.hours

    @property
    def p_cold(self) -> float:
        return self.cold_requests / max(self.requests, 1)

    @property
    def up_fraction(self) -> float:
        return self.up_hours / self.hours


def poisson_arrivals(rates: Sequence[float], hours: int, rng: random.Random) -> Iterator[float]:
    """Arrival times of a Poisson process whose rate is ``rates[hour % 24]`` in each hour."""
    for hour in range(hours):
        rate, t = rates[hour % 24], float(hour * HOUR_S)
        if rate <= 0:
            continue
        while (t := t + rng.expovariate(rate)) < (hour + 1) * HOUR_S:
            yield t


def simulate(
    rates: Sequence[float],
    *,
    rate_per_replica: float,
    min_replicas: int,
    max_replicas: int,
    hours: int,
    warmup_hours: int = 24,
    cold_start_s: float = COLD_START_S,
    seed: int = 0,
) -> Simulated:
    """Run SkyPilot's RequestRateAutoscaler over ``warmup_hours + hours`` of Poisson traffic."""
    from sky import sky_logging
    from sky.serve import autoscalers, constants, replica_managers, service_spec
    from sky.utils import common_utils

    spec = service_spec.SkyServiceSpec.from_yaml_config(
        {
            "readiness_probe": "/",
            "replica_policy": {
                "min_replicas": min_replicas,
                "max_replicas": max_replicas,
                "target_qps_per_replica": rate_per_replica,
            },
        }
    )
    scaler = autoscalers.Autoscaler.from_spec("sim", spec)
    assert type(scaler) is autoscalers.RequestRateAutoscaler
    clock = types.SimpleNamespace(now=0.0)
    real_time = autoscalers.time
    autoscalers.time = types.SimpleNamespace(time=lambda: clock.now)  # type: ignore[assignment]
    try:
        with sky_logging.set_sky_logging_levels(logging.WARNING):
            return _run(
                _Engine(
                    scaler,
                    replica_managers,
                    common_utils.ProcessStatus,
                    cold_start_s=cold_start_s,
                ),
                clock,
                poisson_arrivals(rates, warmup_hours + hours, random.Random(seed)),
                start=warmup_hours * HOUR_S,
                end=(warmup_hours + hours) * HOUR_S,
                sync_s=constants.LB_CONTROLLER_SYNC_INTERVAL_SECONDS,
                probe_s=constants.DEFAULT_ENDPOINT_PROBE_INTERVAL_SECONDS,
            )
    finally:
        autoscalers.time = real_time


class _Engine:
    """The controller's and load balancer's view of the replicas, stepped event by event."""

    def __init__(self, scaler, replica_managers, status, *, cold_start_s: float) -> None:
        self.scaler, self.managers, self.status = scaler, replica_managers, status
        self.cold_start_s = cold_start_s
        self.alive: dict[int, object] = {}
        self.launched: dict[int, float] = {}
        self.known_ready: set[int] = set()
        self.pending: list[float] = []
        self.next_id = 1

    def probe(self, now: float) -> None:
        """Readiness probe: a replica past its cold start turns READY."""
        for rid, info in self.alive.items():
            prop = info.status_property  # type: ignore[attr-defined]
            if not prop.service_ready_now and now >= self.launched[rid] + self.cold_start_s:
                prop.sky_launch_status = self.status.SUCCEEDED
                prop.service_ready_now, prop.first_ready_time = True, now

    def sync(self) -> None:
        """Load balancer → controller: request timestamps; controller → LB: ready replicas."""
        self.scaler.collect_request_information({"timestamps": self.pending})
        self.pending = []
        self.known_ready = {r for r, i in self.alive.items() if i.is_ready}  # type: ignore[attr-defined]

    def decide(self, now: float) -> float:
        """One autoscaler decision applied; returns the next decision interval."""
        ready = [1] if any(i.is_ready for i in self.alive.values()) else []  # type: ignore[attr-defined]
        for d in self.scaler.generate_scaling_decisions(list(self.alive.values()), ready):
            if d.operator.value == "scale_up":
                info = self.managers.ReplicaInfo(
                    self.next_id, f"sim-{self.next_id}", "8080", False, None, 1, None
                )
                info.status_property.sky_launch_status = self.status.RUNNING
                self.alive[self.next_id], self.launched[self.next_id] = info, now
                self.next_id += 1
            else:
                self.alive.pop(d.target)
        return float(self.scaler.get_decision_interval())


def _run(
    engine: _Engine, clock, arrivals, *, start: float, end: float, sync_s: float, probe_s: float
) -> Simulated:
    totals = {"replica_s": 0.0, "up_s": 0.0, "requests": 0, "cold": 0}
    by_hour = [0.0] * 24  # replica-seconds per hour of day (events fall on hour boundaries)
    next_decision, next_sync, next_probe, t = 0.0, 5.0, 0.0, 0.0
    arrival = next(arrivals, math.inf)
    while t < end:
        now = min(next_decision, next_sync, next_probe, end)
        while arrival <= now:  # requests between events meet the load balancer's view
            engine.pending.append(arrival)
            if arrival >= start:
                totals["requests"] += 1
                totals["cold"] += not (engine.known_ready & engine.alive.keys())
            arrival = next(arrivals, math.inf)
        if now > start:
            span = now - max(t, start)
            totals["replica_s"] += len(engine.alive) * span
            totals["up_s"] += span if engine.alive else 0.0
            by_hour[int(max(t, start) // HOUR_S) % 24] += len(engine.alive) * span
        t = clock.now = now
        if now == next_probe:
            engine.probe(now)
            next_probe += probe_s
        if now == next_sync:
            engine.sync()
            next_sync += sync_s
        if now == next_decision:
            next_decision += engine.decide(now)
    hours = (end - start) / HOUR_S
    return Simulated(
        replica_hours=totals["replica_s"] / HOUR_S,
        hours=hours,
        requests=int(totals["requests"]),
        cold_requests=int(totals["cold"]),
        up_hours=totals["up_s"] / HOUR_S,
        replicas_by_hour=tuple(r * 24 / (end - start) for r in by_hour),
    )


def _plan(profile: HourlyProfile, **kwargs: float) -> ReplicaPlan:
    defaults: dict[str, float] = {"cold_start_s": COLD_START_S, "ttft_s": 0.5}
    return replica_plan(profile=profile, **{**defaults, **kwargs})  # type: ignore[arg-type]


Case = tuple[HourlyProfile, dict[str, float], float, int, int, int]
CASES: dict[str, Case] = {
    # flat 3.3 requests/s, 1 request/s per replica: 4 replicas all day
    "flat": (HourlyProfile.flat(), {"peak_requests_per_s": 3.3}, 1.0, 1, 10, 24),
    # a 3x peak day averaging 2 requests/s, 0.5 per replica: 1 to 12 replicas
    "peaky": (
        HourlyProfile.from_peak_to_average(3.0),
        {"requests_per_month": 2.0 * SECONDS_PER_MONTH},
        0.5,
        1,
        20,
        48,
    ),
    # 1,000 requests a month, scale to zero, a whole 730-hour month
    "sparse": (HourlyProfile.flat(), {"requests_per_month": 1000}, 1.0, 0, 2, HOURS_PER_MONTH),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def compared(request: pytest.FixtureRequest) -> tuple[str, ReplicaPlan, Simulated]:
    profile, traffic, per_replica, lo, hi, hours = CASES[request.param]
    plan = _plan(profile, rate_per_replica=per_replica, min_replicas=lo, max_replicas=hi, **traffic)
    rates = [plan.mean_requests_per_s * w for w in profile.weights]
    sim = simulate(
        rates, rate_per_replica=per_replica, min_replicas=lo, max_replicas=hi, hours=hours
    )
    return request.param, plan, sim


def test_replica_hours_match_skypilots_autoscaler(compared) -> None:
    name, plan, sim = compared
    gap = plan.replica_hours_per_month / sim.replica_hours_per_month - 1
    print(
        f"{name}: model {plan.replica_hours_per_month:.1f}, SkyPilot "
        f"{sim.replica_hours_per_month:.1f} replica-h/month, gap {gap:+.1%}"
    )
    assert abs(gap) <= TOLERANCE, (name, plan.replica_hours_per_month, sim)


def test_scale_to_zero_chances_match_skypilots_autoscaler(compared) -> None:
    _name, plan, sim = compared
    if plan.min_replicas:
        assert plan.p_cold_start == 0 and plan.up_fraction == 1
        assert sim.cold_requests == 0 and sim.up_fraction == pytest.approx(1)
        return
    assert sim.requests > 500
    assert plan.up_fraction == pytest.approx(sim.up_fraction, abs=0.05)
    assert plan.p_cold_start == pytest.approx(sim.p_cold, abs=0.05)


def test_constants_are_skypilots() -> None:
    from sky.serve import constants

    assert autoscale.QPS_WINDOW_S == constants.AUTOSCALER_QPS_WINDOW_SIZE_SECONDS
    assert autoscale.DECISION_INTERVAL_S == constants.AUTOSCALER_DEFAULT_DECISION_INTERVAL_SECONDS
    assert (
        autoscale.NO_REPLICA_DECISION_INTERVAL_S
        == constants.AUTOSCALER_NO_REPLICA_DECISION_INTERVAL_SECONDS
    )
    assert autoscale.LB_SYNC_INTERVAL_S == constants.LB_CONTROLLER_SYNC_INTERVAL_SECONDS
    assert autoscale.PROBE_INTERVAL_S == constants.DEFAULT_ENDPOINT_PROBE_INTERVAL_SECONDS
    assert autoscale.DEFAULT_UPSCALE_DELAY_S == constants.AUTOSCALER_DEFAULT_UPSCALE_DELAY_SECONDS
    assert (
        autoscale.DEFAULT_DOWNSCALE_DELAY_S == constants.AUTOSCALER_DEFAULT_DOWNSCALE_DELAY_SECONDS
    )
    assert autoscale.LB_MAX_RETRY == constants.LB_MAX_RETRY


def test_skyserve_accepts_scale_to_zero_and_starts_at_min() -> None:
    """min_replicas 0 is a valid policy (schema minimum 0); the target starts at min_replicas
    and, at 0, decisions come every 5 s — what the model's launch lag assumes."""
    from sky.serve import autoscalers, service_spec

    policy = {"min_replicas": 0, "max_replicas": 3, "target_qps_per_replica": 2.0}
    spec = service_spec.SkyServiceSpec.from_yaml_config(
        {"readiness_probe": "/", "replica_policy": policy}
    )
    scaler = autoscalers.Autoscaler.from_spec("zero", spec)
    assert scaler.target_num_replicas == 0
    assert scaler.get_decision_interval() == autoscale.NO_REPLICA_DECISION_INTERVAL_S
    assert isinstance(scaler, autoscalers.RequestRateAutoscaler)
    assert scaler.scale_up_threshold == 300 // autoscale.DECISION_INTERVAL_S


def test_hysteresis_holds_a_step_for_skypilots_delays() -> None:
    """One busy hour (3 replicas) in a day at 1: the rise lands after the upscale reaction,
    the fall after the downscale reaction. At 100 requests/s per replica the Poisson wander
    of a 60 s window (±0.6 %) crosses no boundary, so the band is the plain ceiling."""
    rates = [80.0] * 24
    rates[10] = 250.0
    plan = _plan(
        HourlyProfile(weights=tuple(rates), basis="step"),
        peak_requests_per_s=250.0,
        rate_per_replica=100.0,
        min_replicas=1,
        max_replicas=5,
    )
    lag = 60 / 2 + 20 / 2 + 20 / 2  # window fill, report, first decision: means
    up, down = lag + (300 // 20 - 1) * 20, lag + (1200 // 20 - 1) * 20
    assert (up, down) == (330, 1230)
    expected = [1.0] * 24
    expected[10] = (1 * up + 3 * (HOUR_S - up)) / HOUR_S
    expected[11] = (3 * down + 1 * (HOUR_S - down)) / HOUR_S
    assert plan.replicas_by_hour == pytest.approx(expected, abs=1e-9)
    assert plan.needed_by_hour[10] == plan.peak_replicas == 3
    assert plan.replica_hours_per_month == pytest.approx(sum(expected) * HOURS_PER_MONTH / 24)


def test_flat_scale_to_zero_is_the_closed_form() -> None:
    """Flat traffic: P(up) = 1 − exp(−λ(K − L)), P(cold) = exp(−λ(K − T)) with K the keep-alive,
    L the launch lag and T the wait until the load balancer knows a replica ready."""
    rate = 2e-4
    plan = _plan(
        HourlyProfile.flat(),
        peak_requests_per_s=rate,
        rate_per_replica=1.0,
        min_replicas=0,
        max_replicas=2,
    )
    keep = 60 + 20 / 2 + 20 / 2 + (1200 // 20 - 1) * 20
    launch = 20 / 2 + 5 / 2
    ready = launch + COLD_START_S + 10 / 2 + 20 / 2
    assert plan.up_fraction == pytest.approx(1 - math.exp(-rate * (keep - launch)), rel=1e-9)
    assert plan.p_cold_start == pytest.approx(math.exp(-rate * (keep - ready)), rel=1e-9)
    assert plan.replica_hours_per_month == pytest.approx(plan.up_fraction * HOURS_PER_MONTH)
    assert plan.cold_start_ttft_s == pytest.approx(ready + 0.5)


def test_every_term_is_its_formula() -> None:
    for profile, traffic, per, lo, hi, _ in CASES.values():
        plan = _plan(profile, rate_per_replica=per, min_replicas=lo, max_replicas=hi, **traffic)
        names = [t.name for t in plan.terms]
        assert len(names) == len(set(names))
        for term in plan.terms:
            assert evaluate_formula(term.formula) == pytest.approx(
                term.value, rel=1e-4, abs=1e-9
            ), term
        values = {t.name: t.value for t in plan.terms}
        assert values["serve.replica_hours_per_month"] == plan.replica_hours_per_month
        assert values["serve.min_replicas"] == lo and values["serve.max_replicas"] == hi
        assert values["serve.peak_replicas"] == plan.peak_replicas
        if lo == 0:
            assert values["serve.p_cold_start"] == plan.p_cold_start
            assert values["serve.cold_start_ttft_s"] == plan.cold_start_ttft_s
            assert values["serve.up_fraction"] == plan.up_fraction


@pytest.mark.parametrize("ratio", [1.0, 1.5, 2.0, 3.0, 8.0, 20.0])
def test_peak_to_average_profile_has_that_peak(ratio: float) -> None:
    profile = HourlyProfile.from_peak_to_average(ratio)
    assert max(profile.weights) == pytest.approx(ratio, rel=1e-9)
    assert sum(profile.weights) == pytest.approx(24)
    if ratio > 1:
        assert profile.weights.index(max(profile.weights)) == 14
        assert profile.basis.startswith("assumption")


def test_profile_from_traffic_and_normalisation() -> None:
    profile = HourlyProfile.from_traffic(
        requests_per_month=SECONDS_PER_MONTH, peak_requests_per_s=3.0
    )
    assert max(profile.weights) == pytest.approx(3.0)
    assert HourlyProfile(weights=(5.0,) * 24, basis="x").weights == (1.0,) * 24
    for bad in [(1.0,) * 23, (-1.0,) + (1.0,) * 23, (0.0,) * 24, (math.nan,) * 24]:
        with pytest.raises(ValueError):
            HourlyProfile(weights=bad, basis="bad")
    for ratio in (0.5, 24.0):
        with pytest.raises(PlannerError, match="To fix"):
            HourlyProfile.from_peak_to_average(ratio)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"requests_per_month": 10, "peak_requests_per_s": 1.0}, "exactly one"),
        ({"requests_per_month": 10, "rate_per_replica": 0.0}, "above 0"),
        ({"requests_per_month": 10, "min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"requests_per_month": 10, "min_replicas": 0, "max_replicas": 0}, "max_replicas"),
    ],
)
def test_bad_inputs_say_how_to_fix(kwargs: dict[str, float], match: str) -> None:
    base: dict[str, float] = {"rate_per_replica": 1.0, "min_replicas": 1, "max_replicas": 4}
    with pytest.raises(PlannerError, match="To fix") as error:
        _plan(HourlyProfile.flat(), **{**base, **kwargs})
    assert match in str(error.value)


_policies = st.tuples(
    st.floats(0.05, 50.0),  # requests/s per replica
    st.integers(0, 3),  # min_replicas
    st.integers(0, 30),  # max_replicas - max(min, 1)
)
_profiles = st.one_of(
    st.floats(1.0, 12.0).map(HourlyProfile.from_peak_to_average),
    st.lists(st.floats(0.0, 10.0), min_size=24, max_size=24)
    .filter(lambda w: sum(w) > 0)
    .map(lambda w: HourlyProfile(weights=tuple(w), basis="drawn")),
)
_monthly = st.floats(0.0, 1e9)


def _drawn(profile: HourlyProfile, policy: tuple[float, int, int], monthly: float) -> ReplicaPlan:
    per, lo, extra = policy
    return _plan(
        profile,
        requests_per_month=monthly,
        rate_per_replica=per,
        min_replicas=lo,
        max_replicas=max(lo, 1) + extra,
    )


@settings(max_examples=150, deadline=None)
@given(_profiles, _policies, _monthly)
@example(HourlyProfile.from_peak_to_average(1.625), (1.0, 0, 0), 0.0)
def test_replica_hours_stay_within_min_and_max(profile, policy, monthly) -> None:
    plan = _drawn(profile, policy, monthly)
    low, high = plan.min_replicas * HOURS_PER_MONTH, plan.max_replicas * HOURS_PER_MONTH
    assert low - 1e-6 <= plan.replica_hours_per_month <= high + 1e-6
    assert 0 <= plan.p_cold_start <= 1 and 0 <= plan.up_fraction <= 1
    assert all(plan.min_replicas <= n <= plan.max_replicas for n in plan.needed_by_hour)


@settings(max_examples=150, deadline=None)
@given(_profiles, _policies, _monthly, st.floats(1.0, 10.0))
@example(HourlyProfile.flat(), (1.0, 1, 10), 3.9 * SECONDS_PER_MONTH, 1.01)
def test_more_traffic_never_bills_less(profile, policy, monthly, factor) -> None:
    less, more = _drawn(profile, policy, monthly), _drawn(profile, policy, monthly * factor)
    assert more.replica_hours_per_month >= less.replica_hours_per_month - 1e-6
    assert more.peak_replicas >= less.peak_replicas


@settings(max_examples=150, deadline=None)
@given(_profiles, _policies, _monthly)
def test_scale_to_zero_never_bills_more_than_one_replica_minimum(profile, policy, monthly) -> None:
    per, _, extra = policy
    zero, one = _drawn(profile, (per, 0, extra), monthly), _drawn(profile, (per, 1, extra), monthly)
    assert zero.replica_hours_per_month <= one.replica_hours_per_month + 1e-6
    assert zero.p_cold_start >= one.p_cold_start == 0
