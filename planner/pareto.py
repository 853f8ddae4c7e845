"""Pareto fronts: cost × latency (serving setups) and cost × latency × quality (plans)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["pareto_front", "pareto_front_3"]

T = TypeVar("T")


def pareto_front(
    items: Iterable[T],
    *,
    cost: Callable[[T], float],
    latency: Callable[[T], float],
    tiebreak: Callable[[T], object] = lambda _: 0,
) -> list[T]:
    """The items no other item beats on both ``cost`` and ``latency``, cheapest first.

    Sorted by (cost, latency, tiebreak); an item joins the front when it is strictly faster
    than every cheaper one, so of equal (cost, latency) items only the first is kept.
    """
    front: list[T] = []
    best = math.inf
    for item in sorted(items, key=lambda i: (cost(i), latency(i), tiebreak(i))):
        if latency(item) < best:
            front.append(item)
            best = latency(item)
    return front


def pareto_front_3(
    items: Iterable[T],
    *,
    keys: tuple[Callable[[T], float], Callable[[T], float], Callable[[T], float]],
) -> list[T]:
    """The items no other item beats or equals on all three ``keys`` (each minimised), in
    order of the keys.

    Sorted by the three keys; each item is checked against the staircase of the items before
    it on the last two keys (sorted by the second, the third strictly falling), so the front
    of n items takes O(n log n) comparisons plus the staircase inserts. Of items equal on all
    three keys only the first is kept.
    """
    first, second, third = keys
    front: list[T] = []
    xs: list[float] = []  # staircase: second key ascending
    ys: list[float] = []  # third key, strictly descending along the staircase
    for item in sorted(items, key=lambda i: (first(i), second(i), third(i))):
        x, y = second(item), third(item)
        at = bisect.bisect_right(xs, x)
        if at and ys[at - 1] <= y:
            continue  # an earlier (no costlier) item is as good on both other keys
        front.append(item)
        end = at
        while end < len(xs) and ys[end] >= y:
            end += 1  # points this one now dominates on the last two keys
        xs[at:end], ys[at:end] = [x], [y]
    return front
