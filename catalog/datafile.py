"""Reading catalog data files (YAML lists, CSV tables) into records, with file:line errors."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from catalog.errors import CatalogFileError

__all__ = [
    "describe_validation_error",
    "read_csv_records",
    "read_yaml_records",
    "write_csv_records",
]

R = TypeVar("R", bound=BaseModel)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def describe_validation_error(error: ValidationError) -> str:
    """One sentence per problem: ``field: message``."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(row)"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts) + "."


def _yaml_items(path: Path, key: str) -> Iterator[tuple[int, Any]]:
    """Yield (line, python value) for each item of the list under ``key``."""
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise CatalogFileError(
            str(path),
            line,
            f"is not valid YAML ({getattr(exc, 'problem', exc)}).",
            "correct the YAML syntax at that line.",
        ) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise CatalogFileError(
            str(path),
            1,
            f"must be a mapping with a `{key}:` list.",
            f"start the file with `{key}:` followed by a list of entries.",
        )
    for key_node, value_node in root.value:
        if key_node.value != key:
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise CatalogFileError(
                str(path),
                value_node.start_mark.line + 1,
                f"`{key}` must be a list.",
                f"write `{key}:` followed by `- ...` entries.",
            )
        for item in value_node.value:
            value = yaml.load(yaml.serialize(item), Loader=_Loader)
            yield item.start_mark.line + 1, value
        return
    raise CatalogFileError(
        str(path), 1, f"has no `{key}:` list.", f"add a top-level `{key}:` list of entries."
    )


def read_yaml_records(path: Path, key: str, record: type[R]) -> list[R]:
    """Validate every item of the YAML list ``key`` as ``record``; errors name file:line."""
    records = []
    for line, value in _yaml_items(path, key):
        if not isinstance(value, dict):
            raise CatalogFileError(
                str(path),
                line,
                f"entry is a {type(value).__name__}, not a mapping.",
                "write each entry as `- field: value` lines.",
            )
        try:
            records.append(record.model_validate(value))
        except ValidationError as exc:
            raise CatalogFileError(
                str(path),
                line,
                f"invalid {record.__name__}: {describe_validation_error(exc)}",
                f"correct those fields (see `tailor catalog --help` for the {record.__name__} "
                "fields and their units).",
            ) from None
    return records


def read_csv_records(path: Path, record: type[R]) -> list[R]:
    """Validate every CSV row (header = field names) as ``record``; errors name file:line."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = set(record.model_fields)
        unknown = set(reader.fieldnames or ()) - fields
        if unknown:
            raise CatalogFileError(
                str(path),
                1,
                f"unknown column(s) {sorted(unknown)}.",
                f"use only these columns: {', '.join(record.model_fields)}.",
            )
        rows = []
        for row in reader:
            values = {k: v for k, v in row.items() if v not in ("", None)}
            try:
                rows.append(record.model_validate(values))
            except ValidationError as exc:
                raise CatalogFileError(
                    str(path),
                    reader.line_num,
                    f"invalid {record.__name__}: {describe_validation_error(exc)}",
                    "correct that row.",
                ) from None
        return rows


def write_csv_records(path: Path, records: list[BaseModel], record: type[BaseModel]) -> None:
    """Write records as CSV (header = field names), atomically; tuples joined with ';'."""
    columns = list(record.model_fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for item in records:
            row = item.model_dump(mode="json")
            writer.writerow(
                {
                    k: ";".join(v) if isinstance(v, list) else ("" if v is None else v)
                    for k, v in row.items()
                }
            )
    tmp.replace(path)
