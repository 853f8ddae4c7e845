"""Check a training data file on this machine before anything is rented.

The checks are the train recipe's own (``executor/recipes/training_rows.py``, standard library
only), so a file that passes here is read the same way on the GPU machine: one pass, streamed,
memory for one row at a time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from executor.errors import ExecutorError
from executor.recipes import training_rows

__all__ = ["CHARS_PER_TOKEN", "MIN_ROWS", "TrainingDataReport", "check_training_data"]

MIN_ROWS = 1  # fewer usable rows than this and there is nothing to train on
CHARS_PER_TOKEN = 4.0  # English text in BPE tokenizers; a rough guide, not a tokenizer count


class TrainingDataReport(BaseModel):
    """What the check found in a usable training file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(description="the file checked, as given")
    data_format: str = Field(description="chat, instruction or completion")
    file_bytes: int = Field(description="size of the file in bytes")
    rows: int = Field(description="usable rows (blank lines are not rows)")
    bad_rows: int = Field(description="rows refused (only nonzero with on_bad_rows 'skip')")
    bad_row_lines: tuple[str, ...] = Field(
        description="'file:line: reason' for the first bad rows, then a count of the rest"
    )
    content_chars: int = Field(description="characters of message content in the usable rows")
    approx_tokens: int = Field(description="content_chars / CHARS_PER_TOKEN, rounded down")


def check_training_data(
    path: Path, data_format: str, *, on_bad_rows: str = "error"
) -> TrainingDataReport:
    """Read every row of ``path`` as the recipe will; ExecutorError names the file, and
    ``file:line: reason`` for each bad row (the first MAX_LISTED, then a count), when the file
    is missing, not a regular file, empty, has fewer than MIN_ROWS usable rows, or has any bad
    row under on_bad_rows "error" (what launch renders)."""
    try:
        scan = training_rows.scan_rows(path, data_format, keep=False)
        file_bytes = path.stat().st_size
    except (training_rows.DataFileError, OSError) as exc:
        raise ExecutorError(
            f"training data: {exc}.",
            fix="point the goal's data at a readable JSONL file and plan again.",
        ) from None
    problem = training_rows.usable_rows_problem(scan, on_bad_rows)
    if problem is None and scan.rows < MIN_ROWS:
        problem = f"{path}: {scan.rows} usable rows, fewer than {MIN_ROWS}"
    if problem:
        raise ExecutorError(
            f"training data {problem}",
            fix="correct or remove the rows named (the recipe reads the file exactly as this "
            "check does), or point the goal's data at another file.",
        )
    return TrainingDataReport(
        path=path,
        data_format=data_format,
        file_bytes=file_bytes,
        rows=scan.rows,
        bad_rows=scan.bad_rows,
        bad_row_lines=tuple(scan.bad_row_lines()),
        content_chars=scan.content_chars,
        approx_tokens=int(scan.content_chars / CHARS_PER_TOKEN),
    )
