"""The plot under the plans table, in two views of every candidate plan:

- ``latency``: first-year cost against p95 time to first token;
- ``quality``: first-year cost against expected quality on the goal's benchmark (the
  pessimistic end of each plan's expected range, which plans rank on; the ranges themselves,
  often wide, are in the table and the detail pane). Reference rows are drawn apart (○).
  Plans of unknown quality cannot be placed and are counted in the title instead.

Each view draws its own two-axis front (no candidate is better on both of its axes); the plans'
★ flag is the planner's, over cost × TTFT × quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual_plotext import PlotextPlot

from planner.plan import Plan
from planner.rank import PlanningResult

__all__ = [
    "PLOT_VIEWS",
    "ParetoPlot",
    "ParetoPoints",
    "PlotView",
    "QualityPoints",
    "pareto_points",
    "quality_points",
]

PlotView = Literal["latency", "quality"]
PLOT_VIEWS: tuple[PlotView, ...] = ("latency", "quality")


@dataclass(frozen=True)
class ParetoPoints:
    """What the latency view draws: (p95 TTFT ms, first-year $) pairs."""

    candidates: tuple[tuple[float, float], ...]
    front: tuple[tuple[float, float], ...]
    ranked: tuple[tuple[str, float, float], ...]  # (plan id, ms, $)


@dataclass(frozen=True)
class QualityPoints:
    """What the quality view draws: (expected score, first-year $) pairs."""

    benchmark: str  # display name, e.g. "IFEval"
    candidates: tuple[tuple[float, float], ...]
    front: tuple[tuple[float, float], ...]  # cheapest first, each better than all cheaper
    ranked: tuple[tuple[str, float, float, float], ...]  # (plan id, low, high, $): drawn at low
    references: tuple[tuple[str, float, float], ...]  # (reference id, low end, $)
    unknown: int  # candidates and ranked plans of unknown quality, not drawn


def _point(plan: Plan) -> tuple[float, float]:
    return (plan.p95_ttft_s * 1000, plan.first_year_usd)


def pareto_points(result: PlanningResult) -> ParetoPoints:
    """Every candidate, the front no candidate beats on both axes, and the ranked plans."""
    points = sorted({_point(p) for p in result.graph.candidates}, key=lambda xy: (xy[1], xy[0]))
    front, best_ms = [], float("inf")
    for ms, usd in points:  # cheapest first: a point is on the front if it is faster than all
        if ms < best_ms:  # cheaper ones
            front.append((ms, usd))
            best_ms = ms
    ranked = tuple((p.id, *_point(p)) for p in result.plans)
    return ParetoPoints(tuple(points), tuple(sorted(front)), ranked)


def _mid(plan: Plan) -> float | None:
    return plan.quality.ranking_score if plan.quality is not None else None


def _benchmark(result: PlanningResult) -> str:
    if result.quality_target is not None:
        return result.quality_target.benchmark.name
    named = next((p.quality for p in result.plans if p.quality is not None), None)
    return named.benchmark_name if named is not None else "quality"


def quality_points(result: PlanningResult) -> QualityPoints:
    """Every candidate of known quality, the cost × quality front, the ranked plans with their
    ranges and the reference rows."""
    known = {(q, p.first_year_usd) for p in result.graph.candidates if (q := _mid(p)) is not None}
    points = sorted(known, key=lambda xy: (xy[1], -xy[0]))
    front, best = [], float("-inf")
    for score, usd in points:  # cheapest first: on the front if better than every cheaper one
        if score > best:
            front.append((score, usd))
            best = score
    ranked = tuple(
        (p.id, p.quality.expected_low, p.quality.expected_high, p.first_year_usd)
        for p in result.plans
        if p.quality is not None
        and p.quality.expected_low is not None
        and p.quality.expected_high is not None
    )
    refs = tuple(
        (p.id, q, p.first_year_usd) for p in result.references if (q := _mid(p)) is not None
    )
    unknown = sum(_mid(p) is None for p in result.graph.candidates)
    return QualityPoints(_benchmark(result), tuple(points), tuple(front), ranked, refs, unknown)


class ParetoPlot(PlotextPlot):
    """Candidates as dots, the front as a line, ranked plans labelled by id; ``view`` picks
    the x axis (p95 TTFT or expected quality)."""

    view: PlotView = "latency"

    def show(
        self, result: PlanningResult, view: PlotView | None = None
    ) -> ParetoPoints | QualityPoints:
        """Draw ``result`` in ``view`` (default: the current one) and remember the view."""
        self.view = view or self.view
        self.plt.clear_figure()
        points = self._latency(result) if self.view == "latency" else self._quality(result)
        self.refresh()
        return points

    def _log_scale_if_wide(self, costs: list[float]) -> None:
        if costs and min(costs) > 0 and max(costs) / min(costs) > 100:
            self.plt.yscale("log")

    def _latency(self, result: PlanningResult) -> ParetoPoints:
        points = pareto_points(result)
        plt = self.plt
        plt.title(f"{result.goal.name}: first-year $ vs p95 TTFT ({len(points.candidates)} plans)")
        plt.xlabel("p95 TTFT, ms")
        plt.ylabel("first-year $")
        self._log_scale_if_wide([usd for _, usd in points.candidates])
        if points.candidates:
            xs, ys = zip(*points.candidates, strict=True)
            plt.scatter(xs, ys, marker="dot", color="gray", label="candidates")
        if points.front:
            xs, ys = zip(*points.front, strict=True)
            plt.plot(xs, ys, marker="braille", color="cyan", label="Pareto front")
        for plan_id, ms, usd in points.ranked:
            plt.scatter([ms], [usd], marker="●", color="orange")
            plt.text(plan_id, ms, usd, color="orange")
        return points

    def _quality(self, result: PlanningResult) -> QualityPoints:
        points = quality_points(result)
        plt = self.plt
        unknown = f", {points.unknown} of unknown quality not shown" if points.unknown else ""
        plt.title(
            f"{result.goal.name}: first-year $ vs expected {points.benchmark} "
            f"({len(points.candidates)} plans{unknown})"
        )
        plt.xlabel(f"expected {points.benchmark}, low end of range (○: reference rows)")
        plt.ylabel("first-year $")
        costs = [usd for _, usd in points.candidates] + [usd for *_, usd in points.references]
        self._log_scale_if_wide(costs)
        if points.candidates:
            xs, ys = zip(*points.candidates, strict=True)
            plt.scatter(xs, ys, marker="dot", color="gray", label="candidates")
        if points.front:
            xs, ys = zip(*points.front, strict=True)
            plt.plot(xs, ys, marker="braille", color="cyan", label="cost × quality front")
        for plan_id, low, high, usd in points.ranked:
            plt.scatter([(low + high) / 2], [usd], marker="●", color="orange")
            plt.text(plan_id, (low + high) / 2, usd, color="orange")
        for ref_id, score, usd in points.references:
            plt.scatter([score], [usd], marker="○", color="magenta")
            plt.text(ref_id, score, usd, color="magenta")
        return points
