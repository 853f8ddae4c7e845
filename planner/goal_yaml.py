"""Goal YAML as YAML 1.2 reads it: the loader and dumper of goal files.

PyYAML implements YAML 1.1, whose implicit scalars surprise: ``010`` is 8, ``1:30`` is 90,
``yes``/``no``/``on``/``off`` are flags, ``2024-01-01`` is a date, ``1e6`` is text and ``=`` is
an error. :class:`GoalLoader` reads scalars as YAML 1.2's core schema does: ``010`` is 10,
``0o17`` 15, ``0x1A`` 26, ``1e6`` the number 1000000.0; ``1:30``, ``yes``, dates and ``=`` are
text; only ``true``/``false`` (in any case) are flags. Kept from YAML 1.1: ``_`` between digits
(``1_000_000``, as Python writes it) and merge keys (``<<``). It also refuses a key given twice
in one mapping, which YAML would let the last one win silently.

:func:`dump_goal_yaml` quotes any text that YAML 1.2 *or* 1.1 would read as something else
(``'1e6'``, ``'yes'``), so every YAML reader reads the dump back the same.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

__all__ = ["BaseLoader", "GoalLoader", "dump_goal_yaml", "is_duplicate_key"]

if TYPE_CHECKING:  # typed as the pure-Python safe loader that libyaml's C loader mirrors
    BaseLoader = yaml.SafeLoader
    _BaseDumper = yaml.SafeDumper
else:  # libyaml's C loader (and dumper) when PyYAML has it
    BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# YAML 1.2 core schema (yaml.org/spec/1.2.2 §10.3.2), plus `_` between digits as YAML 1.1 and
# Python allow. Tags resolved implicitly by YAML 1.1 and not by 1.2 (timestamp, value) are dropped.
_DIGITS = r"[0-9](?:_?[0-9])*"
_INT = rf"^(?:[-+]?{_DIGITS}|0o[0-7]+|0x[0-9a-fA-F]+)$"
_FLOAT = (
    rf"^(?:[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL = r"^(?:true|True|TRUE|false|False|FALSE)$"
_TAG = "tag:yaml.org,2002:"
_YAML_11_ONLY = {f"{_TAG}{name}" for name in ("bool", "int", "float", "timestamp", "value")}
_YAML_12 = (  # (tag, pattern, first characters); int before float: `10` is an int
    (f"{_TAG}bool", _BOOL, "tTfF"),
    (f"{_TAG}int", _INT, "-+0123456789"),
    (f"{_TAG}float", _FLOAT, "-+.0123456789"),
)


def _yaml_12_resolvers(
    yaml_11: dict[Any, list[tuple[str, re.Pattern[str]]]], *, keep_yaml_11: bool = False
) -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers with the YAML 1.1 scalar ones swapped for YAML 1.2 core's
    (``keep_yaml_11``: both, so that text either would read as no text is quoted)."""
    resolvers = {
        first: [(tag, regexp) for tag, regexp in pairs if keep_yaml_11 or tag not in _YAML_11_ONLY]
        for first, pairs in yaml_11.items()
    }
    for tag, pattern, firsts in _YAML_12:
        for first in firsts:
            resolvers.setdefault(first, []).append((tag, re.compile(pattern)))
    return resolvers


def _refuse(node: yaml.Node, text: str, what: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        None, None, f"{text[:40]!r}{'...' if len(text) > 40 else ''} is not {what}", node.start_mark
    )


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    digits = text.replace("_", "")
    base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
    try:
        return int(digits[2:] if base != 10 else digits, base)  # int("010") is 10
    except ValueError:  # also past Python's 4,300-digit limit
        raise _refuse(node, text, "an integer (YAML 1.2)") from None


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    lowered = text.lower().replace("_", "")
    if lowered in (".inf", "+.inf", "-.inf", ".nan"):
        lowered = lowered.replace(".", "")
    try:
        return float(lowered)
    except ValueError:
        raise _refuse(node, text, "a number (YAML 1.2)") from None


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    if text.lower() not in ("true", "false"):
        raise _refuse(node, text, "true or false (YAML 1.2 has no yes/no/on/off)")
    return text.lower() == "true"


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice."""


class GoalLoader(BaseLoader):
    """Safe loader with YAML 1.2 core scalars that refuses a key given twice in one mapping
    (YAML keeps the last silently)."""

    yaml_implicit_resolvers = _yaml_12_resolvers(BaseLoader.yaml_implicit_resolvers)
    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **BaseLoader.yaml_constructors,
        f"{_TAG}int": _construct_int,
        f"{_TAG}float": _construct_float,
        f"{_TAG}bool": _construct_bool,
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else key_node
            if key in seen and key != "<<":
                message = f"key {key!r} appears twice"
                raise _DuplicateKeyError(None, None, message, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _GoalDumper(_BaseDumper):
    """Safe dumper that quotes text YAML 1.2 or 1.1 would read as something else (``'1e6'``,
    ``'yes'``), so that any YAML reader reads the goal back the same."""

    yaml_implicit_resolvers = _yaml_12_resolvers(
        _BaseDumper.yaml_implicit_resolvers, keep_yaml_11=True
    )


def dump_goal_yaml(data: object) -> str:
    """``data`` as block YAML that :func:`planner.problems.parse_goal_yaml`, and YAML 1.1
    readers such as ``yaml.safe_load``, read back equal."""
    return yaml.dump(data, Dumper=_GoalDumper, sort_keys=False, allow_unicode=True, width=100)


def is_duplicate_key(error: yaml.YAMLError) -> bool:
    """Whether ``error`` is :class:`GoalLoader` refusing a key given twice."""
    return isinstance(error, _DuplicateKeyError)
