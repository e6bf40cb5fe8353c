"""Bring-your-own packs: the manifest and what is inferred without one, SCRFD on real images
(it finds the faces YuNet finds), and the ArcFace plumbing on a model built here."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import main
from inference.errors import ChecksumMismatchError, InputError, PackError
from inference.face import FaceDetector, QualityGate
from inference.face.assemble import StageChoice, build_stages, pipeline_from_args
from inference.face.byo import (
    MANIFEST_NAME,
    ArcFaceRecogniser,
    DetectorSpec,
    ScrfdDetector,
    load_byo_pack,
)
from inference.face.byo.scrfd import output_positions
from inference.face.decision import Mode
from inference.face.detect import read_image
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from inference.runtime import OnnxSession, Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path
from tests.inference.face.helpers import lfw, video_frames

SCRFD_SHA256 = "6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431"
COLOUR = (10, 100, 200)  # BGR of a flat test chip


def scrfd_file() -> Path:
    return shared_path("models", "byo-test", "scrfd_500m_bnkps.onnx")


def write_arcface(path: Path, dimension: int = 512, side: int | str = "H") -> None:
    """An ArcFace-shaped graph, [N, 3, 112, 112] -> [N, dimension]: the mean of each input
    channel, repeated. Its output shows which colour order and scaling the chip had."""
    weights = np.zeros((3, dimension), np.float32)
    weights[np.arange(dimension) % 3, np.arange(dimension)] = 1.0
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["fc1"]),
    ]
    width = side if isinstance(side, int) else "W"
    graph = helper.make_graph(
        nodes, "arcface_shaped",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, side, width])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", dimension])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.ravel())],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def runtime(model_pack: ModelPack) -> Runtime:
    return Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A folder as InsightFace lays one out: an SCRFD detector and an ArcFace recogniser."""
    (tmp_path / "scrfd_500m_bnkps.onnx").symlink_to(scrfd_file())
    write_arcface(tmp_path / "w600k_test.onnx")
    return tmp_path


class RecordingRuntime(Runtime):
    """A real runtime that notes the pack model of each session it hands out."""

    def __init__(self, pack: ModelPack) -> None:
        super().__init__(pack, preference=(CPU,), threads=ThreadBudget(2))
        self.loaded: list[str] = []

    def session(self, model_id: str, *, warmup: bool = True) -> OnnxSession:
        self.loaded.append(model_id)
        return super().session(model_id, warmup=warmup)


@pytest.fixture(scope="module")
def scrfd(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> ScrfdDetector:
    folder = tmp_path_factory.mktemp("scrfd")
    (folder / "det_500m.onnx").symlink_to(scrfd_file())
    return ScrfdDetector.from_pack(runtime, load_byo_pack(folder))


# --- the pack folder --------------------------------------------------------------------------


def test_contracts_are_inferred_from_insightface_file_names(pack_dir: Path) -> None:
    pack = load_byo_pack(pack_dir)
    assert pack.inferred and pack.notes
    assert pack.detector is not None and pack.detector.file == "scrfd_500m_bnkps.onnx"
    assert (pack.detector.input_size, pack.detector.mean, pack.detector.std) == (640, 127.5, 128.0)
    assert pack.recogniser is not None and pack.recogniser.file == "w600k_test.onnx"
    assert pack.recogniser.similarity_threshold is None


def test_a_manifest_declares_contracts_and_checksums(pack_dir: Path) -> None:
    pack = load_byo_pack(pack_dir)
    (pack_dir / MANIFEST_NAME).write_text(pack.to_toml(), encoding="utf-8")
    declared = load_byo_pack(pack_dir)
    assert not declared.inferred and declared.detector is not None
    assert declared.detector.sha256 == SCRFD_SHA256
    assert declared.checked_sha256(declared.detector) == SCRFD_SHA256


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ('[detector]\nfile = "scrfd_500m_bnkps.onnx"\nsha256 = "' + "0" * 64 + '"\n', "sha256"),
        ('[detector]\nfile = "x.onnx"\nstrides = [8, 16]\nspeed = 3\n', "unknown keys"),
        ('[detecter]\nfile = "x.onnx"\n', "sections"),
        ("[detector]\ninput_size = 640\n", "needs a file"),
        ('[detector]\nfile = "x.onnx"\ninput_size = 100\n', "multiple of every stride"),
        ("[detector\n", "cannot read"),
        ('[detector]\nfile = "x.onnx"\nstrides = []\n', "strides are whole numbers"),
        ('[detector]\nfile = "x.onnx"\nstrides = [0]\n', "strides are whole numbers"),
        ('[detector]\nfile = "x.onnx"\ninput_size = 640.0\n', "input_size needs a whole"),
        ('[detector]\nfile = "x.onnx"\nmean = "x"\n', "mean needs a number"),
        ('[detector]\nfile = "x.onnx"\ncolour = "rgb"\n', "one of \\['RGB', 'BGR'\\]"),
        ("[detector]\nfile = 5\n", "file needs text"),
        ('[recogniser]\nfile = "x.onnx"\nsimilarity_threshold = "0.3"\n', "needs a number"),
        ('[detector]\nfile = "x.onnx"\nretry_border = inf\n', "finite"),
        ('[detector]\nfile = "x.onnx"\nstd = nan\n', "finite"),
    ],
)
def test_a_bad_manifest_is_a_clear_pack_error(pack_dir: Path, manifest: str, message: str) -> None:
    (pack_dir / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    with pytest.raises(PackError, match=message):
        pack = load_byo_pack(pack_dir)
        assert pack.detector is not None
        pack.checked_sha256(pack.detector)
    assert issubclass(ChecksumMismatchError, PackError)


def test_ambiguous_or_empty_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"no jaga-pack\.toml"):
        load_byo_pack(tmp_path)
    (tmp_path / "det_10g.onnx").touch()
    (tmp_path / "scrfd_2.5g.onnx").touch()
    with pytest.raises(PackError, match="several files"):
        load_byo_pack(tmp_path)
    with pytest.raises(PackError, match="not a folder"):
        load_byo_pack(tmp_path / "det_10g.onnx")


def test_outputs_are_found_by_the_declared_layout_never_by_shape() -> None:
    spec = DetectorSpec("d.onnx")
    ordered = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in (8, 16, 32)]
    positional = output_positions(spec, [str(n) for n in range(448, 457)])  # det_10g style
    assert positional[("score", 8)] == 0 and positional[("kps", 32)] == 8
    named = output_positions(dataclasses.replace(spec, outputs="names"), ordered[::-1])
    assert named[("score", 8)] == 8
    with pytest.raises(PackError, match="layout says"):
        output_positions(spec, ordered[::-1])  # named, but not in InsightFace's order
    with pytest.raises(PackError, match="outputs"):
        output_positions(spec, ordered[:6])  # no landmarks


# --- SCRFD on real images ---------------------------------------------------------------------


def test_scrfd_finds_the_faces_yunet_finds_in_lfw_crops(
    scrfd: ScrfdDetector, detector: FaceDetector
) -> None:
    names = sorted(p.name for p in shared_path("data", "faces", "lfw", "images").glob("*.jpg"))
    for name in random.Random(7).sample(names, 12):
        image = lfw(name)
        reference = max(detector.detect(image), key=lambda face: face.area)
        found = scrfd.detect(image)
        best = max(found, key=lambda face: face.iou(reference))
        assert best.iou(reference) > 0.6, name
        error = np.median(np.linalg.norm(np.subtract(best.landmarks, reference.landmarks), axis=1))
        assert error < 0.2 * reference.inter_ocular_px, name  # same points, same order


@pytest.mark.parametrize(("video", "step"), [("hamilton_640x360.mp4", 7),
                                             ("walkers_1080p.mp4", 9)])  # fmt: skip
def test_scrfd_finds_every_face_good_enough_to_judge_in_the_videos(
    scrfd: ScrfdDetector, detector: FaceDetector, video: str, step: int
) -> None:
    """Every face YuNet finds that the quality gate accepts (the faces that get decided)."""
    gate, judged = QualityGate(), 0
    for frame in video_frames(video, 0, 100)[::step]:
        found = scrfd.detect(frame)
        for face in detector.detect(frame):
            if gate.assess(frame, face).ok:
                judged += 1
                assert max((face.iou(other) for other in found), default=0.0) > 0.5
    assert judged >= 3


# --- ArcFace plumbing -------------------------------------------------------------------------


def test_arcface_chips_are_rgb_scaled_and_descriptors_unit_length(
    runtime: Runtime, pack_dir: Path
) -> None:
    recogniser = ArcFaceRecogniser.from_pack(runtime, load_byo_pack(pack_dir))
    chip = np.empty((112, 112, 3), np.uint8)
    chip[:] = COLOUR
    vector = recogniser.embedder.embed([chip]).vectors[0]
    rgb = (np.array(COLOUR[::-1], np.float32) - 127.5) / 127.5
    expected = np.tile(rgb, 171)[:512]
    assert np.allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert recogniser.model.dimension == 512 and recogniser.model.model_id == "byo_w600k_test"
    face = FaceDetector.from_runtime(runtime).detect(lfw("Aaron_Sorkin_0001.jpg"))[0]
    described = recogniser.describe(lfw("Aaron_Sorkin_0001.jpg"), [face, face])
    assert described.vectors.shape == (2, 512)


@pytest.mark.parametrize(("dimension", "side", "message"), [(128, "H", "128-D"),
                                                            (512, 96, "112 x 112")])  # fmt: skip
def test_a_recogniser_that_breaks_its_contract_is_refused_at_load(
    runtime: Runtime, tmp_path: Path, dimension: int, side: int | str, message: str
) -> None:
    write_arcface(tmp_path / "w600k_bad.onnx", dimension, side)
    with pytest.raises(PackError, match=message):
        ArcFaceRecogniser.from_pack(runtime, load_byo_pack(tmp_path))


def test_a_detector_whose_outputs_do_not_fit_its_declared_anchors_is_refused_at_load(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The warm-up's outputs are checked whole: the widths fit, the lengths do not (one
    anchor declared for a two-anchor model); before, the first frame failed, not the load."""
    (tmp_path / "scrfd_500m_bnkps.onnx").symlink_to(scrfd_file())
    (tmp_path / MANIFEST_NAME).write_text(
        '[detector]\nfile = "scrfd_500m_bnkps.onnx"\nanchors = 1\n', encoding="utf-8"
    )
    message = r"score output of stride 8 is \(12800, 1\), the contract says \(6400, 1\)"
    with pytest.raises(PackError, match=message):
        ScrfdDetector.from_pack(runtime, load_byo_pack(tmp_path))


def test_a_byo_pack_runs_through_the_same_pipeline_from_the_cli(
    model_pack: ModelPack, pack_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = load_byo_pack(pack_dir)
    assert pack.recogniser is not None
    recogniser = dataclasses.replace(pack.recogniser, similarity_threshold=0.9)
    (pack_dir / MANIFEST_NAME).write_text(
        dataclasses.replace(pack, recogniser=recogniser).to_toml(), encoding="utf-8"
    )
    image = shared_path("data", "spoof", "samples", "image_T1.jpg")
    argv = ["face", "verify", str(image), str(image), "--pack", str(pack_dir),
            "--models-dir", str(model_pack.root), "--providers", "cpu"]  # fmt: skip
    assert main.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "verified" and out["thresholds"]["similarity"] == 0.9
    assert out["models"]["pack"] == str(pack_dir)
    assert read_image(image).shape[2] == 3


def test_a_byo_recogniser_is_not_used_for_1_to_n_on_its_1_to_1_threshold(
    model_pack: ModelPack, pack_dir: Path, tmp_path: Path
) -> None:
    """An unknown face meets every identity of a gallery: 1:N needs a higher bar than 1:1,
    and a pack that declares only its 1:1 threshold cannot say which."""
    pack = load_byo_pack(pack_dir)
    assert pack.recogniser is not None
    person = sorted(p for p in shared_path("data", "faces", "johns").iterdir() if p.is_dir())[0]
    (tmp_path / "gallery" / person.name).mkdir(parents=True)
    for chip in sorted(person.glob("*.jpg"))[:2]:
        (tmp_path / "gallery" / person.name / chip.name).symlink_to(chip)
    options = argparse.Namespace(
        models_dir=model_pack.root, providers="cpu", threads=1, settings=None, pack=pack_dir,
        no_liveness=True, gallery=tmp_path / "gallery", claim=None,
    )  # fmt: skip
    declared = [{"similarity_threshold": 0.3},
                {"similarity_threshold": 0.3, "identify_threshold": 0.6}]  # fmt: skip
    for thresholds in declared:
        recogniser = dataclasses.replace(pack.recogniser, **thresholds)  # type: ignore[arg-type]
        (pack_dir / MANIFEST_NAME).write_text(
            dataclasses.replace(pack, recogniser=recogniser).to_toml(), encoding="utf-8"
        )
        if "identify_threshold" not in thresholds:
            with pytest.raises(InputError, match="identify_threshold"):
                pipeline_from_args(options)
        else:
            pipeline, _ = pipeline_from_args(options)
            assert pipeline.mode is Mode.IDENTIFY and pipeline.thresholds.similarity == 0.6


@pytest.mark.parametrize(
    ("arcface", "recogniser", "yunet_sessions"),
    [
        (True, True, 0),  # SCRFD detects, ArcFace describes: nothing runs YuNet
        (True, False, 0),
        (False, False, 0),
        (False, True, 1),  # the default recogniser's aligner refines SCRFD's landmarks on it
    ],
)
def test_yunet_is_loaded_only_where_something_runs_it(
    model_pack: ModelPack, pack_dir: Path, arcface: bool, recogniser: bool, yunet_sessions: int
) -> None:
    """Every start loaded and warmed YuNet, even for a pack bringing its own detector and
    recogniser: memory and start-up time on a Jetson for a model that never ran."""
    pack = load_byo_pack(pack_dir)
    assert pack.recogniser is not None
    if arcface:
        threshold = dataclasses.replace(pack.recogniser, similarity_threshold=0.5)
        (pack_dir / MANIFEST_NAME).write_text(
            dataclasses.replace(pack, recogniser=threshold).to_toml(), encoding="utf-8"
        )
    else:
        (pack_dir / pack.recogniser.file).unlink()
    runtime = RecordingRuntime(model_pack)
    choice = StageChoice(pack_dir, liveness=False, recogniser=recogniser)
    stages = build_stages(runtime, FaceSettings(), choice)
    assert isinstance(stages.detector, ScrfdDetector)
    assert runtime.loaded.count("yunet_n") == yunet_sessions, runtime.loaded


def test_the_default_detector_and_aligner_share_one_yunet(model_pack: ModelPack) -> None:
    runtime = RecordingRuntime(model_pack)
    stages = build_stages(runtime, FaceSettings(), StageChoice(liveness=False))
    assert isinstance(stages.detector, FaceDetector)
    assert runtime.loaded.count("yunet_n") == 1, runtime.loaded
