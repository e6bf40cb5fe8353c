"""TensorRT options and engine cache keys (written to ORT's documented option names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.pack.manifest import InputContract
from inference.runtime import hardware, tensorrt
from inference.runtime.providers import Precision

DETECTOR = InputContract(
    name="input", shape=("N", 3, "H", "W"), example=(1, 3, 480, 640), layout="NCHW",
    colour="BGR", range="0-255",
)  # fmt: skip
LIVENESS = InputContract(
    name="input", shape=("N", 3, 80, 80), example=(1, 3, 80, 80), layout="NCHW",
    colour="BGR", range="0-255",
)  # fmt: skip


def test_engine_cache_key_names_model_gpu_tensorrt_and_precision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tensorrt, "gpu_name", lambda: "Orin (nvgpu)")
    monkeypatch.setattr(tensorrt, "tensorrt_version", lambda: "10.3.0")
    key = tensorrt.engine_cache_key("ab" * 32, Precision.FP16)
    assert key.folder_name() == "abababababababab-orin-nvgpu-trt10.3.0-fp16"
    other_gpu = tensorrt.EngineCacheKey("ab" * 32, "RTX 4070", "10.3.0", Precision.FP16)
    assert other_gpu.folder_name() != key.folder_name()


def test_fp16_options_enable_both_caches_in_the_keyed_folder(tmp_path: Path) -> None:
    options = tensorrt.tensorrt_options(tmp_path / "key", [LIVENESS], Precision.FP16)
    assert options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "key")
    assert options["trt_timing_cache_path"] == str(tmp_path / "key")
    assert options["trt_fp16_enable"] == "True"
    assert "trt_int8_enable" not in options
    assert options["trt_profile_max_shapes"] == "input:8x3x80x80"


def test_int8_options_copy_the_calibration_table_into_the_cache(tmp_path: Path) -> None:
    table = tmp_path / "calibration.flatbuffers"
    table.write_bytes(b"table")
    options = tensorrt.tensorrt_options(tmp_path / "key", [LIVENESS], Precision.INT8, table)
    assert options["trt_int8_enable"] == "True"
    assert options["trt_int8_calibration_table_name"] == "calibration.flatbuffers"
    assert (tmp_path / "key" / "calibration.flatbuffers").read_bytes() == b"table"


def test_dynamic_detector_profile_spans_batches_and_frame_sizes() -> None:
    profile = tensorrt.shape_profile([DETECTOR])
    assert profile["trt_profile_min_shapes"] == "input:1x3x32x32"
    assert profile["trt_profile_opt_shapes"] == "input:1x3x480x640"
    assert profile["trt_profile_max_shapes"] == "input:8x3x1920x1920"


def test_a_graph_of_two_inputs_gets_a_profile_for_each() -> None:
    """A combined species pack takes one letterbox per side: the EP needs both, comma-joined."""
    side = InputContract(
        name="input_160", shape=("N", 3, 160, 160), example=(1, 3, 160, 160), layout="NCHW",
        colour="RGB", range="0-255",
    )  # fmt: skip
    profile = tensorrt.shape_profile([LIVENESS, side])
    assert profile["trt_profile_min_shapes"] == "input:1x3x80x80,input_160:1x3x160x160"
    assert profile["trt_profile_max_shapes"] == "input:8x3x80x80,input_160:8x3x160x160"


@pytest.mark.parametrize(
    ("encoded", "version"), [(8601, "8.6.1"), (100300, "10.3.0"), (100801, "10.8.1")]
)
def test_tensorrt_library_versions_decode(encoded: int, version: str) -> None:
    assert hardware._decode_trt_version(encoded) == version


def test_hardware_probes_answer_none_on_a_machine_without_them() -> None:
    # This CI machine has neither; the probes must degrade, not raise.
    assert isinstance(hardware.gpu_name(), str)
    assert isinstance(hardware.tensorrt_version(), str)


@pytest.mark.usefixtures("hung_nvidia_smi")
def test_a_hung_nvidia_smi_makes_the_gpu_unknown_rather_than_an_error() -> None:
    assert hardware.gpu_name() == "unknown"
    key = tensorrt.engine_cache_key("ab" * 32, Precision.FP16)
    assert "-unknown-" in key.folder_name()
