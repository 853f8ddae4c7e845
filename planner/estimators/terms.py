"""A named quantity with its unit and the formula that produced it: the unit of explanation.

``Term.formula`` is arithmetic with the numbers substituted — ``8,030,261,248 × 2 / GiB`` —
written so that :func:`evaluate_formula` computes ``Term.value`` from it (within the rounding
of the numbers shown). What each number is and where it comes from (catalog row and date,
paper, assumption) is ``Term.basis``, in words. The formula grammar: numbers (``1,234`` with
thousands separators, ``1.5e-3``), ``+ − × / ^``, parentheses, ``max(a, b)``, ``min(a, b)``,
``ceil(x)``, ``floor(x)``, ``ln(x)`` and the constant ``GiB`` (2^30 bytes).

Estimators build terms from the numbers they computed, never by computing again, and only
for the plans that are shown (see ``TermSource``), so planning stays fast.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GIB", "Term", "TermSource", "evaluate_formula", "num", "sum_terms"]

GIB = 1024**3
"""Bytes in one GiB."""

TermSource = Callable[[], tuple["Term", ...]]
"""Builds an estimate's terms on demand from the numbers it already holds."""


class Term(BaseModel):
    """One number of an estimate: value, unit, the arithmetic that gave it, and its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="What this is, e.g. 'serve.weights_per_gpu'.")
    value: float = Field(description="The number, in `unit`.")
    unit: str = Field(description="GiB, s, tokens/s, USD, ...")
    formula: str = Field(
        description="Arithmetic with the numbers substituted; evaluates to `value` "
        "(see planner.estimators.terms.evaluate_formula)."
    )
    basis: str = Field(
        default="", description="What the numbers are and where they come from, in words."
    )


def num(value: float, digits: int = 6) -> str:
    """A number as a formula shows it: integers with thousands separators, else ``digits``
    significant digits (enough that the formula evaluates to the value within 1e-5)."""
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def sum_terms(terms: list[Term]) -> float:
    """Sum of the terms' values (they must share a unit)."""
    units = {t.unit for t in terms}
    assert len(units) <= 1, units
    return sum(t.value for t in terms)


_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "max": max,
    "min": min,
    "ceil": math.ceil,
    "floor": math.floor,
    "ln": math.log,
}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def evaluate_formula(formula: str) -> float:
    """The value of a term's formula (grammar in the module docstring); ValueError otherwise."""
    text = formula.replace("×", "*").replace("−", "-").replace("^", "**")
    text = _THOUSANDS.sub("", text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a formula: {formula!r} ({exc.msg})") from None
    return float(_eval(tree.body, formula))


def _eval(node: ast.AST, formula: str) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name) and node.id == "GiB":
        return GIB
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, formula), _eval(node.right, formula))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, formula)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval(arg, formula) for arg in node.args))
    raise ValueError(f"not a formula: {formula!r} ({ast.dump(node)[:60]} is not allowed)")
