"""The goal screen: a form for every field of the goal spec, checked by the spec as you type.

The screen owns the state (``goal``, ``errors``, ``status``); the form gets the errors to show
(attributes down) and the screen posts :class:`~tui.messages.GoalChanged` when the valid goal
changes, so the app can re-plan, and :class:`~tui.messages.GoalSaved` after a save (messages
up). Every problem shown is the spec's own (:func:`~planner.spec.parse_goal`), with its "To
fix: …" sentence.

Goal files are a few hundred bytes of YAML; they are read and written on the UI thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, Select, Static, Switch

from catalog import write_text_atomic
from planner.errors import GoalSpecError, Problem
from planner.goal_file import read_goal_text
from planner.problems import parse_goal_yaml
from planner.spec import GoalSpec, dump_goal, parse_goal
from tui.messages import GoalChanged, GoalSaved
from tui.widgets.goal_form import GoalForm

__all__ = ["GoalScreen", "PathPrompt", "problem_texts", "read_goal_data"]

_INDEX = re.compile(r"\[(\d+)\]$")


class GoalScreen(Screen[None]):
    """Edit a goal: one row per field, the spec's problems under the fields, load and save."""

    CSS_PATH = "goal.tcss"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+o", "open", "Open"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    goal: reactive[GoalSpec | None] = reactive(None, init=False)
    """The form's goal when it is valid; None while the spec reports a problem."""
    errors: reactive[dict[str, str]] = reactive(dict, init=False, always_update=True)
    """Problem text per field path, in form order; problems of no field are keyed by their own
    path (``''`` for the whole goal, or a section) and shown in the summary at the top."""
    status: reactive[str] = reactive("", init=False)
    """The last load/save outcome, shown above the footer."""

    def __init__(
        self, path: Path | None, data: dict[str, Any] | None = None, *, debounce_s: float = 0.3
    ) -> None:
        """Edit ``data``, or the goal file at ``path`` when ``data`` is None (``path`` is where
        ctrl+s saves). ``debounce_s``: quiet time after an edit before Changed is posted (0:
        at once, on every valid edit); leaving the screen posts a pending change at once."""
        super().__init__()
        self.path = Path(path) if path is not None else None
        self.debounce_s = debounce_s
        self._initial = data
        self._posted: GoalSpec | None = None
        self._timer: Timer | None = None
        self.form = GoalForm(id="goal-form")

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="goal-summary", markup=False)
        yield self.form
        yield Static(id="goal-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        data, status = self._initial, "New goal: fill in the fields; ctrl+s saves it."
        if data is None and self.path is not None:
            data, status = _initial_data(self.path)
        if self.path is not None:
            self.sub_title = str(self.path)
        self._show(data or {}, status)

    def on_screen_suspend(self) -> None:
        self._post_changed()  # leaving the screen: the app gets the goal now, not later

    # --- state -> widgets -------------------------------------------------------------
    def watch_status(self, status: str) -> None:
        self.query_one("#goal-status", Static).update(status)

    def watch_errors(self, errors: dict[str, str]) -> None:
        fields = {spec.path for spec in self.form.fields}
        self.form.errors = {path: text for path, text in errors.items() if path in fields}
        summary = self.query_one("#goal-summary", Static)
        summary.update(_summary(errors, fields))
        summary.set_class(bool(errors), "-invalid")

    def watch_goal(self, goal: GoalSpec | None) -> None:
        self._stop_timer()
        if goal is None or goal == self._posted:
            return
        if self.debounce_s > 0:
            self._timer = self.set_timer(self.debounce_s, self._post_changed)
        else:
            self._post_changed()

    # --- validation -------------------------------------------------------------------
    @on(Input.Changed, "#goal-form Input")
    @on(Switch.Changed, "#goal-form Switch")
    @on(Select.Changed, "#goal-form Select")
    def _edited(self) -> None:
        self._validate()

    def _validate(self) -> None:
        source = str(self.path) if self.path else "<form>"
        try:
            goal = parse_goal(self.form.data(), source=source)
        except GoalSpecError as error:
            self.errors = problem_texts(error.problems, [spec.path for spec in self.form.fields])
            self.goal = None
            return
        self.errors = {}
        self.goal = goal

    def _post_changed(self) -> None:
        self._stop_timer()
        if self.goal is not None and self.goal != self._posted:
            self._posted = self.goal
            self.post_message(GoalChanged(self.goal))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _show(self, data: dict[str, Any], status: str) -> None:
        """Fill the form with ``data``, validate, and post Changed at once if it is valid."""
        notes = self.form.fill(data)
        self.status = status + (f". Not shown in the form: {'; '.join(notes)}" if notes else "")
        self._validate()
        self._post_changed()

    # --- save -------------------------------------------------------------------------
    def action_save(self) -> None:
        if self.goal is None:
            self._refuse_save()
        elif self.path is None:
            prompt = PathPrompt("Save the goal as", f"{self.goal.name}.yaml")
            self.app.push_screen(prompt, self._save_to)
        else:
            self._save_to(self.path)

    def _save_to(self, path: Path | None) -> None:
        if path is None:
            self.status = "Not saved."
            return
        if self.goal is None:
            self._refuse_save()
            return
        try:
            write_text_atomic(path, dump_goal(self.goal))
        except OSError as error:
            self.status = (
                f"Not saved: cannot write {path} ({error.strerror or error}). To fix: choose a "
                "folder that exists and that you may write to."
            )
            return
        self.path = path
        self.sub_title = str(path)
        self.status = f"Saved {path}"
        self.post_message(GoalSaved(path))

    def _refuse_save(self) -> None:
        first = next(iter(self.errors), "")
        count = len(self.errors)
        self.status = (
            f"Not saved: {first or 'the goal'} is invalid ({count} field"
            f"{'s' if count != 1 else ''} with problems). To fix: correct the fields marked "
            "in red, then press ctrl+s again."
        )
        if first in {spec.path for spec in self.form.fields}:
            self.form.widget_for(first).focus()

    # --- load -------------------------------------------------------------------------
    def action_open(self) -> None:
        self.app.push_screen(PathPrompt("Open a goal file", str(self.path or "")), self._open)

    def _open(self, path: Path | None) -> None:
        if path is not None:
            self._load(path)

    def action_reload(self) -> None:
        if self.path is None:
            self.status = "Nothing to reload: this goal has no file yet. To fix: open one with "
            self.status += "ctrl+o, or save this one with ctrl+s."
            return
        self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            data = read_goal_data(path)
        except GoalSpecError as error:
            self.status = f"Not opened (the form is unchanged): {error}"
            return
        self.path = path
        self.sub_title = str(path)
        self._show(data, f"Opened {path}")


class PathPrompt(ModalScreen[Path | None]):
    """Asks for a file path: enter accepts, escape cancels (the result is then None)."""

    CSS_PATH = "goal.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.initial = value

    def compose(self) -> ComposeResult:
        with Vertical(id="path-box"):
            yield Label(self.question, id="path-question", markup=False)
            yield Input(self.initial, placeholder="path/to/goal.yaml", id="path-input")
            yield Static("enter: OK   escape: cancel", id="path-help")

    @on(Input.Submitted, "#path-input")
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.dismiss(Path(text).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)


def read_goal_data(path: Path) -> dict[str, Any]:
    """The goal file's YAML as a dict, not validated; GoalSpecError if unreadable or no mapping."""
    text = read_goal_text(path)  # as load_goal reads it: a FIFO or /dev/zero is refused
    data = parse_goal_yaml(text, source=str(path))
    if not isinstance(data, dict):
        what = "is empty" if data is None else f"is a {type(data).__name__}, not a mapping"
        fix = "write the goal as a mapping of sections (name:, task:, traffic:, ...); start from "
        fix += "a file in examples/goals/"
        problem = Problem(field="", message=f"the goal {what}", fix=fix)
        raise GoalSpecError([problem], source=str(path))
    return data


def problem_texts(problems: Iterable[Problem], field_paths: Sequence[str]) -> dict[str, str]:
    """``message To fix: fix`` per field path, in form order; problems of a path that is no
    field (``''``, a section) follow, keyed by that path. ``a.b[2]`` belongs to field ``a.b``."""
    placed: dict[str, list[str]] = {path: [] for path in field_paths}
    other: dict[str, list[str]] = {}
    for problem in problems:
        text = f"{_sentence(problem.message)} To fix: {_sentence(problem.fix)}"
        index = _INDEX.search(problem.field)
        field = problem.field[: index.start()] if index else problem.field
        if index:
            text = f"item {int(index.group(1)) + 1}: {text}"
        (placed[field] if field in placed else other.setdefault(field, [])).append(text)
    return {path: "\n".join(texts) for path, texts in (*placed.items(), *other.items()) if texts}


def _summary(errors: dict[str, str], fields: set[str]) -> str:
    if not errors:
        return "The goal is valid."
    names = ", ".join(path or "goal" for path in errors)
    lines = [f"{len(errors)} field{'s' if len(errors) != 1 else ''} with problems: {names}"]
    lines += [f"{path or 'goal'}: {text}" for path, text in errors.items() if path not in fields]
    return "\n".join(lines)


def _initial_data(path: Path) -> tuple[dict[str, Any] | None, str]:
    if not path.exists():
        return None, f"New goal: {path} does not exist yet; ctrl+s creates it."
    try:
        return read_goal_data(path), f"Opened {path}"
    except GoalSpecError as error:
        return None, f"Could not open the goal: {error}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."
