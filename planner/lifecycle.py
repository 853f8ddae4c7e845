"""Hosted-model lifecycle: a plan that relies on a retired model or a closed fine-tuning offer is
pruned; one that relies on a model retiring, or an offer closing, within its first year is
flagged. Dates come from the catalog's deprecation notices and are judged on the planning day.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

from catalog import ApiModel
from planner.rules import Reason

__all__ = ["FIRST_YEAR", "PLANNING_DATE_ENV", "api_lifecycle", "planning_date"]

PLANNING_DATE_ENV = "TAILOR_PLANNING_DATE"
"""An ISO date that stands in for today as the planning day (the test suite fixes it)."""

FIRST_YEAR = timedelta(days=365)
"""The horizon of first_year_usd: a retirement inside it is flagged on the plan."""


def planning_date() -> date:
    """The planning day: ``$TAILOR_PLANNING_DATE`` if set (an ISO date), else today."""
    given = os.environ.get(PLANNING_DATE_ENV)
    if not given:
        return date.today()
    try:
        return date.fromisoformat(given)
    except ValueError:
        from planner.errors import PlannerError

        raise PlannerError(
            f"${PLANNING_DATE_ENV} is {given!r}, not a date. To fix: set it to an ISO date "
            "such as 2026-12-03, or unset it to plan as of today."
        ) from None


def _source(url: str | None) -> str:
    return f" ({url})" if url else ""


def api_lifecycle(
    api: ApiModel, *, fine_tuned: bool, as_of: date, subject: str
) -> tuple[Reason | None, tuple[str, ...]]:
    """Why the plan cannot be launched on ``as_of`` (None if it can), and its warnings."""
    src = _source(api.lifecycle_source)
    if api.shutdown_on is not None and api.shutdown_on <= as_of:
        return (
            Reason(
                subject=subject,
                constraint="catalog lifecycle",
                detail=f"{api.id} was shut down on {api.shutdown_on}{src}",
                fix="choose a current model (`tailor catalog api`)",
            ),
            (),
        )
    warnings = []
    if api.shutdown_on is not None and api.shutdown_on - as_of < FIRST_YEAR:
        days = (api.shutdown_on - as_of).days
        warnings.append(
            f"{api.id} shuts down on {api.shutdown_on}, {days} days after {as_of}{src}: the "
            "plan must move to another model inside its first year"
            + (" (fine-tunes stop with it)" if fine_tuned else "")
        )
    ft = api.fine_tuning
    if fine_tuned and ft is not None:
        ft_src = _source(ft.lifecycle_source)
        if ft.new_jobs_end_on is not None and ft.new_jobs_end_on <= as_of:
            return (
                Reason(
                    subject=subject,
                    constraint="catalog lifecycle",
                    detail=f"{api.id} takes no new fine-tuning jobs since {ft.new_jobs_end_on}"
                    f"{ft_src}",
                    fix="fine-tune an open model (self-hosted, or a hosted service for open "
                    "models)",
                ),
                (),
            )
        if ft.new_jobs_end_on is not None and ft.new_jobs_end_on - as_of < FIRST_YEAR:
            warnings.append(
                f"{api.id} fine-tuning takes no new jobs from {ft.new_jobs_end_on}{ft_src}: "
                "no retraining after that day"
            )
        restricted = ft.new_jobs_restricted_on
        if restricted is not None and restricted <= as_of:
            warnings.append(
                f"{api.id} fine-tuning is restricted since {restricted}{ft_src}: only accounts "
                "the provider still admits may create jobs"
            )
        elif restricted is not None and restricted - as_of < FIRST_YEAR:
            warnings.append(
                f"{api.id} fine-tuning will be restricted from {restricted}{ft_src}: after "
                "that only accounts the provider admits may create jobs"
            )
    return None, tuple(warnings)
