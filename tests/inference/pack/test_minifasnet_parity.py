"""MiniFASNet conversion: the ONNX graph matches our torch model and still tells live from print.

Both run on real face crops from NUAA (../shared), fed as the pipeline feeds them: BGR, 80x80,
raw 0-255 float32. The torch side is our own module definition with the upstream weights
loaded strictly, so a parity failure points at the export, not at the data.

The reference is that torch model evaluated in float64. On raw 0-255 pixels a float32 run of
it is itself ~1e-5 off on logits of magnitude ~7 (measured up to 1.2e-5), so comparing two
float32 runs would test their rounding noise, not the export. Against float64 the ONNX graph
stays within TOLERANCE; against torch float32 it stays within the sum of both noises.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")

from inference.errors import ConversionError  # noqa: E402
from tests.conftest import installed_model  # noqa: E402
from tests.deferred import deferred, models_extra  # noqa: E402
from tests.made_once import made_once  # noqa: E402

# torch when a test uses it: collecting the suite imports none (tests/deferred.py)
torch = deferred("torch")
minifasnet = deferred("inference.pack.converters.minifasnet")

pytestmark = [pytest.mark.needs_shared, models_extra("torch")]

SHARED = Path(__file__).resolve().parents[3] / "../shared"
WEIGHTS = {
    "MiniFASNetV2": SHARED / "models/2.7_80x80_MiniFASNetV2.pth",
    "MiniFASNetV1SE": SHARED / "models/4_0_0_80x80_MiniFASNetV1SE.pth",
}
CROPS = SHARED / "data/spoof/nuaa/train/crops"
CROPS_PER_CLASS = 32
TOLERANCE = 1e-5
# Both float32 implementations may each be TOLERANCE away from the float64 reference.
FLOAT32_TOLERANCE = 2 * TOLERANCE

Batch = npt.NDArray[np.float32]


class Converted:
    """One variant converted into a temporary pack, with its reference torch model."""

    def __init__(self, variant: str, onnx_path: Path) -> None:
        self.variant = variant
        self.onnx_path = onnx_path
        self.torch_model = minifasnet.load_model(variant, WEIGHTS[variant])
        self.exact_model = copy.deepcopy(self.torch_model).double()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the test machine's cores are shared
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def onnx_logits(self, batch: Batch) -> Batch:
        (logits,) = self.session.run(["logits"], {"input": batch})
        return np.asarray(logits, dtype=np.float32)

    def torch_logits(self, batch: Batch) -> Batch:
        with torch.no_grad():
            return np.asarray(self.torch_model(torch.from_numpy(batch)).numpy())

    def exact_logits(self, batch: Batch) -> npt.NDArray[np.float64]:
        with torch.no_grad():
            logits = self.exact_model(torch.from_numpy(batch).double())
        return np.asarray(logits.numpy())


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def _sample(label: str) -> list[Path]:
    """CROPS_PER_CLASS crops spread evenly over every subject of one class."""
    files = sorted(_require(CROPS / label).glob("*/*.jpg"))
    if len(files) < CROPS_PER_CLASS:
        pytest.skip(f"too few {label} crops in {CROPS}")
    step = len(files) // CROPS_PER_CLASS
    return files[::step][:CROPS_PER_CLASS]


def _load_crops(files: list[Path]) -> Batch:
    """NCHW float32 BGR 0-255, the models' input contract."""
    images = []
    for file in files:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        assert image is not None, file
        images.append(cv2.resize(image, (minifasnet.INPUT_SIZE, minifasnet.INPUT_SIZE)))
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)


def _batches(crops: Batch, size: int) -> Iterator[Batch]:
    for start in range(0, len(crops), size):
        yield crops[start : start + size]


def _p_real(logits: Batch) -> Batch:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: Batch = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities[:, minifasnet.REAL_CLASS]


@pytest.fixture(scope="module")
def live_crops() -> Batch:
    return _load_crops(_sample("live"))


@pytest.fixture(scope="module")
def print_crops() -> Batch:
    return _load_crops(_sample("print"))


@pytest.fixture(scope="module")
def crops(live_crops: Batch, print_crops: Batch) -> Batch:
    return np.concatenate([live_crops, print_crops])


MODEL_IDS = {"MiniFASNetV2": "minifasnet_v2", "MiniFASNetV1SE": "minifasnet_v1se"}


@pytest.fixture(scope="module", params=sorted(WEIGHTS))
def converted(request: pytest.FixtureRequest) -> Converted:
    """The file the real installer built (conversion and checksum pinning included)."""
    variant: str = request.param
    _require(WEIGHTS[variant])
    return Converted(variant, installed_model(MODEL_IDS[variant]))


@pytest.fixture(scope="module")
def references(converted: Converted, crops: Batch) -> tuple[npt.NDArray[np.float64], Batch]:
    """Torch logits of all crops in one batch (eval mode keeps rows independent): f64, f32."""
    return converted.exact_logits(crops), converted.torch_logits(crops)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_onnx_matches_torch(
    converted: Converted,
    crops: Batch,
    references: tuple[npt.NDArray[np.float64], Batch],
    batch_size: int,
) -> None:
    exact, float32 = references
    onnx_logits = np.concatenate([converted.onnx_logits(b) for b in _batches(crops, batch_size)])
    to_exact = float(np.abs(onnx_logits - exact).max())
    to_float32 = float(np.abs(onnx_logits - float32).max())
    print(
        f"{converted.variant}, {len(crops)} crops, batch {batch_size}: max |onnx - torch| "
        f"{to_exact:.3g} (torch float64), {to_float32:.3g} (torch float32)"
    )
    assert to_exact <= TOLERANCE
    assert to_float32 <= FLOAT32_TOLERANCE


def test_scores_live_above_print(
    converted: Converted, live_crops: Batch, print_crops: Batch
) -> None:
    live = float(_p_real(converted.onnx_logits(live_crops)).mean())
    printed = float(_p_real(converted.onnx_logits(print_crops)).mean())
    print(f"{converted.variant}: mean P(real) live {live:.3f}, print {printed:.3f}")
    assert live > printed


def test_contract(converted: Converted) -> None:
    (model_input,) = converted.session.get_inputs()
    (model_output,) = converted.session.get_outputs()
    assert (model_input.name, model_input.type) == ("input", "tensor(float)")
    assert model_input.shape == ["N", 3, 80, 80]
    assert (model_output.name, model_output.shape) == ("logits", ["N", 3])


@dataclass(frozen=True)
class Again:
    """A second conversion of a variant, made in this run, and what it logged (logger name,
    level) with the root logger at INFO, as ``jaga models install`` runs it."""

    onnx_path: Path
    logged: list[tuple[str, int]]


class _Kept(logging.Handler):
    def __init__(self, kept: list[tuple[str, int]]) -> None:
        super().__init__(logging.DEBUG)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append((record.name, record.levelno))


def _convert_again(variant: str, folder: Path) -> Again:
    logged: list[tuple[str, int]] = []
    root, handler = logging.getLogger(), _Kept(logged)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        minifasnet.convert({"pth": WEIGHTS[variant]}, folder / "again.onnx", {"variant": variant})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    (folder / "logged.json").write_text(json.dumps(logged))
    return _read_again(folder)


def _read_again(folder: Path) -> Again:
    logged = [(name, level) for name, level in json.loads((folder / "logged.json").read_text())]
    return Again(folder / "again.onnx", logged)


_AGAIN: dict[str, Again] = {}


def converted_again(variant: str, tmp_path_factory: pytest.TempPathFactory) -> Again:
    """One second conversion of ``variant`` a run: the determinism test compares its bytes,
    the logging test reads its log (each made a torch export of its own before)."""
    _require(WEIGHTS[variant])
    if variant not in _AGAIN:
        _AGAIN[variant] = made_once(
            tmp_path_factory, f"minifasnet-{variant}",
            lambda folder: _convert_again(variant, folder), _read_again,
        )  # fmt: skip
    return _AGAIN[variant]


@pytest.mark.slow
def test_export_is_byte_deterministic(
    converted: Converted, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = converted_again(converted.variant, tmp_path_factory)
    assert again.onnx_path.read_bytes() == converted.onnx_path.read_bytes()


def test_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="variant"):
        minifasnet.convert({"pth": tmp_path / "x.pth"}, tmp_path / "x.onnx", {"variant": "V3"})


def test_weights_of_the_other_variant_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="does not match MiniFASNetV2"):
        minifasnet.load_model("MiniFASNetV2", _require(WEIGHTS["MiniFASNetV1SE"]))


def test_a_file_that_is_no_state_dict_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match=r"junk\.pth"):
        minifasnet.load_model("MiniFASNetV2", junk)


def test_multiftnet_checkpoint_drops_its_training_branch(tmp_path: Path) -> None:
    """A checkpoint saved from upstream's training wrapper still loads, minus FTGenerator."""
    state = torch.load(_require(WEIGHTS["MiniFASNetV2"]), map_location="cpu", weights_only=True)
    wrapped = {k.replace("module.", "module.model.", 1): v for k, v in state.items()}
    wrapped["module.FTGenerator.ft.0.weight"] = torch.zeros(128, 128, 3, 3)
    path = tmp_path / "multiftnet.pth"
    torch.save(wrapped, path)
    model = minifasnet.load_model("MiniFASNetV2", path)
    assert torch.equal(model.prob.weight, state["module.prob.weight"])


def test_a_conversion_logs_none_of_the_exporters_info_lines(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``jaga models install`` printed a dozen ``INFO onnx_ir…``/``onnxscript…`` lines per
    converted model, the exporter's optimiser passes, between its own progress lines."""
    logged = converted_again("MiniFASNetV2", tmp_path_factory).logged
    chatter = [
        (name, level) for name, level in logged if name.startswith(("onnx_ir", "onnxscript"))
    ]
    assert [(name, level) for name, level in chatter if level < logging.WARNING] == []
