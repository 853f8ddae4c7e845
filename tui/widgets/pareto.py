"""Pareto plot of first-year cost against p95 time to first token, for every candidate plan."""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from planner.plan import Plan
from planner.rank import PlanningResult

__all__ = ["ParetoPlot", "ParetoPoints", "pareto_points"]


@dataclass(frozen=True)
class ParetoPoints:
    """What the plot draws: (p95 TTFT ms, first-year $) pairs."""

    candidates: tuple[tuple[float, float], ...]
    front: tuple[tuple[float, float], ...]
    ranked: tuple[tuple[str, float, float], ...]  # (plan id, ms, $)


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


class ParetoPlot(PlotextPlot):
    """Candidates as dots, the Pareto front as a line, ranked plans labelled by id."""

    def show(self, result: PlanningResult) -> ParetoPoints:
        points = pareto_points(result)
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{result.goal.name}: first-year $ vs p95 TTFT ({len(points.candidates)} plans)")
        plt.xlabel("p95 TTFT, ms")
        plt.ylabel("first-year $")
        costs = [usd for _, usd in points.candidates]
        if costs and min(costs) > 0 and max(costs) / min(costs) > 100:
            plt.yscale("log")
        if points.candidates:
            xs, ys = zip(*points.candidates, strict=True)
            plt.scatter(xs, ys, marker="dot", color="gray", label="candidates")
        if points.front:
            xs, ys = zip(*points.front, strict=True)
            plt.plot(xs, ys, marker="braille", color="cyan", label="Pareto front")
        for plan_id, ms, usd in points.ranked:
            plt.scatter([ms], [usd], marker="●", color="orange")
            plt.text(plan_id, ms, usd, color="orange")
        self.refresh()
        return points
