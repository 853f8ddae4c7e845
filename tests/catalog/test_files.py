"""write_text_atomic: the new text or the old file, never a part, and no temporary file left."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import write_text_atomic


def test_writes_text_verbatim_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "offers.csv"
    write_text_atomic(path, "x,y\r\n1,é\r\n")
    assert path.read_bytes() == "x,y\r\n1,é\r\n".encode()  # newlines as given, UTF-8
    assert list(path.parent.iterdir()) == [path]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert list(tmp_path.iterdir()) == [path]


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_tmp(tmp_path: Path) -> None:
    path = tmp_path / "goal.yaml"
    path.write_text("name: old\n")
    # A lone surrogate cannot be encoded: the write fails after the first characters went out.
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "name: new\n" * 1000 + "\ud800")
    assert path.read_text() == "name: old\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_tmp(tmp_path: Path) -> None:
    target = tmp_path / "models.yaml"
    target.mkdir()  # os.replace cannot put a file over a folder
    (target / "keep").write_text("kept")
    with pytest.raises(OSError):
        write_text_atomic(target, "models: []\n")
    assert (target / "keep").read_text() == "kept"
    assert list(tmp_path.iterdir()) == [target]
