"""The endpoint's API key (executor.api_key): private, made once per run, reused after."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from executor.api_key import API_KEY_FILE, endpoint_key


def test_the_key_is_private_and_made_once(tmp_path: Path) -> None:
    old = os.umask(0o000)  # the most permissive umask: the file must still be 0600
    try:
        key = endpoint_key(tmp_path / "run")
    finally:
        os.umask(old)
    path = tmp_path / "run" / API_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 43 and key == path.read_text().strip()
    assert endpoint_key(tmp_path / "run") == key  # a later serve start reuses it
    assert endpoint_key(tmp_path / "other") != key
    assert [p.name for p in (tmp_path / "run").iterdir()] == [API_KEY_FILE]  # no temp left


def test_concurrent_starts_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[str] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        keys.append(endpoint_key(tmp_path / "run"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
