from __future__ import annotations

from inference.bench import bench_models, format_table
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU


def test_bench_reports_batch_1_and_8_for_dynamic_models(model_pack: ModelPack) -> None:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    rows = bench_models(runtime, ["minifasnet_v2"], runs=3)
    assert [(row.model_id, row.batch, row.provider) for row in rows] == [
        ("minifasnet_v2", 1, "cpu"),
        ("minifasnet_v2", 8, "cpu"),
    ]
    assert all(0 < row.p50_ms <= row.p95_ms for row in rows)
    assert "| minifasnet_v2 | cpu | 8 |" in format_table(rows, 1)
