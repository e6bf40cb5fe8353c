"""dlib ResNet face descriptor: our ONNX conversion against dlib itself.

dlib (the ``dlib-bin`` wheel, test-only) computes the reference descriptors from the same
``.dat``; onnxruntime runs the file our converter wrote. Inputs are real 150x150 RGB face
chips from ../shared (five people, eleven chips each, plus a few LFW photos resized to
150x150), fed to ONNX as the pipeline will: raw 0-255 float32, NCHW.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

dlib = pytest.importorskip("dlib")
cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")

from inference.errors import ConversionError  # noqa: E402
from inference.pack.converters.dlib_dat import parse_network  # noqa: E402
from inference.pack.installed import ModelPack  # noqa: E402
from tests.deferred import deferred, models_extra  # noqa: E402

# torch when a test uses it: collecting the suite imports none (tests/deferred.py)
dlib_resnet = deferred("inference.pack.converters.dlib_resnet")

pytestmark = [pytest.mark.needs_shared, models_extra("torch")]

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / "../shared"
JOHNS = SHARED / "data/faces/johns"
LFW = SHARED / "data/faces/lfw/images"
LFW_PHOTOS = 5
MIN_CHIPS = 50
CHIP_SIZE = 150
TOLERANCE = 1e-5
MODEL_ID = "dlib_resnet"
DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"

Descriptors = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Converted:
    onnx_path: Path
    session: Any

    def descriptors(self, chips: list[npt.NDArray[np.uint8]], batch: int) -> Descriptors:
        pixels = np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)
        outputs = [
            self.session.run(["descriptor"], {"input": pixels[start : start + batch]})[0]
            for start in range(0, len(pixels), batch)
        ]
        return np.concatenate(outputs).astype(np.float64)


def _rgb(path: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    if image.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
        image = cv2.resize(image, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def dat(model_pack: ModelPack) -> Path:
    """The pinned .dat, from the installed pack's checked source cache."""
    return model_pack.source_path(MODEL_ID, "dat")


@pytest.fixture(scope="module")
def chips() -> list[npt.NDArray[np.uint8]]:
    if not JOHNS.is_dir():
        pytest.skip(f"shared face chips not found: {JOHNS}")
    files = sorted(JOHNS.glob("*/*.jpg"))
    lfw = sorted(LFW.glob("*.jpg")) if LFW.is_dir() else []
    files += lfw[:: max(1, len(lfw) // LFW_PHOTOS)][:LFW_PHOTOS]
    return [_rgb(file) for file in files]


@pytest.fixture(scope="module")
def converted(model_pack: ModelPack) -> Converted:
    """The file the real installer built (conversion and checksum pinning included)."""
    output = model_pack.model(MODEL_ID).path
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the test machine's cores are shared
    session = ort.InferenceSession(str(output), options, providers=["CPUExecutionProvider"])
    return Converted(output, session)


@pytest.fixture(scope="module")
def reference(dat: Path, chips: list[npt.NDArray[np.uint8]]) -> Descriptors:
    """dlib's own descriptors for the chips (one batched call)."""
    model = dlib.face_recognition_model_v1(str(dat))
    return np.array([np.array(d) for d in model.compute_face_descriptor(chips)])


def test_onnx_matches_dlib(
    converted: Converted,
    chips: list[npt.NDArray[np.uint8]],
    reference: Descriptors,
    record_property: Any,
) -> None:
    assert len(chips) >= MIN_CHIPS
    ours = converted.descriptors(chips, batch=8)  # uneven last batch: the batch axis is free
    worst_per_chip = np.abs(ours - reference).max(axis=1)
    worst = float(worst_per_chip.max())
    record_property("max_abs_diff", worst)
    print(
        f"dlib_resnet: max |onnx - dlib| = {worst:.3g} over {len(chips)} chips "
        f"(descriptor norms {np.linalg.norm(reference, axis=1).min():.3f}.."
        f"{np.linalg.norm(reference, axis=1).max():.3f})"
    )
    assert (worst_per_chip <= TOLERANCE).all(), worst_per_chip


def test_one_chip_alone_gives_the_batched_descriptor(
    converted: Converted, chips: list[npt.NDArray[np.uint8]], reference: Descriptors
) -> None:
    alone = converted.descriptors(chips[:1], batch=1)
    np.testing.assert_allclose(alone[0], reference[0], rtol=0, atol=TOLERANCE)


def test_contract(converted: Converted) -> None:
    (model_input,) = converted.session.get_inputs()
    (model_output,) = converted.session.get_outputs()
    assert (model_input.name, model_input.type) == ("input", "tensor(float)")
    assert model_input.shape == ["N", 3, CHIP_SIZE, CHIP_SIZE]
    assert (model_output.name, model_output.type) == ("descriptor", "tensor(float)")
    assert model_output.shape == ["N", 128]


def test_the_file_is_the_face_recognition_model_v1_network(dat: Path) -> None:
    plan = dlib_resnet.plan_descriptor(parse_network(dat.read_bytes()))
    downsampling = [block.shortcut_pool is not None for block in plan.blocks]
    assert downsampling == [False] * 3 + [True] + [False] * 3 + ([True] + [False] * 2) * 2 + [True]
    assert plan.head.weights.shape == (128, 256)
    assert plan.head.biases is None
    assert (plan.input.rows, plan.input.cols) == (CHIP_SIZE, CHIP_SIZE)
    assert plan.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)


@pytest.mark.slow
def test_export_is_byte_deterministic(converted: Converted, dat: Path, tmp_path: Path) -> None:
    """A second conversion in this process gives the installed (manifest-pinned) bytes."""
    again = tmp_path / "again.onnx"
    started = time.perf_counter()
    dlib_resnet.convert({"dat": dat}, again, {})
    print(f"dlib_resnet: converted in {time.perf_counter() - started:.1f} s")
    assert again.read_bytes() == converted.onnx_path.read_bytes()


def test_a_truncated_dat_is_refused(dat: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(dat.read_bytes()[:100_000])
    with pytest.raises(ConversionError, match=r"dlib \.dat at byte \d+: expected"):
        dlib_resnet.convert({"dat": truncated}, tmp_path / "out.onnx", {})
    assert not (tmp_path / "out.onnx").exists()


def test_sources_and_options_are_checked(tmp_path: Path) -> None:
    output = tmp_path / "out.onnx"
    with pytest.raises(ConversionError, match="one source named 'dat'"):
        dlib_resnet.convert({"weights": tmp_path / "x.dat"}, output, {})
    with pytest.raises(ConversionError, match="unknown convert options"):
        dlib_resnet.convert({"dat": tmp_path / "x.dat"}, output, {"variant": "v2"})
    with pytest.raises(ConversionError, match="opset must be an integer"):
        dlib_resnet.convert({"dat": tmp_path / "x.dat"}, output, {"opset": "17"})
    with pytest.raises(ConversionError, match="cannot read dlib model"):
        dlib_resnet.convert({"dat": tmp_path / "missing.dat"}, output, {})
