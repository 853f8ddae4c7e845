"""A hypothesis strategy for the instances of a JSON Schema: the subset `tailor schema` uses.

Structure (``$ref``, ``type``, ``properties``/``required``/``additionalProperties: false``,
``items``/``minItems``/``uniqueItems``, ``anyOf``, ``enum``/``const``) and the bounds of numbers
and strings are generated directly; everything else a schema may say (``if``/``then``/``else``,
``dependentRequired``, ``not``, ``allOf``) is left to :func:`schema_valid`, which keeps only the
instances ``jsonschema`` (Draft 2020-12) accepts. JSON Schema counts ``3000.0`` as an integer,
so integers are drawn as ints and as integral floats.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

__all__ = ["instances", "schema_valid"]

_MAX_ITEMS = 3
_BIG = 2**53  # floats are exact integers up to here


def schema_valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances built from ``schema``'s structure, kept only if the whole schema accepts them."""
    validator = Draft202012Validator(schema)
    return instances(schema, schema).filter(validator.is_valid)


def instances(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the sub-schema ``node`` (``root`` resolves ``$ref``), structure and bounds only."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: instances(root["$defs"][name], root))
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "anyOf" in node:
        return st.one_of([instances(option, root) for option in node["anyOf"]])
    kind = node.get("type")
    if kind == "object":
        return _objects(node, root)
    if kind == "array":
        unique = node.get("uniqueItems", False)
        return st.lists(
            instances(node.get("items", {}), root),
            min_size=node.get("minItems", 0),
            max_size=node.get("maxItems", _MAX_ITEMS),
            unique_by=repr if unique else None,
        )
    return _scalars(node, kind)


def _scalars(node: dict[str, Any], kind: object) -> st.SearchStrategy[Any]:
    if kind == "string":
        return _strings(node)
    if kind == "integer":
        ints = _integers(node)
        return ints | ints.filter(lambda n: abs(n) <= _BIG).map(float)
    if kind == "number":
        return _integers(node) | _floats(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise NotImplementedError(f"schema node not covered by this strategy: {node}")


def _objects(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    assert node.get("additionalProperties") is False, "only closed objects are generated"
    properties = node.get("properties", {})
    required = set(node.get("required", ()))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or draw(st.integers(0, 3)) > 0:  # optional: present 3 in 4
                out[name] = draw(instances(sub, root))
        return out

    return build()


def _integers(node: dict[str, Any]) -> st.SearchStrategy[int]:
    low = math.ceil(node["minimum"]) if "minimum" in node else None
    if "exclusiveMinimum" in node:
        low = math.floor(node["exclusiveMinimum"]) + 1
    high = math.floor(node["maximum"]) if "maximum" in node else None
    if "exclusiveMaximum" in node:
        high = math.ceil(node["exclusiveMaximum"]) - 1
    return st.integers(min_value=low, max_value=high)


def _floats(node: dict[str, Any]) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=node.get("minimum", node.get("exclusiveMinimum")),
        max_value=node.get("maximum", node.get("exclusiveMaximum")),
        exclude_min="exclusiveMinimum" in node,
        exclude_max="exclusiveMaximum" in node,
        allow_nan=False,
        allow_infinity=False,
    )


def _strings(node: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength")
    if "pattern" not in node:
        return st.text(min_size=low, max_size=high if high is not None else 20)
    # ECMA-262 `$` matches only at the very end; Python's also before a final newline.
    pattern = node["pattern"]
    text = st.from_regex(pattern, fullmatch=True).filter(lambda s: not s.endswith("\n"))
    return text.filter(lambda s: low <= len(s) <= (high if high is not None else len(s)))
