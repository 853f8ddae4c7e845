"""The one reader of JSONL training files: streams the file and checks every row.

Standard library only. The train recipe imports it on the GPU machine and
``executor.training_data`` imports it on the user's machine before anything is rented, so a file
passes ``tailor launch`` exactly when it passes the recipe.

A row is one line of the file; each check below that fails makes the row a :class:`BadRow`
with its 1-based line number and a reason:

- lines end at ``\\n`` only (``\\r\\n`` is one ending); U+2028, U+0085 and the other
  characters ``str.splitlines()`` breaks at are ordinary characters inside a row;
- a UTF-8 byte order mark before the first row is dropped; blank lines are ignored;
- at most ``MAX_ROW_BYTES`` bytes, strict UTF-8, standard JSON (no NaN or Infinity);
- arrays and objects nested at most ``MAX_DEPTH`` deep, measured before parsing, so a hostile
  row cannot raise RecursionError;
- every string, keys too, encodes to UTF-8: no lone surrogate such as ``"\\ud800"`` (which
  ``json`` accepts and pyarrow refuses after the model has loaded);
- the shape of the data format (see train.py's table): ``chat``, ``instruction``, ``completion``.

The file is read in binary, one line at a time: a file of any size needs memory for one row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

__all__ = [
    "DATA_FORMATS",
    "MAX_DEPTH",
    "MAX_LISTED",
    "MAX_ROW_BYTES",
    "ROLES",
    "BadRow",
    "DataFileError",
    "RowScan",
    "parse_row",
    "scan_rows",
    "to_messages",
    "usable_rows_problem",
]

DATA_FORMATS = ("chat", "instruction", "completion")
ROLES = ("system", "user", "assistant")
MAX_DEPTH = 32  # a chat row is 3 deep; anything near this is not training data
MAX_ROW_BYTES = 16 * 2**20  # 16 MiB: ~4M tokens, far past any sequence length
MAX_LISTED = 20  # bad rows named in a message; the rest are counted
_BOM = b"\xef\xbb\xbf"
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class DataFileError(Exception):
    """The file itself cannot be read (missing, not a regular file, unreadable, bad format
    name): one sentence naming the file."""


@dataclass(frozen=True)
class BadRow:
    """One refused row."""

    line: int  # 1-based line number in the file
    reason: str  # what is wrong with it, in words


@dataclass
class RowScan:
    """What one pass over a training file found."""

    path: Path
    data_format: str
    conversations: list[list[dict[str, str]]] = field(default_factory=list)  # when kept
    rows: int = 0  # usable rows
    bad_rows: int = 0  # refused rows (blank lines are neither)
    listed: list[BadRow] = field(default_factory=list)  # the first MAX_LISTED bad rows
    content_chars: int = 0  # characters of message content over the usable rows

    def bad_row_lines(self) -> list[str]:
        """``file:line: reason`` for each listed bad row, then a count of the rest."""
        lines = [f"{self.path}:{bad.line}: {bad.reason}" for bad in self.listed]
        rest = self.bad_rows - len(self.listed)
        if rest:
            lines.append(f"... and {rest} more bad row{'s' if rest > 1 else ''}")
        return lines


# ---- the shape of a row ------------------------------------------------------------------------


def _text(row: dict, key: str, *, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if value is None:
        raise ValueError(f'missing key "{key}"')
    if not isinstance(value, str):
        raise ValueError(f'"{key}" is {type(value).__name__}, expected a string')
    if not value.strip() and not optional:
        raise ValueError(f'"{key}" is empty')
    return value


def _chat_messages(row: dict) -> list[dict[str, str]]:
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError('missing or empty "messages" list')
    out = []
    for i, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise ValueError(f"message {i} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise ValueError(f"message {i} has role {role!r}, expected system, user or assistant")
        if role == "system" and i != 1:
            raise ValueError(f"message {i} is a system message; only the first may be")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"message {i} ({role}) has empty or non-text content")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        raise ValueError("no assistant message, so nothing to learn")
    return out


def to_messages(row: Any, data_format: str) -> list[dict[str, str]]:
    """One parsed row as chat messages; ValueError says what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, found {type(row).__name__}")
    if data_format == "chat":
        return _chat_messages(row)
    if data_format == "instruction":
        prompt = _text(row, "instruction")
        extra = _text(row, "input", optional=True)
        prompt = f"{prompt}\n\n{extra}" if extra.strip() else prompt
        reply = _text(row, "output")
    else:
        prompt, reply = _text(row, "prompt"), _text(row, "completion")
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]


# ---- one row -----------------------------------------------------------------------------------


def _check_depth(text: str) -> None:
    """ValueError when arrays/objects nest deeper than MAX_DEPTH (no recursion, no parse)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot be deeper: the common case, at C speed
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} arrays/objects deep")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not standard JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # one, not one per row


def _check_strings(value: Any) -> None:
    """ValueError when a string (key or value) holds a lone surrogate, which UTF-8 cannot."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                code = ord(item[exc.start])
                raise ValueError(
                    f"lone surrogate \\u{code:04x} in a string (escaped in the JSON); "
                    "it is not valid UTF-8"
                ) from None


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_ROW_BYTES:
        raise ValueError(f"row is longer than the {MAX_ROW_BYTES:,}-byte limit")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})"
        ) from None


def parse_row(raw: bytes, data_format: str) -> list[dict[str, str]]:
    """One line (without its ending) as chat messages; ValueError says what is wrong."""
    text = _decode(raw)
    _check_depth(text)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # _check_depth makes this unreachable; kept as the last guard
        raise ValueError(f"nested more than {MAX_DEPTH} arrays/objects deep") from None
    except ValueError as exc:  # NaN/Infinity, an integer past Python's digit limit
        raise ValueError(f"invalid JSON ({exc})") from None
    if "\\u" in text:  # a surrogate can only arrive escaped: the text itself is strict UTF-8
        _check_strings(value)
    return to_messages(value, data_format)


# ---- the file ----------------------------------------------------------------------------------


def _skip_rest_of_line(file: IO[bytes]) -> None:
    while (chunk := file.readline(2**20)) and not chunk.endswith(b"\n"):
        pass


def _lines(file: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its ``\\n`` / ``\\r\\n``); a line over MAX_ROW_BYTES is cut
    to MAX_ROW_BYTES + 1 bytes and the rest skipped unread into memory."""
    limit = MAX_ROW_BYTES + 2  # the longest row plus "\r\n"
    number = 0
    while line := file.readline(limit):
        number += 1
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        elif len(line) == limit:
            _skip_rest_of_line(file)
            line = line[: MAX_ROW_BYTES + 1]
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        yield number, line


def _open(path: Path) -> IO[bytes]:
    if not path.exists():
        raise DataFileError(f"{path} does not exist")
    if not path.is_file():
        raise DataFileError(f"{path} is not a regular file")
    try:
        return path.open("rb")
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read ({exc.strerror or exc})") from None


def scan_rows(path: Path, data_format: str, *, keep: bool = True) -> RowScan:
    """Check every row of ``path``; with ``keep`` the usable rows' messages are kept in order.

    Raises DataFileError only for the file as a whole; bad rows are counted on the scan."""
    if data_format not in DATA_FORMATS:
        raise DataFileError(f"data_format {data_format!r} is not one of {', '.join(DATA_FORMATS)}")
    scan = RowScan(path=path, data_format=data_format)
    with _open(path) as file:
        try:
            for number, line in _lines(file):
                _add(scan, number, line, keep=keep)
        except OSError as exc:
            raise DataFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return scan


def _add(scan: RowScan, number: int, line: bytes, *, keep: bool) -> None:
    if not line.strip():
        return
    try:
        messages = parse_row(line, scan.data_format)
    except ValueError as exc:
        scan.bad_rows += 1
        if len(scan.listed) < MAX_LISTED:
            scan.listed.append(BadRow(number, str(exc)))
        return
    scan.rows += 1
    scan.content_chars += sum(len(m["content"]) for m in messages)
    if keep:
        scan.conversations.append(messages)


def usable_rows_problem(scan: RowScan, on_bad_rows: str) -> str | None:
    """Why the scanned file cannot be trained on under ``on_bad_rows`` ("error" refuses any
    bad row, "skip" only a file without usable rows), listing the bad rows; None if it can."""
    if scan.bad_rows and (on_bad_rows == "error" or not scan.rows):
        count = f"{scan.bad_rows} bad row{'s' if scan.bad_rows > 1 else ''}"
        usable = "" if scan.rows else " and no usable rows"
        head = f"{scan.path}: {count}{usable} (data_format {scan.data_format!r}):"
        return "\n".join([head, *(f"  {line}" for line in scan.bad_row_lines())])
    if not scan.rows:
        return f"{scan.path}: no rows (the file is empty or only blank lines)"
    return None
