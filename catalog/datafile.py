"""Reading catalog data files (YAML lists, CSV tables) into records, with file:line errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from catalog.errors import CatalogFileError
from catalog.files import write_text_atomic

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


def _yaml_error(path: Path, exc: yaml.YAMLError) -> CatalogFileError:
    mark = getattr(exc, "problem_mark", None)
    return CatalogFileError(
        f"is not valid YAML ({getattr(exc, 'problem', None) or exc}).",
        path=path,
        line=mark.line + 1 if mark else None,
        fix="correct the YAML syntax at that line.",
    )


def _item_line(text: str, key: str, index: int) -> int | None:
    """Line (1-based) of item ``index`` of the list under ``key``; composed only on error."""
    root = yaml.compose(text, Loader=_Loader)
    for key_node, value_node in getattr(root, "value", []):
        if key_node.value == key and isinstance(value_node, yaml.SequenceNode):
            return value_node.value[index].start_mark.line + 1
    return None


def _yaml_list(path: Path, text: str, key: str) -> list[Any]:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    if not isinstance(data, dict) or key not in data:
        raise CatalogFileError(
            f"has no top-level `{key}:` list.",
            path=path,
            line=1,
            fix=f"start the file with `{key}:` followed by `- field: value` entries.",
        )
    items = data[key]
    if not isinstance(items, list):
        raise CatalogFileError(
            f"`{key}` must be a list.",
            path=path,
            fix=f"write `{key}:` then `- ...` entries.",
        )
    return items


def read_yaml_records(path: Path, key: str, record: type[R]) -> list[R]:
    """Validate every item of the YAML list ``key`` as ``record``; errors name file:line."""
    text = path.read_text(encoding="utf-8")
    records = []
    for index, value in enumerate(_yaml_list(path, text, key)):
        if not isinstance(value, dict):
            raise CatalogFileError(
                f"entry is a {type(value).__name__}, not a mapping.",
                path=path,
                line=_item_line(text, key, index),
                fix="write each entry as `- field: value` lines.",
            )
        try:
            records.append(record.model_validate(value))
        except ValidationError as exc:
            raise CatalogFileError(
                f"invalid {record.__name__}: {describe_validation_error(exc)}",
                path=path,
                line=_item_line(text, key, index),
                fix=f"correct those fields (`tailor catalog models --json` shows valid "
                f"{record.__name__} rows).",
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
                f"unknown column(s) {sorted(unknown)}.",
                path=path,
                line=1,
                fix=f"use only these columns: {', '.join(record.model_fields)}.",
            )
        rows = []
        for row in reader:
            values = {k: v for k, v in row.items() if v not in ("", None)}
            try:
                rows.append(record.model_validate(values))
            except ValidationError as exc:
                raise CatalogFileError(
                    f"invalid {record.__name__}: {describe_validation_error(exc)}",
                    path=path,
                    line=reader.line_num,
                    fix="correct that row.",
                ) from None
        return rows


def write_csv_records(path: Path, records: Sequence[BaseModel], record: type[BaseModel]) -> None:
    """Write records as CSV (header = field names), atomically; tuples joined with ';'."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(record.model_fields))
    writer.writeheader()
    for item in records:
        row = item.model_dump(mode="json")
        writer.writerow(
            {
                k: ";".join(v) if isinstance(v, list) else ("" if v is None else v)
                for k, v in row.items()
            }
        )
    write_text_atomic(path, buffer.getvalue())
