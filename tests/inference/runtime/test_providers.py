"""Provider planning with faked provider lists (no GPU is needed to test the plan)."""

from __future__ import annotations

import pytest

from inference.runtime.providers import (
    CPU,
    CUDA,
    TENSORRT,
    Precision,
    parse_preference,
    plan_providers,
)

JETSON = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
LAPTOP_CUDA_ONLY = ["CUDAExecutionProvider", "CPUExecutionProvider"]
PLAIN_CPU = ["AzureExecutionProvider", "CPUExecutionProvider"]


def test_everything_installed_keeps_the_full_preference() -> None:
    plan = plan_providers(JETSON)
    assert plan.providers == (TENSORRT, CUDA, CPU)
    assert plan.skipped == ()


def test_missing_tensorrt_is_skipped_with_a_reason() -> None:
    plan = plan_providers(LAPTOP_CUDA_ONLY)
    assert plan.providers == (CUDA, CPU)
    assert plan.skipped == ((TENSORRT, "not installed in this onnxruntime build"),)
    assert "skipped tensorrt" in plan.describe()


def test_plain_cpu_build_runs_on_cpu_and_ignores_unrelated_providers() -> None:
    plan = plan_providers(PLAIN_CPU)
    assert plan.providers == (CPU,)
    assert {name for name, _ in plan.skipped} == {TENSORRT, CUDA}


def test_int8_without_calibration_table_refuses_tensorrt_rather_than_guessing() -> None:
    plan = plan_providers(JETSON, precision=Precision.INT8)
    assert TENSORRT not in plan.providers
    assert "calibration" in dict(plan.skipped)[TENSORRT]
    with_table = plan_providers(JETSON, precision=Precision.INT8, int8_calibration_available=True)
    assert with_table.providers[0] == TENSORRT


def test_cpu_is_always_the_floor_even_if_left_out_of_the_preference() -> None:
    assert plan_providers(JETSON, preference=(CUDA,)).providers == (CUDA, CPU)


def test_preference_text_is_parsed_and_unknown_names_rejected() -> None:
    assert parse_preference("cuda, cpu") == (CUDA, CPU)
    with pytest.raises(ValueError, match="openvino"):
        parse_preference("openvino,cpu")
