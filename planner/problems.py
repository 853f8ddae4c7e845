"""Problems from YAML and pydantic: the generic half of reading a goal (or any frozen model).

:func:`parse_goal_yaml` turns bad YAML syntax (with its line), a key given twice or absurd
nesting into a :class:`~planner.errors.GoalSpecError`. Scalars are read as YAML 1.2
reads them (see :mod:`planner.goal_yaml`): ``010`` is 10, ``1:30`` and ``yes`` are text.

:func:`conflict` is how a cross-field rule (in ``planner.spec``) fails: a ``goal_conflict``
:class:`~pydantic_core.PydanticCustomError` whose context names the field it concerns and the
fix, so it is reported alongside ordinary type errors.

:func:`problems_from_validation` turns each pydantic error item (the first
:data:`~planner.errors.MAX_PROBLEMS` of them) into a :class:`~planner.errors.Problem`: the dotted
field path, the goal file's line where it can be found, and a "To fix" sentence written from
the field's type, bounds, example and description.
:func:`unwrap_annotation` takes a field annotation apart (the goal form uses it too).
"""

from __future__ import annotations

import difflib
import math
import reprlib
import types
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from planner.errors import MAX_PROBLEMS, GoalSpecError, Problem
from planner.goal_yaml import BaseLoader as _Loader
from planner.goal_yaml import GoalLoader as _GoalLoader
from planner.goal_yaml import is_duplicate_key

__all__ = [
    "CONFLICT",
    "Unwrapped",
    "conflict",
    "parse_goal_yaml",
    "problems_from_validation",
    "round_up",
    "unwrap_annotation",
]

CONFLICT = "goal_conflict"
_MAX_DEPTH = 32  # a goal nests 3 levels; libyaml's composer crashes (C stack) near 50,000
_UNBOUNDED = 10**15  # bounds at or above this only guard arithmetic; not worth telling the user
Loc = tuple[int | str, ...]


def conflict(message: str, *, fix: str, field: str = "") -> PydanticCustomError:
    """The error a cross-field rule raises: reported on ``field`` (relative to the model the
    validator runs on) with ``fix`` as its "To fix"."""
    return PydanticCustomError(CONFLICT, message, {"field": field, "fix": fix})


def round_up(value: float) -> str:
    """``value`` rounded up to 3 significant figures."""
    scale = 10 ** (2 - math.floor(math.log10(value)))
    return f"{math.ceil(value * scale) / scale:g}"


def parse_goal_yaml(text: str, *, source: str) -> object:
    """The YAML document in ``text``; bad syntax or a repeated key is a GoalSpecError."""
    try:
        line = _too_deep_line(text)
        if line is None:
            return yaml.load(text, Loader=_GoalLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        detail = getattr(error, "problem", None) or str(error).splitlines()[0]
        fix = (
            "keep one of the two entries and delete the other"
            if is_duplicate_key(error)
            else "correct the YAML at that line: nest fields with consistent spaces (no tabs), "
            "put a space after each ':', and quote values that contain ': ' or ' #'"
        )
        line = mark.line + 1 if mark is not None else None
        problem = Problem(field="", message=f"is not valid YAML: {detail}", fix=fix, line=line)
        raise GoalSpecError([problem], source=source) from None
    message = f"nests collections more than {_MAX_DEPTH} levels deep"
    fix = "write the goal as sections of plain fields, as in examples/goals/"
    raise GoalSpecError([Problem(field="", message=message, fix=fix, line=line)], source=source)


def _too_deep_line(text: str) -> int | None:
    """Line where nesting passes _MAX_DEPTH (events: libyaml's composer would overflow), or None."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                mark = event.start_mark
                return mark.line + 1 if mark is not None else None
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def problems_from_validation(
    error: ValidationError,
    model: type[BaseModel],
    *,
    text: str | None = None,
    limit: int = MAX_PROBLEMS,
) -> list[Problem]:
    """One Problem per error item of validating ``model``, the first ``limit`` of them (the rest
    are ``error.error_count() - limit``); ``text`` (the YAML) gives lines."""
    items = error.errors(include_url=False)[:limit]
    lines = _Lines(text)
    return [_problem(item, model, lines) for item in items]


def _problem(item: Any, model: type[BaseModel], lines: _Lines) -> Problem:
    loc: Loc = tuple(item["loc"])
    ctx = item.get("ctx") or {}
    if item["type"] == CONFLICT:
        path = (*loc, *[p for p in str(ctx.get("field", "")).split(".") if p])
        return Problem(
            field=_dotted(path), message=item["msg"], fix=str(ctx["fix"]), line=lines.of(path)
        )
    if item["type"] == "invalid_key":
        loc = (*loc[:-1], str(loc[-1]))
    parent, info = _locate(model, loc)
    return Problem(
        field=_dotted(loc),
        message=_message(item),
        fix=_fix(item, loc, model, parent, info),
        line=lines.of(loc),
    )


def _message(item: Any) -> str:
    kind = item["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "invalid_key":
        return "is not a valid field name (field names are text)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (got {_show(item['input'])})"
    return f"{item['msg']} (got {_show(item['input'])})"


def _fix(
    item: Any, loc: Loc, root: type[BaseModel], parent: type[BaseModel], info: FieldInfo | None
) -> str:
    kind = item["type"]
    names = [str(p) for p in loc if isinstance(p, str)]
    leaf = names[-1] if names else ""
    if kind in ("extra_forbidden", "invalid_key") or info is None:
        return _fix_unknown(leaf, tuple(names[:-1]), root, parent)
    field_path = ".".join(names)
    section = _model_class(info.annotation)
    if section is not None:
        fields = ", ".join(section.model_fields)
        if kind == "missing":
            return f"add a `{field_path}:` section with its fields ({fields}) indented under it"
        return f"write `{field_path}:` as a mapping of fields ({fields}), one per indented line"
    value = _rule(info) + (f" (e.g. {_inline(info.examples[0])})" if info.examples else "")
    if kind == "missing":
        where = f"under `{'.'.join(names[:-1])}:`" if len(names) > 1 else "at the top level"
        return f"add `{leaf}:` {where}, set to {value}: {_about(info)}"
    default = "" if info.is_required() else ", or delete the line to use the default"
    return f"set `{field_path}` to {value}{default}{_hint(item)}: {_about(info)}"


def _hint(item: Any) -> str:
    """A word on the YAML habits behind common type errors."""
    value, kind = item["input"], item["type"]
    if kind == "bool_type" and isinstance(value, str):
        return " (goals are read as YAML 1.2, where only true and false are flags)"
    if kind not in ("int_type", "float_type"):
        return ""
    if isinstance(value, bool):
        return " (true and false are flags; YAML 1.2 reads yes/no/on/off as text)"
    if isinstance(value, str):
        return (
            " (write numbers without quotes, e.g. 1000000, 1_000_000 or 1e6; YAML 1.2 reads "
            "1:30 as text)"
        )
    return ""


def _fix_unknown(
    leaf: str, parent_path: tuple[str, ...], root: type[BaseModel], parent: type[BaseModel]
) -> str:
    where = f"`{'.'.join(parent_path)}`" if parent_path else "the top level"
    fields = ", ".join(parent.model_fields)
    home = [
        name
        for name, info in root.model_fields.items()
        if (section := _model_class(info.annotation)) and leaf in section.model_fields
    ]
    if home and (home[0],) != parent_path:
        return f"move `{leaf}` under `{home[0]}:`, where it belongs; {where} accepts: {fields}"
    close = difflib.get_close_matches(leaf, list(parent.model_fields), n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"remove or rename `{leaf}`{hint}; {where} accepts: {fields}"


def _locate(model: type[BaseModel], loc: Loc) -> tuple[type[BaseModel], FieldInfo | None]:
    """The model that holds the field at ``loc``, and that field's info (None: no such field)."""
    parent: type[BaseModel] = model
    current: type[BaseModel] | None = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):  # an item of a list field: described by the list field
            continue
        if current is None or part not in current.model_fields:
            return current or parent, None
        parent, info = current, current.model_fields[part]
        current = _model_class(info.annotation)
    return parent, info


class Unwrapped(NamedTuple):
    """A field annotation taken apart (see :func:`unwrap_annotation`)."""

    base: Any
    constraints: list[Any]
    nullable: bool


def unwrap_annotation(annotation: Any, metadata: Sequence[Any] = ()) -> Unwrapped:
    """The bare type inside Annotated[...] and ``X | None``, every constraint found, and whether
    None is allowed. The goal form (tui) builds its widgets from the same walk."""
    constraints, nullable = list(metadata), False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                constraints += item.metadata if isinstance(item, FieldInfo) else [item]
        elif origin in (Union, types.UnionType):
            args = get_args(annotation)
            nullable = nullable or type(None) in args
            annotation = next(a for a in args if a is not type(None))
        else:
            return Unwrapped(annotation, constraints, nullable)


def _model_class(annotation: Any) -> type[BaseModel] | None:
    base = unwrap_annotation(annotation).base
    return base if isinstance(base, type) and issubclass(base, BaseModel) else None


def _rule(info: FieldInfo) -> str:
    """What a valid value looks like, e.g. ``a whole number greater than 0``."""
    base, constraints, _ = unwrap_annotation(info.annotation, info.metadata)
    if get_origin(base) is tuple:
        item = unwrap_annotation(get_args(base)[0]).base
        return f"a list of {_kind(item, [])}"
    return _kind(base, constraints)


def _kind(base: Any, constraints: list[Any]) -> str:
    if isinstance(base, type) and issubclass(base, Enum):
        return "one of " + ", ".join(str(m.value) for m in base)
    if base is bool:
        return "true or false"
    if base is str:
        return "text"
    noun = "a whole number" if base is int else "a number"
    words = {"gt": "greater than", "ge": "of at least", "lt": "below", "le": "of at most"}
    bounds = [
        f"{text} {getattr(c, key):g}"
        for c in constraints
        for key, text in words.items()
        if getattr(c, key, None) is not None and getattr(c, key) < _UNBOUNDED
    ]
    return " ".join([noun, " and ".join(bounds)]).strip()


def _about(info: FieldInfo) -> str:
    text = (info.description or "see examples/goals/").strip().rstrip(".")
    if len(text) > 1 and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _inline(value: object) -> str:
    """``value`` as it would be written in the goal file, on one line."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=1000)
    return dumped.removesuffix("\n...\n").strip()


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 5


def _show(value: object) -> str:
    # Bounded repr: YAML aliases can make a tiny file a huge (shared) structure.
    shown = _inline(value) if isinstance(value, bool | None | int | float) else _REPR.repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


class _Lines:
    """1-based lines of field paths in a goal's composed YAML; each mapping's keys are indexed
    the first time a path goes through it, so thousands of problems cost one pass, not one
    pass each."""

    def __init__(self, text: str | None) -> None:
        self.root = _compose(text)
        self._keys: dict[int, dict[str, tuple[yaml.Node, int]]] = {}

    def of(self, loc: Loc) -> int | None:
        """Line of the deepest part of ``loc`` present in the YAML (None: not even the first)."""
        node, line = self.root, None
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child, line = self._index(node).get(str(part), (None, line))
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                child = node.value[part] if part < len(node.value) else None
                line = child.start_mark.line + 1 if child is not None else line
            if child is None:
                break
            node = child
        return line

    def _index(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, int]]:
        if id(node) not in self._keys:  # the last of a repeated key wins, as when loading
            self._keys[id(node)] = {
                key.value: (value, key.start_mark.line + 1)
                for key, value in node.value
                if isinstance(key, yaml.ScalarNode)
            }
        return self._keys[id(node)]


def _compose(text: str | None) -> yaml.Node | None:
    if text is None:
        return None
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
