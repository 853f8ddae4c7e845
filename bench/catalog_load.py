"""Benchmark: how long loading the shipped catalog takes, cold (fresh process) and warm.

Prints figures; asserts nothing. Run: .venv/bin/python bench/catalog_load.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COLD = (
    "import time; t=time.perf_counter(); from catalog import load_catalog; c=load_catalog(); "
    "c.model('llama-3.1-8b'); c.offers_for('H100'); print(time.perf_counter()-t)"
)


def main() -> None:
    """Print cold and warm load times of the full shipped catalog."""
    cold = [float(subprocess.check_output([sys.executable, "-c", COLD])) for _ in range(5)]
    from catalog import load_catalog

    catalog = load_catalog()
    warm = []
    for _ in range(200):
        start = time.perf_counter()
        load_catalog().offers_for("H100")
        warm.append(time.perf_counter() - start)
    print(
        f"catalog: {len(catalog.gpus)} GPUs, {len(catalog.offers)} offers, "
        f"{len(catalog.models)} models, {len(catalog.api_models)} API models"
    )
    print(f"cold load (new process, import + parse): median {statistics.median(cold) * 1e3:.0f} ms")
    print(
        f"warm load_catalog() + lookup:             median {statistics.median(warm) * 1e6:.1f} µs"
    )


if __name__ == "__main__":
    main()
