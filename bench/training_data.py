"""Benchmark: how fast the training data check reads a generated chat JSONL file.

Writes ROWS rows shaped like examples/data/support-chat.jsonl (system, user, assistant; about
300 bytes each, every 50th with a non-ASCII escape so the surrogate check runs on some rows)
to a temporary file, then times ``check_training_data`` (what ``tailor launch`` runs, streamed)
and the recipe's ``read_rows`` (keeps every conversation). Prints rows/s and MB/s; asserts
nothing.

Run: .venv/bin/python bench/training_data.py [ROWS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from executor.recipes import train
from executor.training_data import check_training_data

ROWS = 200_000


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for i in range(rows):
            answer = f"Please restart the app and try again (ticket {i})."
            if i % 50 == 0:
                answer += " \U0001f600"
            row = {
                "messages": [
                    {"role": "system", "content": "You are the support assistant for Acme."},
                    {"role": "user", "content": f"The app will not open on device {i}."},
                    {"role": "assistant", "content": answer},
                ]
            }
            file.write(json.dumps(row) + "\n")


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chat.jsonl"
        write_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        report = check_training_data(path, "chat")
        check_s = time.perf_counter() - started
        started = time.perf_counter()
        conversations, _ = train.read_rows(path, "chat", "error")
        read_s = time.perf_counter() - started
    assert report.rows == len(conversations) == rows
    print(f"{rows:,} rows, {size_mb:.1f} MB, ~{report.approx_tokens:,} tokens")
    for name, seconds in (("check_training_data", check_s), ("recipe read_rows", read_s)):
        print(
            f"{name:20s} {seconds:6.2f} s  {rows / seconds:10,.0f} rows/s  "
            f"{size_mb / seconds:6.1f} MB/s"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
