"""Real ONNX Runtime sessions on installed models."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest

from inference.errors import InputError
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU, CUDA


def test_cpu_session_reports_cpu_and_is_warmed_up(model_pack: ModelPack) -> None:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    session = runtime.session("yunet_n")
    assert session.provider == CPU
    assert not session.fell_back
    assert session.warmup_ms is not None and session.warmup_ms > 0
    outputs = session.run({"input": np.zeros((1, 3, 320, 320), np.float32)})
    assert len(outputs) == len(session.output_names) == 12


def test_a_gpu_that_is_not_really_there_is_reported_not_swapped_silently(
    model_pack: ModelPack, caplog: pytest.LogCaptureFixture
) -> None:
    """The plan believes CUDA is installed; the real CPU-only build cannot give it."""
    if CUDA in ort.get_available_providers():
        pytest.skip("this machine really has CUDA")
    runtime = Runtime(model_pack, available=[CUDA, CPU], threads=ThreadBudget(1))
    assert runtime.plan.preferred == CUDA
    with caplog.at_level(logging.WARNING, logger="inference.runtime.session"):
        session = runtime.session("yunet_n", warmup=False)
    assert session.requested_provider == CUDA
    assert session.provider == CPU
    assert session.fell_back
    assert "asked for cuda, running on cpu" in caplog.text


def test_wrong_input_shape_is_an_input_error_not_an_onnxruntime_error(
    model_pack: ModelPack,
) -> None:
    session = Runtime(model_pack, preference=(CPU,)).session("minifasnet_v2", warmup=False)
    with pytest.raises(InputError, match="minifasnet_v2"):
        session.run({"input": np.zeros((1, 3, 64, 64), np.float32)})


def test_thread_budget_shares_the_cores() -> None:
    assert ThreadBudget.share_cores(sessions=2, cores=8).intra_op == 4
    assert ThreadBudget.share_cores(sessions=16, cores=2).intra_op == 1
