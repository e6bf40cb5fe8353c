"""Real ONNX Runtime sessions on installed models."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import EPFail

from inference.errors import ChecksumMismatchError, InputError
from inference.pack import files, installed
from inference.pack.installed import InstalledModel, ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime import session as session_module
from inference.runtime.providers import CPU, CUDA, TENSORRT, Precision, ProviderPlan
from inference.runtime.session import OnnxSession, SessionConfig
from tests.conftest import installed_model as installed_model_path


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


@pytest.mark.usefixtures("hung_nvidia_smi")
def test_a_hung_nvidia_smi_still_gives_a_session_that_falls_back(
    model_pack: ModelPack, tmp_path: Path
) -> None:
    """Keying TensorRT's engine cache asks nvidia-smi for the GPU; a wedged driver that never
    answers must not stop the kiosk from starting on what does work."""
    if TENSORRT in ort.get_available_providers():
        pytest.skip("this machine really has TensorRT")
    plan = ProviderPlan((TENSORRT, CPU), (), Precision.FP16)
    config = SessionConfig(plan, ThreadBudget(1), tmp_path / "engines", warmup=False)
    session = OnnxSession(model_pack.model("yunet_n"), config)
    assert session.requested_provider == TENSORRT
    assert session.provider == CPU
    assert session.fell_back


def test_wrong_input_shape_is_an_input_error_not_an_onnxruntime_error(
    model_pack: ModelPack,
) -> None:
    session = Runtime(model_pack, preference=(CPU,)).session("minifasnet_v2", warmup=False)
    with pytest.raises(InputError, match="minifasnet_v2"):
        session.run({"input": np.zeros((1, 3, 64, 64), np.float32)})


def test_a_batch_larger_than_the_engines_is_refused_on_every_provider(
    model_pack: ModelPack,
) -> None:
    """TensorRT engines are built for batches of 1 to 8, and a larger one fails only on a
    device that has TensorRT: the session refuses it everywhere, so a caller that forgets to
    split its batch fails here too, with the limit named."""
    session = Runtime(model_pack, preference=(CPU,)).session("minifasnet_v2", warmup=False)
    assert len(session.run({"input": np.zeros((8, 3, 80, 80), np.float32)})[0]) == 8
    with pytest.raises(ValueError, match=r"minifasnet_v2 .* at most 8 "):
        session.run({"input": np.zeros((9, 3, 80, 80), np.float32)})


def test_thread_budget_shares_the_cores() -> None:
    assert ThreadBudget.share_cores(sessions=2, cores=8).intra_op == 4
    assert ThreadBudget.share_cores(sessions=16, cores=2).intra_op == 1


def test_a_provider_that_runs_no_node_is_not_reported_as_running(
    model_pack: ModelPack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ONNX Runtime lists every provider it registered first, even one that takes no node
    (TensorRT refusing a graph). The Azure provider of this CPU build takes no ONNX node,
    which stands in for that here: the warm-up's profile shows the CPU ran it all."""
    azure = "AzureExecutionProvider"
    if azure not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no Azure provider to stand in")
    plan = ProviderPlan((azure, CPU), (), Precision.FP32)
    with caplog.at_level(logging.WARNING, logger="inference.runtime.session"):
        session = OnnxSession(
            model_pack.model("yunet_n"), SessionConfig(plan, ThreadBudget(1), tmp_path)
        )
    assert session.provider == CPU and session.fell_back
    assert session.time_share is not None and session.time_share[CPU] == pytest.approx(1.0)
    assert "running on cpu" in caplog.text
    assert session._profile_dir is not None and not session._profile_dir.exists()


def test_onnxruntimes_own_fallback_during_a_run_is_noticed(
    model_pack: ModelPack, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider that fails in a run (a GPU out of memory): ONNX Runtime moves the session
    to its fallback providers and runs again. Simulated through ONNX Runtime's own fallback
    path (private attributes of its Python session, as of onnxruntime 1.2x-1.3x)."""
    session = Runtime(model_pack, preference=(CPU,)).session("yunet_n")  # warmed up, profiled
    inner = session._session
    failing = CUDA  # as the session would read on a CUDA device
    session.provider = session.requested_provider = session._registered = failing

    class FailsOnce:
        def __init__(self, real: Any) -> None:
            self.real, self.failed = real, False

        def run(self, *args: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise EPFail("CUDA failure 2: out of memory")
            return self.real.run(*args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    inner._fallback_providers = [CPU]
    inner._sess = FailsOnce(inner._sess)
    contract = session.contract
    with caplog.at_level(logging.WARNING, logger="inference.runtime.session"):
        session.run({contract.name: np.zeros(contract.example, np.float32)})
    assert session.provider == CPU and session.fell_back
    assert "failed during a run; now running on cpu" in caplog.text
    assert inner.end_profiling() == ""  # the rebuilt session does not profile its runs


def test_the_session_that_serves_runs_was_never_profiled(model_pack: ModelPack) -> None:
    """ONNX Runtime never stops its thread-pool profiler once a profiled run started it: a
    session made to profile its warm-up kept a record of every later run (about 1 KB per
    kiosk frame, for as long as the kiosk ran; tools.measure_kiosk_memory). The warm-up is
    profiled on a session of its own, and the one that runs is made without profiling."""
    session = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2)).session("yunet_n")
    assert session.time_share is not None and session.time_share[CPU] == pytest.approx(1.0)
    assert session.warmup_shapes is not None and session.warmup_ms is not None
    assert session._session.get_session_options().enable_profiling is False
    outputs = session.run({"input": FRAME})
    assert [o.shape for o in outputs] == [
        yunet_output.shape for yunet_output in yunet_outputs(installed_model_path("yunet_n"))
    ]


@pytest.mark.parametrize("threads", [0, -1, 100_000])
def test_a_thread_count_out_of_reason_is_a_clear_error(threads: int) -> None:
    with pytest.raises(InputError, match="threads per model"):
        ThreadBudget(threads)


@pytest.fixture
def own_pack(model_pack: ModelPack, tmp_path: Path) -> ModelPack:
    """A private copy of the installed pack holding yunet_n, whose file a test may replace."""
    root = tmp_path / "pack"
    root.mkdir()
    for name in ("installed.json", model_pack.manifest.model("yunet_n").file):
        shutil.copyfile(model_pack.root / name, root / name)
    return ModelPack(root, model_pack.manifest)


def yunet_outputs(model: Path | bytes) -> list[Any]:
    """What a model given to ONNX Runtime directly answers for one fixed frame."""
    source = model.read_bytes() if isinstance(model, Path) else model
    session = ort.InferenceSession(source, providers=[CPU])
    return list(session.run(None, {"input": FRAME}))


FRAME = np.random.default_rng(7).uniform(0, 255, (1, 3, 320, 320)).astype(np.float32)


def test_a_model_file_replaced_after_its_check_is_refused_not_run(
    own_pack: ModelPack, model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack hands out the model its record names; replacing the file right after (another
    model, same inputs) used to run the replacement, unchecked, as ONNX Runtime opened the
    path. Refused, with the fix."""
    target = own_pack.root / own_pack.manifest.model("yunet_n").file
    other = model_pack.root / model_pack.manifest.model("yunet_s").file
    real_model = ModelPack.model

    def model_then_swap(pack: ModelPack, model_id: str, **options: bool) -> InstalledModel:
        model = real_model(pack, model_id, **options)
        shutil.copyfile(other, target)  # between handing it out and the load
        return model

    monkeypatch.setattr(ModelPack, "model", model_then_swap)
    runtime = Runtime(own_pack, preference=(CPU,), threads=ThreadBudget(1))
    with pytest.raises(ChecksumMismatchError, match=r"yunet_n.*install yunet_n --force"):
        session = runtime.session("yunet_n", warmup=False)
        ran = session.run({"input": FRAME})
        swapped = yunet_outputs(other)
        same = all(np.array_equal(a, b) for a, b in zip(ran, swapped, strict=True))
        assert not same, "the replacement loaded and ran, unchecked"


def test_a_session_reads_its_model_through_sha256_once(
    own_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model was hashed as the pack handed it out, then its bytes hashed again as the
    session loaded them: twice the reading at every start (seconds on a Jetson's SD card)."""
    target = own_pack.root / own_pack.manifest.model("yunet_n").file
    reads: list[Path] = []
    real_sha256_of, real_read_checked = files.sha256_of, files.read_checked

    def hashing(path: Path) -> str:
        reads.append(path)
        return real_sha256_of(path)

    def reading(path: Path, expected: str, what: str) -> bytes:
        reads.append(path)
        return real_read_checked(path, expected, what)

    monkeypatch.setattr(installed, "sha256_of", hashing)
    monkeypatch.setattr(installed, "read_checked", reading)
    Runtime(own_pack, preference=(CPU,), threads=ThreadBudget(1)).session("yunet_n")
    assert reads == [target]


def test_the_bytes_checked_are_the_bytes_that_run(
    own_pack: ModelPack, model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced even right after the session's own check read it, the file that runs is the
    one checked: ONNX Runtime gets the bytes that were hashed, never the path."""
    target = own_pack.root / own_pack.manifest.model("yunet_n").file
    checked = target.read_bytes()
    other = model_pack.root / model_pack.manifest.model("yunet_s").file
    real_sha256_hex = files.sha256_hex

    def hash_then_swap(data: bytes) -> str:
        digest = real_sha256_hex(data)
        shutil.copyfile(other, target)
        return digest

    monkeypatch.setattr(files, "sha256_hex", hash_then_swap)
    session = Runtime(own_pack, preference=(CPU,)).session("yunet_n", warmup=False)
    assert target.read_bytes() != checked  # swapped indeed
    ran = session.run({"input": FRAME})
    for got, expected in zip(ran, yunet_outputs(checked), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_model_with_external_data_still_loads_by_path(tmp_path: Path) -> None:
    """Its weights lie in another file that ONNX Runtime reads next to the model's path; the
    pack's models have none (see ``loadable``)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from inference.runtime.session import loadable

    weights = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(1, 8), "w")
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", io[:1], io[1:],
                              [weights])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="external.data",
                    size_threshold=0)  # fmt: skip
    assert loadable(path, path.read_bytes()) == str(path)
    pack_model = installed_model_path("yunet_n")
    assert isinstance(loadable(pack_model, pack_model.read_bytes()), bytes)


def test_a_provider_that_takes_no_node_is_told_by_the_profile_and_the_session_is_made_again(
    model_pack: ModelPack,
) -> None:
    """Two providers asked for: ONNX Runtime lists the first even when it runs nothing (the
    Azure provider of this CPU build stands for a GPU one that takes no node), so the
    warm-up is profiled, and the session that runs is made again without profiling."""
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    plan = replace(runtime._config.plan, providers=("AzureExecutionProvider", CPU))
    runtime._config = replace(runtime._config, plan=plan)
    session = runtime.session("yunet_n")
    assert session._session.get_providers()[0] == "AzureExecutionProvider"
    assert session.provider == CPU and session.time_share is not None
    assert session.time_share[CPU] == pytest.approx(1.0)
    assert session._session.get_session_options().enable_profiling is False


def test_a_session_given_the_cpu_alone_is_made_once(
    model_pack: ModelPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one provider there is nothing for a profile to tell: no second session (a
    second load of every model at each start of the kiosk)."""
    made: list[object] = []
    original = session_module._create

    def counted(*args: Any) -> Any:
        made.append(args)
        return original(*args)

    monkeypatch.setattr(session_module, "_create", counted)
    Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2)).session("yunet_n")
    assert len(made) == 1
