"""A named quantity with its unit and the formula that produced it: the unit of explanation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GIB", "Term", "sum_terms"]

GIB = 1024**3
"""Bytes in one GiB."""


class Term(BaseModel):
    """One number of an estimate: value, unit, and how it was computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="What this is, e.g. 'weights', 'kv_cache'.")
    value: float = Field(description="The number, in `unit`.")
    unit: str = Field(description="GiB, s, tokens/s, USD, ...")
    formula: str = Field(description="The formula with the numbers substituted.")


def sum_terms(terms: list[Term]) -> float:
    """Sum of the terms' values (they must share a unit)."""
    units = {t.unit for t in terms}
    assert len(units) <= 1, units
    return sum(t.value for t in terms)
