"""Reading catalog data files (YAML lists, CSV tables) into records, with file:line errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from catalog.errors import CatalogFileError
from catalog.files import write_text_atomic

__all__ = [
    "describe_validation_error",
    "read_csv_records",
    "read_csv_records_skipping",
    "read_csv_rows",
    "read_text",
    "read_yaml_list",
    "read_yaml_records",
    "read_yaml_records_skipping",
    "write_csv_records",
    "write_csv_rows",
]

R = TypeVar("R", bound=BaseModel)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _loc_part(part: object) -> str:
    text = str(part)
    return text if text.isprintable() and len(text) <= 64 else repr(text[:64])


def describe_validation_error(error: ValidationError) -> str:
    """One sentence per problem: ``field: message`` (odd field names quoted, cut to 64)."""
    parts = []
    for item in error.errors():
        field = ".".join(_loc_part(p) for p in item["loc"]) or "(row)"
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
    lines = _item_lines(text, key)
    return lines[index] if index < len(lines) else None


@lru_cache(maxsize=4)
def _item_lines(text: str, key: str) -> tuple[int, ...]:
    root = yaml.compose(text, Loader=_Loader)
    for key_node, value_node in getattr(root, "value", []):
        if key_node.value == key and isinstance(value_node, yaml.SequenceNode):
            return tuple(item.start_mark.line + 1 for item in value_node.value)
    return ()


def read_text(path: Path, *, max_bytes: int | None = None) -> str:
    """The UTF-8 text of a regular file (of at most ``max_bytes``); anything else (a folder, a
    FIFO, other bytes, too big, no permission) is a CatalogFileError naming the file."""
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "missing" if not path.exists() else "special"
        raise CatalogFileError(
            f"is not a regular file ({kind}).",
            path=path,
            fix="point at the data file itself, or remove what is in its place.",
        )
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise CatalogFileError(
                f"is {size:,} bytes; at most {max_bytes:,} are read.",
                path=path,
                fix="check that this is the right file.",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogFileError(
            f"cannot be read ({exc.strerror}).", path=path, fix="check its permissions."
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogFileError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}).",
            path=path,
            line=line,
            fix="save the file as UTF-8.",
        ) from None


def _yaml_list(path: Path, text: str, key: str) -> list[Any]:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    except RecursionError:
        raise CatalogFileError(
            "nests lists or mappings too deeply to read.",
            path=path,
            fix="write each entry as flat `field: value` lines.",
        ) from None
    except ValueError as exc:  # a value YAML cannot construct: an integer of 4,300+ digits
        raise CatalogFileError(
            f"holds a value that cannot be read ({str(exc).split(';')[0]}).",
            path=path,
            fix="correct that value.",
        ) from None
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


def read_yaml_list(path: Path, key: str) -> list[Any]:
    """The raw items of the YAML list ``key`` (unvalidated); errors name the file."""
    return _yaml_list(path, read_text(path), key)


def _yaml_item(path: Path, text: str, key: str, index: int, value: Any, record: type[R]) -> R:
    if not isinstance(value, dict):
        raise CatalogFileError(
            f"entry is a {type(value).__name__}, not a mapping.",
            path=path,
            line=_item_line(text, key, index),
            fix="write each entry as `- field: value` lines.",
        )
    try:
        return record.model_validate(value)
    except ValidationError as exc:
        name = value.get("id")
        named = f" {str(name)[:64]!r}" if name is not None else ""
        raise CatalogFileError(
            f"invalid {record.__name__}{named}: {describe_validation_error(exc)}",
            path=path,
            line=_item_line(text, key, index),
            fix=f"correct those fields or remove the entry (`tailor catalog models --json` "
            f"shows valid {record.__name__} rows).",
        ) from None


def read_yaml_records(path: Path, key: str, record: type[R]) -> list[R]:
    """Validate every item of the YAML list ``key`` as ``record``; errors name file:line."""
    records, problems = read_yaml_records_skipping(path, key, record)
    if problems:
        raise problems[0]
    return records


def read_yaml_records_skipping(
    path: Path, key: str, record: type[R]
) -> tuple[list[R], list[CatalogFileError]]:
    """The valid items of the YAML list ``key``, and one error (file:line) per invalid item.

    A file that cannot be read as a whole (not UTF-8, not YAML, no ``key`` list) raises.
    """
    text = read_text(path)
    records, problems = [], []
    for index, value in enumerate(_yaml_list(path, text, key)):
        try:
            records.append(_yaml_item(path, text, key, index, value, record))
        except CatalogFileError as exc:
            problems.append(exc)
    return records, problems


def _csv_reader(path: Path, text: str, record: type[BaseModel]) -> csv.DictReader[str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or ()
    except csv.Error as exc:
        raise _csv_error(path, exc, 1) from None
    unknown = set(header) - set(record.model_fields)
    if unknown:
        raise CatalogFileError(
            f"unknown column(s) {sorted(unknown)}.",
            path=path,
            line=1,
            fix=f"use only these columns: {', '.join(record.model_fields)}.",
        )
    return reader


def _csv_error(path: Path, exc: csv.Error, line: int) -> CatalogFileError:
    return CatalogFileError(
        f"is not a readable CSV table ({exc}).",
        path=path,
        line=line,
        fix="correct that row (fields over 128 KB and NUL bytes are refused).",
    )


def read_csv_rows(path: Path, record: type[BaseModel]) -> list[tuple[int, dict[str, str]]]:
    """The raw rows (line, column → text) of a CSV table whose columns are ``record``'s
    fields; a file that cannot be read as a whole raises CatalogFileError."""
    reader = _csv_reader(path, read_text(path), record)
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, {k: v for k, v in row.items() if v not in ("", None)}))
    except csv.Error as exc:
        raise _csv_error(path, exc, reader.line_num + 1) from None
    return rows


def read_csv_records_skipping(
    path: Path, record: type[R]
) -> tuple[list[R], list[CatalogFileError]]:
    """The valid rows of a CSV table as ``record``, and one error (file:line) per invalid row."""
    records, problems = [], []
    for line, values in read_csv_rows(path, record):
        try:
            records.append(record.model_validate(values))
        except ValidationError as exc:
            problems.append(
                CatalogFileError(
                    f"invalid {record.__name__}: {describe_validation_error(exc)}",
                    path=path,
                    line=line,
                    fix="correct that row.",
                )
            )
    return records, problems


def read_csv_records(path: Path, record: type[R]) -> list[R]:
    """Validate every CSV row (header = field names) as ``record``; errors name file:line."""
    records, problems = read_csv_records_skipping(path, record)
    if problems:
        raise problems[0]
    return records


def _csv_row(item: BaseModel) -> dict[str, Any]:
    row = item.model_dump(mode="json")
    return {
        k: ";".join(v) if isinstance(v, list) else ("" if v is None else v) for k, v in row.items()
    }


def write_csv_rows(
    path: Path, rows: Sequence[BaseModel | dict[str, str]], record: type[BaseModel]
) -> None:
    """Write records (or raw rows as read by :func:`read_csv_rows`, kept verbatim) as CSV
    (header = ``record``'s field names), atomically; tuples joined with ';'."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(record.model_fields))
    writer.writeheader()
    for item in rows:
        writer.writerow(item if isinstance(item, dict) else _csv_row(item))
    write_text_atomic(path, buffer.getvalue())


def write_csv_records(path: Path, records: Sequence[BaseModel], record: type[BaseModel]) -> None:
    """Write records as CSV (header = field names), atomically; tuples joined with ';'."""
    write_csv_rows(path, records, record)
