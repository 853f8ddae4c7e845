"""Planner errors.

Hierarchy (the root, ``TailorError``, is in catalog/errors.py)::

    TailorError                  root of everything tailor raises for the user to fix
    └── PlannerError             base of everything this package raises
        ├── GoalSpecError        the goal file or dict is unusable: one Problem per field
        │                        (field path, what is wrong, "To fix: …"), all reported at once
        │                        (the first MAX_PROBLEMS, then how many more)
        └── InfeasibleGoalError  the goal is well-formed but no plan meets it: every reason,
                                 then the nearest feasible plans

Messages are plain text: what failed, why, then "To fix: …"; context is passed keyword-only.
The CLI and the TUI render them; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from catalog.errors import TailorError

__all__ = [
    "MAX_PROBLEMS",
    "GoalSpecError",
    "InfeasibleGoalError",
    "PlannerError",
    "Problem",
    "printable",
]

MAX_PROBLEMS = 20  # a goal error lists this many problems, then says how many more there are


class PlannerError(TailorError):
    """Base class of planner errors."""


class Problem(BaseModel):
    """One thing wrong with a goal, tied to the field it concerns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(
        description="Dotted path of the field, e.g. `traffic.avg_input_tokens`; empty when the "
        "problem concerns the whole file."
    )
    message: str = Field(description="What is wrong, as a sentence.")
    fix: str = Field(description="What to change, as a sentence (shown after 'To fix:').")
    line: int | None = Field(
        default=None, description="1-based line in the goal file where the field is, if known."
    )

    def render(self, source: str) -> str:
        """One paragraph: ``source:line: field: message To fix: fix``.

        Field names come from the user's file and may hold newlines or other control
        characters; every part is shown with :func:`printable`, so one problem is always one
        paragraph on one line.
        """
        where = f"{source}:{self.line}" if self.line is not None else source
        subject = f"{where}: {self.field}:" if self.field else f"{where}:"
        text = f"{subject} {_sentence(self.message)} To fix: {_sentence(self.fix)}"
        return printable(text)


class GoalSpecError(PlannerError):
    """A goal that cannot be read or validated; ``problems`` lists the reasons.

    At most :data:`MAX_PROBLEMS` are kept and shown; ``more`` counts the rest (those given
    beyond the cap plus ``omitted``, the ones the caller found but did not turn into Problems),
    and the message ends with a paragraph saying how many there are.
    """

    def __init__(
        self, problems: Sequence[Problem], *, source: str = "<goal>", omitted: int = 0
    ) -> None:
        if not problems:
            raise ValueError("GoalSpecError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems[:MAX_PROBLEMS])
        self.more: int = len(problems) - len(self.problems) + omitted
        self.source = source
        paragraphs = [p.render(source) for p in self.problems]
        if self.more:
            paragraphs.append(
                printable(
                    f"{source}: … and {self.more:,} more problem{'s' if self.more != 1 else ''}, "
                    f"not listed. To fix: correct the {len(self.problems)} above and run again "
                    "to see the next ones."
                )
            )
        super().__init__("\n\n".join(paragraphs))

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths of the problems, in order."""
        return tuple(p.field for p in self.problems)


class InfeasibleGoalError(PlannerError):
    """No candidate plan satisfies the goal; says why and what comes closest."""

    def __init__(self, reasons: Sequence[str], *, nearest: Sequence[str] = ()) -> None:
        self.reasons: tuple[str, ...] = tuple(reasons)
        self.nearest: tuple[str, ...] = tuple(nearest)
        lines = ["No plan meets the goal:"]
        lines += [f"  - {_sentence(r)}" for r in self.reasons] or ["  - (no reason recorded)"]
        if self.nearest:
            lines += ["Nearest feasible plans:"]
            lines += [f"  - {_sentence(n)}" for n in self.nearest]
            fix = "relax the constraint named above, or accept one of the nearest plans."
        else:
            fix = "relax the constraints named above (budget, latency, privacy or candidates)."
        lines.append(f"To fix: {fix}")
        super().__init__("\n".join(lines))


def printable(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, NUL, …) escaped as Python
    writes it in a string literal (``\\n``, ``\\t``, ``\\x00``); printable text is unchanged."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _sentence(text: str) -> str:
    """``text`` stripped, ending with a full stop unless it already ends a sentence."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."
