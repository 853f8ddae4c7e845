"""Training data under hostile input: the recipe's reader (train.read_rows) and tailor's local
check (executor.training_data.check_training_data) read through the same rows module, so each
case is asserted on both.

The cases of issue 10, point 8: U+2028 / U+0085 inside a JSON string (str.splitlines() broke
the row there), a deeply nested row (RecursionError, even with on_bad_rows "skip"), an escaped
lone surrogate (accepted, then refused by pyarrow after the model loaded), a UTF-8 byte order
mark (row 1 refused), CRLF endings with a bare CR inside a row, and every bad row named as
``file:line``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from executor.errors import ExecutorError
from executor.recipes import train, training_rows
from executor.training_data import check_training_data
from tests.conftest import REPO_ROOT

GOOD = {"prompt": "Q: 2+2?", "completion": " 4"}
BOM = b"\xef\xbb\xbf"


def write_rows(folder: Path, rows: list[str | bytes], *, ending: bytes = b"\n") -> Path:
    """Rows (text is UTF-8 encoded, bytes are written as they are), each ended by ``ending``."""
    path = folder / "data.jsonl"
    raw = [row.encode("utf-8") if isinstance(row, str) else row for row in rows]
    path.write_bytes(b"".join(row + ending for row in raw))
    return path


def good_line(**overrides: str) -> str:
    return json.dumps(GOOD | overrides, ensure_ascii=False)


def nested(depth: int) -> str:
    """A completion row carrying ``depth`` nested arrays."""
    return good_line()[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"


def recipe_error(path: Path, *, on_bad_rows: str = "error") -> str:
    with pytest.raises(train.RecipeError) as info:
        train.read_rows(path, "completion", on_bad_rows)
    return str(info.value)


def check_error(path: Path, *, data_format: str = "completion", on_bad_rows: str = "error") -> str:
    with pytest.raises(ExecutorError) as info:
        check_training_data(path, data_format, on_bad_rows=on_bad_rows)
    message = str(info.value)
    assert "To fix:" in message and "Traceback" not in message
    return message


# ---- the cases of the issue ---------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029"])
def test_unicode_line_separators_inside_a_string_stay_in_the_row(
    tmp_path: Path, separator: str
) -> None:
    text = f"line one{separator}line two"
    path = write_rows(tmp_path, [good_line(completion=text), good_line()])
    rows, skipped = train.read_rows(path, "completion", "error")
    assert skipped == 0 and [row[1]["content"] for row in rows] == [text, GOOD["completion"]]
    report = check_training_data(path, "completion")
    assert (report.rows, report.bad_rows) == (2, 0)


def test_deeply_nested_row_is_skipped_and_counted(tmp_path: Path) -> None:
    path = write_rows(tmp_path, [good_line(), nested(100_000), good_line()])
    rows, skipped = train.read_rows(path, "completion", "skip")
    assert (len(rows), skipped) == (2, 1)
    report = check_training_data(path, "completion", on_bad_rows="skip")
    assert (report.rows, report.bad_rows) == (2, 1)
    assert report.bad_row_lines == (f"{path}:2: nested more than 32 arrays/objects deep",)


def test_deeply_nested_row_stops_the_run_naming_its_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path, [good_line(), nested(100_000)])
    assert f"{path}:2: nested more than 32" in recipe_error(path)
    assert f"{path}:2: nested more than 32" in check_error(path)


def test_nesting_limit_counts_brackets_outside_strings_only(tmp_path: Path) -> None:
    at_limit = nested(training_rows.MAX_DEPTH - 1)  # the row object itself is one level
    brackets_in_text = good_line(completion="[" * 500 + "{" * 500)
    path = write_rows(tmp_path, [at_limit, brackets_in_text, nested(training_rows.MAX_DEPTH)])
    scan = training_rows.scan_rows(path, "completion")
    assert (scan.rows, scan.bad_rows) == (2, 1) and scan.listed[0].line == 3


def test_escaped_lone_surrogate_is_refused_naming_its_line(tmp_path: Path) -> None:
    rows = [
        good_line(),
        '{"prompt": "p\\ud800", "completion": "c"}',  # lone high surrogate, escaped
        '{"prompt": "p", "completion": "c", "\\udfff": 1}',  # in a key the row does not use
        '{"prompt": "p\\ud83d\\ude00", "completion": "c"}',  # a proper pair: an emoji
    ]
    path = write_rows(tmp_path, rows)
    message = recipe_error(path)
    assert f"{path}:2: lone surrogate \\ud800" in message
    assert f"{path}:3: lone surrogate \\udfff" in message
    assert f"{path}:4:" not in message
    report = check_training_data(path, "completion", on_bad_rows="skip")
    assert (report.rows, report.bad_rows) == (2, 2)


def test_utf8_byte_order_mark_before_row_one_is_dropped(tmp_path: Path) -> None:
    path = write_rows(tmp_path, [BOM + good_line().encode(), good_line()])
    rows, skipped = train.read_rows(path, "completion", "error")
    assert (len(rows), skipped) == (2, 0) and rows[0][0]["content"] == GOOD["prompt"]
    assert check_training_data(path, "completion").rows == 2


def test_crlf_endings_and_a_bare_cr_inside_a_row(tmp_path: Path) -> None:
    bare_cr = '{"prompt": "p",\r"completion": "c"}'  # CR is JSON whitespace, not a line end
    path = write_rows(tmp_path, [bare_cr, good_line(), "{", good_line()], ending=b"\r\n")
    message = recipe_error(path)
    assert f"{path}:3: invalid JSON" in message
    assert f"{path}:1:" not in message and f"{path}:5" not in message
    report = check_training_data(path, "completion", on_bad_rows="skip")
    assert (report.rows, report.bad_rows) == (3, 1)
    assert report.bad_row_lines[0].startswith(f"{path}:3: invalid JSON")


# ---- messages: every bad row as file:line -------------------------------------------------------


def test_all_bad_rows_are_named_up_to_the_limit_then_counted(tmp_path: Path) -> None:
    bad = ["not json", '{"prompt": "p"}', "[1, 2]", '{"prompt": NaN, "completion": "c"}']
    rows = [good_line()] + bad * 6  # 24 bad rows on lines 2..25
    path = write_rows(tmp_path, rows)
    for message in (recipe_error(path), check_error(path)):
        assert f"{path}: 24 bad rows (data_format 'completion'):" in message
        for line in range(2, 2 + training_rows.MAX_LISTED):
            assert f"\n  {path}:{line}: " in message
        assert f"{path}:{2 + training_rows.MAX_LISTED}:" not in message
        assert "... and 4 more bad rows" in message
    message = recipe_error(path)
    assert f'{path}:3: missing key "completion"' in message
    assert f"{path}:4: expected a JSON object, found list" in message
    assert f"{path}:5: invalid JSON (NaN is not standard JSON)" in message
    assert message.endswith('set "on_bad_rows": "skip" to skip and count them.')


def test_recipe_folder_alone_stops_before_training_listing_bad_rows(tmp_path: Path) -> None:
    recipes = shutil.copytree(
        REPO_ROOT / "executor" / "recipes", tmp_path / "tailor-recipes", ignore=_pycache
    )
    data = write_rows(tmp_path, [good_line(), '{"prompt": "p\\ud800", "completion": "c"}'])
    config = tmp_path / "config.json"
    keys = {"model": "unused", "data_path": str(data), "data_format": "completion"}
    config.write_text(json.dumps(keys | {"output_dir": str(tmp_path / "run")}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(recipes / "train.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        check=False,
    )  # as on the GPU machine: the shipped folder, run as a script (torchrun does the same)
    assert result.returncode == 2, result.stderr
    assert f"{data}:2: lone surrogate \\ud800" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def _pycache(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]


# ---- the file as a whole ------------------------------------------------------------------------


def test_not_a_regular_file_missing_or_empty_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)  # opening it would block: it must be refused unopened
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n\r\n", encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    cases = {
        tmp_path: "is not a regular file",
        fifo: "is not a regular file",
        tmp_path / "missing.jsonl": "does not exist",
        empty: "no rows (the file is empty",
        blank: "no rows (the file is empty or only blank lines)",
    }
    for path, problem in cases.items():
        for message in (check_error(path), recipe_error(path)):
            assert problem in message and f"{path}" in message


def test_a_file_of_only_bad_rows_is_refused_even_when_skipping(tmp_path: Path) -> None:
    path = write_rows(tmp_path, ["nope", "{}"])
    message = check_error(path, on_bad_rows="skip")
    assert f"{path}: 2 bad rows and no usable rows" in message and f"{path}:2: " in message
    assert "on_bad_rows" not in recipe_error(path, on_bad_rows="skip")  # skipping cannot help


def test_invalid_utf8_and_an_oversized_row_are_named_and_the_rest_read(tmp_path: Path) -> None:
    huge = good_line(completion="x" * training_rows.MAX_ROW_BYTES)
    path = write_rows(tmp_path, [good_line(), b'{"prompt": "\xff"}', huge, good_line()])
    report = check_training_data(path, "completion", on_bad_rows="skip")
    assert (report.rows, report.bad_rows) == (2, 2)
    assert report.bad_row_lines[0] == f"{path}:2: not UTF-8 (byte 0xff at byte 13)"
    assert report.bad_row_lines[1] == f"{path}:3: row is longer than the 16,777,216-byte limit"


@pytest.mark.parametrize(
    ("data", "fmt", "rows"),
    [("support-chat.jsonl", "chat", 200), ("instructions.jsonl", "instruction", 50)],
)
def test_report_counts_the_shipped_examples(data: str, fmt: str, rows: int) -> None:
    path = REPO_ROOT / "examples" / "data" / data
    report = check_training_data(path, fmt)
    conversations, _ = train.read_rows(path, fmt, "error")
    chars = sum(len(m["content"]) for c in conversations for m in c)
    assert (report.rows, report.bad_rows, report.bad_row_lines) == (rows, 0, ())
    assert report.content_chars == chars and report.approx_tokens == chars // 4
    assert report.file_bytes == path.stat().st_size


def test_unknown_format_is_refused() -> None:
    message = check_error(REPO_ROOT / "examples" / "data" / "completions.jsonl", data_format="csv")
    assert "data_format 'csv' is not one of chat, instruction, completion" in message


# ---- property: hostile rows never escape as anything but our errors ----------------------------

_texts = st.text(st.characters(), max_size=12)  # lone surrogates and separators included
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=8,
)
_content = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(str.strip)


def _valid_row(fmt: str, text: st.SearchStrategy[str] = _content) -> st.SearchStrategy[dict]:
    """Rows of the format's shape; with hostile ``text`` only the strings can be wrong."""
    if fmt == "chat":
        turn = st.fixed_dictionaries({"role": st.just("user"), "content": text})
        answer = st.fixed_dictionaries({"role": st.just("assistant"), "content": text})
        return st.builds(lambda t, a: {"messages": [t, a]}, turn, answer)
    keys = ("instruction", "output") if fmt == "instruction" else ("prompt", "completion")
    return st.fixed_dictionaries(dict.fromkeys(keys, text))


def _encode(value: object, ascii_only: bool) -> bytes:
    """JSON text as bytes; unescaped surrogates become the invalid UTF-8 they would be."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _rows(fmt: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.builds(_encode, _valid_row(fmt), st.booleans()),
        st.builds(_encode, _valid_row(fmt, _texts), st.booleans()),
        st.builds(_encode, _json_values, st.booleans()),
        st.integers(0, 3000).map(lambda n: b"[" * n + b"]" * n),
        st.binary(max_size=40),
    )


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(training_rows.DATA_FORMATS))
    rows = draw(st.lists(_rows(fmt), max_size=8))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    bom = BOM if draw(st.booleans()) else b""
    return fmt, bom + b"".join(row + ending for row in rows)


def _nonblank_lines(data: bytes) -> int:
    lines = data.removeprefix(BOM).split(b"\n")
    return sum(1 for line in lines if line.strip())


@given(_files())
@example(("completion", b'{"prompt": "p", "completion": ' + b"1" * 5000 + b"}\n"))  # digit limit
@example(("completion", b'{"prompt": "\\udc00", "completion": "c"}\r\n'))
@example(("instruction", BOM + b"\xed\xa0\x80\n"))  # a surrogate encoded raw: not UTF-8
def test_hostile_rows_raise_only_our_errors_and_accepted_rows_round_trip(
    case: tuple[str, bytes],
) -> None:
    fmt, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_bytes(data)
        scan = training_rows.scan_rows(path, fmt)  # never raises on a regular file
        assert scan.rows + scan.bad_rows == _nonblank_lines(data)
        for conversation in scan.conversations:
            assert json.loads(json.dumps(conversation)) == conversation
            json.dumps(conversation, ensure_ascii=False).encode("utf-8")  # strict: no surrogate
        try:
            rows, skipped = train.read_rows(path, fmt, "skip")
            assert (rows, skipped) == (scan.conversations, scan.bad_rows)
        except train.RecipeError:
            assert scan.rows == 0
        try:
            report = check_training_data(path, fmt)
            assert (report.rows, report.bad_rows) == (scan.rows, 0)
        except ExecutorError:
            assert scan.rows == 0 or scan.bad_rows


@given(
    st.sampled_from(training_rows.DATA_FORMATS).flatmap(
        lambda f: st.tuples(
            st.just(f), st.lists(_valid_row(f), min_size=1, max_size=6), st.booleans()
        )
    )
)
def test_valid_rows_are_all_accepted_in_order(case: tuple[str, list[dict], bool]) -> None:
    fmt, rows, ascii_only = case
    with tempfile.TemporaryDirectory() as folder:
        path = write_rows(Path(folder), [_encode(row, ascii_only) for row in rows])
        conversations, skipped = train.read_rows(path, fmt, "error")
    assert skipped == 0
    assert conversations == [training_rows.to_messages(row, fmt) for row in rows]
