"""The store's benchmark still runs (its figures are read by people, not asserted here)."""

from __future__ import annotations

from pathlib import Path

from sync.store.bench import bench_writes


def test_the_write_benchmark_runs_through_the_real_store(tmp_path: Path) -> None:
    lines = bench_writes(tmp_path, seconds=0.1, batch=5)
    assert len(lines) == 3 and all("/s" in line for line in lines), lines
