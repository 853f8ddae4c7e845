"""One error root: every package's base error derives from TailorError; context is keyword-only
and each message ends with "To fix: …"."""

from __future__ import annotations

import pytest

from catalog import CatalogError, CatalogFileError, TailorError, UnknownNameError
from executor.errors import BackendError, ExecutorError
from planner.errors import GoalSpecError, InfeasibleGoalError, PlannerError, Problem


@pytest.mark.parametrize(
    "error",
    [
        CatalogError,
        CatalogFileError,
        UnknownNameError,
        PlannerError,
        GoalSpecError,
        InfeasibleGoalError,
        ExecutorError,
        BackendError,
    ],
)
def test_every_error_derives_from_the_root(error: type[Exception]) -> None:
    assert issubclass(error, TailorError)


def test_package_bases_are_distinct() -> None:
    bases = (CatalogError, PlannerError, ExecutorError)
    for base in bases:
        assert not any(issubclass(base, other) for other in bases if other is not base)


def test_context_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        CatalogFileError("is broken.", "x.yaml", 3, "mend it.")
    with pytest.raises(TypeError):
        UnknownNameError("H1000", "GPU", [], "tailor catalog gpus")
    with pytest.raises(TypeError):
        InfeasibleGoalError(["no GPU fits"], ["a nearest plan"])
    with pytest.raises(TypeError):
        GoalSpecError([Problem(field="", message="m", fix="f")], "g.yaml")
    with pytest.raises(TypeError):
        ExecutorError("run x failed.", "tailor down x")


def test_catalog_file_error_names_file_line_and_fix() -> None:
    error = CatalogFileError("is broken.", path="x.yaml", line=3, fix="mend it.")
    assert str(error) == "x.yaml:3: is broken. To fix: mend it."
    assert (error.path, error.line, error.fix) == ("x.yaml", 3, "mend it.")


def test_unknown_name_lists_close_names_and_the_listing_command() -> None:
    error = UnknownNameError(
        "H1000", kind="GPU", close=["H100"], listing_command="tailor catalog gpus"
    )
    assert str(error) == (
        "Unknown GPU 'H1000'. Did you mean 'H100'? To fix: use a name from "
        "`tailor catalog gpus` (matching ignores case)."
    )


def test_executor_error_carries_its_fix() -> None:
    error = BackendError("process 7 would not stop.", fix="`kill -9 -7`.")
    assert str(error) == "process 7 would not stop. To fix: `kill -9 -7`."
    assert (error.problem, error.fix) == ("process 7 would not stop.", "`kill -9 -7`.")


def test_executor_error_quoting_a_log_puts_the_fix_on_its_own_line() -> None:
    error = BackendError("server exited. Last lines:\nOOM\n", fix="use a smaller model.")
    assert str(error) == "server exited. Last lines:\nOOM\nTo fix: use a smaller model."
