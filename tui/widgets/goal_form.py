"""The goal form: one labelled row per goal field, built by walking the GoalSpec models.

A field added to :mod:`planner.spec` appears here without UI changes: :func:`goal_groups` reads
``GoalSpec.model_fields`` (and each section's) and the field's type picks the widget:

- StrEnum → Select, with a blank option only when the field may be unset (no default);
- bool → Switch;
- int, float → Input; text that parses becomes a number, other text is passed on as typed;
- tuple of text or enum → Input of comma-separated values;
- anything else → Input.

The form does not validate. :meth:`GoalForm.data` builds the goal dict from the widgets (empty
fields are left out, so the spec's defaults apply) and the screen shows the spec's own problems
by setting :attr:`GoalForm.errors`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from planner.problems import unwrap_annotation
from planner.spec import GoalSpec

__all__ = [
    "MISSING",
    "OMIT",
    "FieldSpec",
    "GoalForm",
    "GroupSpec",
    "Kind",
    "field_text",
    "field_value",
    "goal_groups",
    "lookup",
    "unknown_paths",
]

OMIT: Any = object()
"""What :func:`field_value` returns for an empty field: leave the key out of the goal dict."""
MISSING: Any = object()
"""What :func:`lookup` returns for a path the data does not hold."""


class Kind(StrEnum):
    """How a field is edited."""

    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    LIST = "list"


@dataclass(frozen=True)
class FieldSpec:
    """One goal field as the form shows it."""

    path: str  # dotted, e.g. "traffic.avg_input_tokens"
    kind: Kind
    required: bool  # no default: leaving it empty is an error
    nullable: bool  # None is a valid value (e.g. "no limit")
    default: Any  # None when required
    choices: tuple[str, ...]  # enum values (CHOICE, or LIST of an enum)
    description: str
    example: Any  # the field's first example; None when it gives none

    @property
    def name(self) -> str:
        """The field's own name, as the YAML file spells it."""
        return self.path.rpartition(".")[2]

    @property
    def widget_id(self) -> str:
        """DOM id of the field's widget, e.g. ``f-traffic-avg_input_tokens``."""
        return "f-" + self.path.replace(".", "-")

    @property
    def error_id(self) -> str:
        """DOM id of the Static under the widget that shows the field's problems."""
        return "e-" + self.path.replace(".", "-")

    @property
    def may_be_blank(self) -> bool:
        """Whether the field can be left unset (a Select then offers a blank option)."""
        return self.required or self.nullable


@dataclass(frozen=True)
class GroupSpec:
    """The plain fields of one model: a goal section, or ``''`` for the goal's own fields."""

    path: str
    title: str
    about: str  # the model docstring's first line
    fields: tuple[FieldSpec, ...]
    optional: bool = False  # the section may be absent (e.g. ``batch``): left out while empty

    @property
    def box_id(self) -> str:
        """DOM id of the group's bordered box, e.g. ``s-traffic``."""
        return "s-" + (self.path.replace(".", "-") or "goal")


def goal_groups(
    model: type[BaseModel] = GoalSpec, prefix: str = "", *, optional: bool = False
) -> tuple[GroupSpec, ...]:
    """The model's plain fields as one group, then every nested model's groups, in field order.

    A section the goal may leave out (``batch: BatchSpec | None``) is ``optional``: the form
    writes it only when one of its fields has a value.
    """
    fields: list[FieldSpec] = []
    nested: list[GroupSpec] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        base, _, nullable = unwrap_annotation(info.annotation)
        if isinstance(base, type) and issubclass(base, BaseModel):
            nested.extend(goal_groups(base, path, optional=optional or nullable))
        else:
            fields.append(_field_spec(path, info, base, nullable))
    if not fields and prefix:
        return tuple(nested)
    about = _first_line(model.__doc__)
    own = GroupSpec(prefix, prefix or "goal", about, tuple(fields), optional)
    return (own, *nested)


def _field_spec(path: str, info: FieldInfo, base: Any, nullable: bool) -> FieldSpec:
    kind, choices = _kind(base)
    required = info.is_required()
    return FieldSpec(
        path=path,
        kind=kind,
        required=required,
        nullable=nullable,
        default=None if required else info.get_default(call_default_factory=True),
        choices=choices,
        description=(info.description or "").strip(),
        example=info.examples[0] if info.examples else None,
    )


def _kind(base: Any) -> tuple[Kind, tuple[str, ...]]:
    if get_origin(base) is tuple:
        item = unwrap_annotation(get_args(base)[0]).base
        return Kind.LIST, _choices(item)
    if base is bool:
        return Kind.BOOL, ()
    if choices := _choices(base):
        return Kind.CHOICE, choices
    return {int: Kind.INT, float: Kind.FLOAT}.get(base, Kind.TEXT), ()


def _choices(base: Any) -> tuple[str, ...]:
    if isinstance(base, type) and issubclass(base, Enum):
        return tuple(str(member.value) for member in base)
    return ()


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


# --- values <-> text ------------------------------------------------------------------------


def field_text(value: Any) -> str:
    """``value`` as an Input shows it: ``''`` for None, lists comma-separated."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_scalar_text(item) for item in value)
    return _scalar_text(value)


def _scalar_text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_value(spec: FieldSpec, raw: Any) -> Any:
    """The goal-dict value of a widget's value, or :data:`OMIT` when the field is empty.

    Numbers are converted where the text parses (``"5"`` is 5 for an int field, 5.0 for a float
    field); any other text is passed on as typed so that the spec's validation reports it.
    """
    if spec.kind is Kind.BOOL:
        return raw
    if spec.kind is Kind.CHOICE:
        return OMIT if raw is Select.NULL else raw
    text = str(raw).strip()
    if not text:
        return OMIT
    if spec.kind is Kind.LIST:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return items or OMIT
    if spec.kind in (Kind.INT, Kind.FLOAT):
        try:
            return int(text) if spec.kind is Kind.INT else float(text)
        except ValueError:
            return text
    return text


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of nested mappings, or :data:`MISSING`."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def unknown_paths(data: Mapping[str, Any], groups: tuple[GroupSpec, ...]) -> list[str]:
    """Paths in ``data`` the form has no field for (unknown keys, sections that are not maps)."""
    fields = {spec.path for group in groups for spec in group.fields}
    sections = {group.path for group in groups}
    sections |= {path.rpartition(".")[0] for path in sections | fields}
    return list(_walk_unknown(data, "", fields, sections))


def _walk_unknown(
    node: Mapping[Any, Any], prefix: str, fields: set[str], sections: set[str]
) -> Iterator[str]:
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if path in fields or (path in sections and value is None):
            continue
        if path in sections and isinstance(value, Mapping):
            yield from _walk_unknown(value, path, fields, sections)
        else:
            yield path


def _show(value: Any) -> str:
    return reprlib.repr(value)


# --- the widget -----------------------------------------------------------------------------


class GoalForm(VerticalScroll, can_focus=False):
    """Every goal field in one scrolling column, a bordered box per section.

    The column itself takes no focus: Tab goes from field to field and scrolls each into view.
    """

    errors: reactive[dict[str, str]] = reactive(dict, init=False)
    """Field path → problem text shown under that field (set by the screen)."""

    def __init__(self, groups: tuple[GroupSpec, ...] | None = None, *, id: str | None = None):
        super().__init__(id=id)
        self.groups = groups if groups is not None else goal_groups()
        self.fields = tuple(spec for group in self.groups for spec in group.fields)
        self._widgets: dict[str, Widget] = {}

    def compose(self) -> ComposeResult:
        self._widgets = {spec.path: _field_widget(spec) for spec in self.fields}
        for group in self.groups:
            with Vertical(id=group.box_id, classes="goal-section") as box:
                box.border_title = group.title
                if group.about:
                    yield Static(group.about, classes="section-about", markup=False)
                for spec in group.fields:
                    yield from _field_row(spec, self._widgets[spec.path])

    def widget_for(self, path: str) -> Widget:
        """The widget that edits the field at ``path`` (KeyError: no such field)."""
        return self._widgets[path]

    def data(self) -> dict[str, Any]:
        """The goal as :func:`~planner.spec.parse_goal` takes it; empty fields are left out."""
        goal: dict[str, Any] = {}
        for group in self.groups:
            values, changed = {}, not group.optional
            for spec in group.fields:
                value = field_value(spec, getattr(self.widget_for(spec.path), "value", None))
                if value is not OMIT:
                    values[spec.path.rpartition(".")[2]] = value
                    changed = changed or value != spec.default
            if changed:  # an optional section showing only its defaults stays absent
                _mapping_at(goal, group.path).update(values)
        return goal

    def fill(self, data: Mapping[str, Any]) -> list[str]:
        """Show ``data`` (the default where a field is absent); says what could not be shown."""
        notes = [f"{path} (not a field of the goal)" for path in unknown_paths(data, self.groups)]
        for spec in self.fields:
            value = lookup(data, spec.path)
            note = self._set(spec, spec.default if value is MISSING else value)
            if note:
                notes.append(note)
        return notes

    def _set(self, spec: FieldSpec, value: Any) -> str | None:
        widget = self.widget_for(spec.path)
        if isinstance(widget, Switch):
            widget.value = value if isinstance(value, bool) else bool(spec.default)
            return None if isinstance(value, bool) else f"{spec.path} ({_show(value)}: not a flag)"
        if isinstance(widget, Select):
            text = field_text(value)
            if text in spec.choices or (not text and spec.may_be_blank):
                _select(widget, text)
                return None
            _select(widget, field_text(spec.default))
            return f"{spec.path} ({_show(value)}: not one of {', '.join(spec.choices)})"
        if isinstance(widget, Input):
            widget.value = field_text(value)
        return None

    def watch_errors(self, errors: dict[str, str]) -> None:
        for spec in self.fields:
            text = errors.get(spec.path, "")
            static = self.query_one(f"#{spec.error_id}", Static)
            if str(static.content) != text:
                static.update(text)
            static.display = bool(text)
            if static.parent is not None:
                static.parent.set_class(bool(text), "-has-error")


def _select(widget: Select[str], text: str) -> None:
    if text:
        widget.value = text
    elif widget.value is not Select.NULL:
        widget.clear()


def _mapping_at(root: dict[str, Any], path: str) -> dict[str, Any]:
    node = root
    for part in filter(None, path.split(".")):
        node = node.setdefault(part, {})
    return node


def _field_row(spec: FieldSpec, widget: Widget) -> ComposeResult:
    with Vertical(classes="goal-field"):
        with Horizontal(classes="field-line"):
            yield Label(spec.name + (" *" if spec.required else ""), classes="field-name")
            yield widget
        if spec.description:
            yield Static(spec.description, classes="field-help", markup=False)
        yield Static("", id=spec.error_id, classes="field-error", markup=False)


def _field_widget(spec: FieldSpec) -> Widget:
    widget: Widget
    if spec.kind is Kind.BOOL:
        widget = Switch(bool(spec.default), id=spec.widget_id)
    elif spec.kind is Kind.CHOICE:
        text = field_text(spec.default)
        widget = Select(
            [(choice, choice) for choice in spec.choices],
            prompt="(none)" if spec.nullable else "(choose)",
            allow_blank=spec.may_be_blank,
            value=text if text in spec.choices else Select.NULL,
            id=spec.widget_id,
            compact=True,
        )
    else:
        example = f"e.g. {field_text(spec.example)}" if spec.example is not None else ""
        widget = Input(
            field_text(spec.default), placeholder=example, id=spec.widget_id, compact=True
        )
    if spec.description:
        widget.tooltip = Content(spec.description)
    return widget
