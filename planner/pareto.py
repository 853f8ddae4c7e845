"""The Pareto front of cost × latency: one definition for plans and for serving setups."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["pareto_front"]

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
