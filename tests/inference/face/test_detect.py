"""YuNet detection: the decoder against hand-made outputs, the real model against OpenCV's
own FaceDetectorYN and golden images, and every kind of bad input."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.errors import InputError, RuntimeSetupError
from inference.face import DetectorSettings, FaceBox, FaceDetector, Landmark, read_image
from inference.face.detect import nms, outside_better_boxes
from inference.pack.installed import ModelPack
from inference.runtime import OnnxSession
from tests.conftest import shared_path
from tests.inference.face.helpers import FakeYuNetSession, Image, lfw, video_frames

KPS = [0.1 * n for n in range(10)]


def fake_detector(
    faces: dict[tuple[int, int, int], tuple[float, float, list[float], list[float]]],
    settings: DetectorSettings | None = None,
) -> tuple[FaceDetector, FakeYuNetSession]:
    session = FakeYuNetSession(faces)
    return FaceDetector(session, "input", settings), session


def black(height: int, width: int) -> Image:
    return np.zeros((height, width, 3), np.uint8)


# --- the decoder, on hand-made outputs ------------------------------------------------------


def test_one_cell_decodes_to_opencvs_box_and_landmarks() -> None:
    bbox = [0.5, 0.25, math.log(4), math.log(5)]
    raw = DetectorSettings(upright_passes=0)  # the fake's landmarks are not a face
    detector, _ = fake_detector({(16, 3, 5): (0.81, 0.64, bbox, KPS)}, raw)
    (face,) = detector.detect(black(200, 300))
    assert face.score == pytest.approx(0.72)  # sqrt(cls * obj)
    assert (face.x1, face.y1, face.x2, face.y2) == pytest.approx(
        (56, 12, 120, 92)
    )  # centre (88, 52)
    expected = [((KPS[2 * n] + 5) * 16, (KPS[2 * n + 1] + 3) * 16) for n in range(5)]
    assert np.allclose(face.landmarks, expected)


def test_scores_are_clipped_and_thresholded() -> None:
    bbox = [0.0, 0.0, 1.0, 1.0]
    detector, _ = fake_detector(
        {(8, 1, 1): (1.7, 0.5, bbox, KPS), (8, 5, 5): (0.3, 0.3, bbox, KPS)}
    )
    (face,) = detector.detect(black(64, 64))  # the second, sqrt(0.09) = 0.3, is below 0.6
    assert face.score == pytest.approx(math.sqrt(0.5))


def test_large_images_are_shrunk_to_the_cap_padded_to_32_and_mapped_back() -> None:
    cell = {(32, 2, 3): (0.9, 0.9, [0.0, 0.0, 0.0, 0.0], KPS)}
    detector, session = fake_detector(cell, DetectorSettings(upright_passes=0))
    (face,) = detector.detect(black(1080, 1920))
    assert session.seen_shapes == [(1, 3, 544, 960)]  # 540x960, padded to 544
    assert face.center == pytest.approx((3 * 32 * 2, 2 * 32 * 2))  # back in 1080p pixels
    assert face.width == pytest.approx(64)


def test_odd_sizes_are_padded_not_resized() -> None:
    detector, session = fake_detector({})
    detector.detect(black(101, 33))
    assert session.seen_shapes[0] == (1, 3, 128, 64)


def test_overlapping_candidates_are_suppressed_to_the_best() -> None:
    bbox = [0.0, 0.0, math.log(8), math.log(8)]  # 64x64 boxes from stride-8 cells
    detector, _ = fake_detector({
        (8, 4, 4): (0.8, 0.8, bbox, KPS),
        (8, 4, 5): (0.9, 0.9, bbox, KPS),  # 8 px to the right: IoU 0.78 with the first
        (8, 20, 20): (0.7, 0.7, bbox, KPS),  # far away
    })  # fmt: skip
    faces = detector.detect(black(256, 256))
    assert [round(face.score, 2) for face in faces] == [0.9, 0.7]


def test_nms_keeps_disjoint_boxes_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    kept = nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.3)
    assert kept.tolist() == [1, 2]


def test_a_box_inside_a_better_one_is_a_part_of_that_face() -> None:
    boxes = np.array([[0, 0, 100, 100], [20, 20, 50, 50], [90, 0, 130, 40]], np.float32)
    assert outside_better_boxes(boxes, 0.8).tolist() == [0, 2]  # the third is 25 % inside
    assert outside_better_boxes(boxes, 1.0).tolist() == [0, 1, 2]


def test_nothing_found_retries_once_framed_and_small() -> None:
    detector, session = fake_detector({})
    assert detector.detect(black(350, 350)) == []
    assert len(session.seen_shapes) == 2
    assert max(session.seen_shapes[1][2:]) <= 320 + 31
    quiet, quiet_session = fake_detector({}, DetectorSettings(retry_border=0.0))
    quiet.detect(black(350, 350))
    assert len(quiet_session.seen_shapes) == 1


def test_a_session_without_yunet_outputs_is_refused() -> None:
    session = FakeYuNetSession({})
    session.output_names = ["scores", "boxes"]
    with pytest.raises(RuntimeSetupError, match="not a YuNet"):
        FaceDetector(session, "input")


@pytest.mark.parametrize(
    "settings",
    [
        {"score_threshold": 0.0},
        {"nms_iou_threshold": 1.5},
        {"max_input_side": 16},
        {"retry_border": -1.0},
        {"max_contained": 0.0},
        {"max_candidates": 0},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DetectorSettings(**settings)  # type: ignore[arg-type]


# --- the real model ------------------------------------------------------------------------


def parity_images() -> list[Image]:
    frame = video_frames("hamilton_640x360.mp4", 100, 1)
    return [*frame, shared_image("spoof", "samples", "image_T1.jpg")]


def test_decoding_matches_opencvs_face_detector_yn(
    yunet_session: OnnxSession, model_pack: ModelPack
) -> None:
    settings = DetectorSettings(retry_border=0.0, score_threshold=0.5, upright_passes=0)
    ours = FaceDetector(yunet_session, "input", settings)
    model = str(model_pack.model("yunet_n").path)
    for image in parity_images():
        height, width = image.shape[:2]
        reference = cv2.FaceDetectorYN.create(model, "", (width, height), 0.5, 0.3, 5000)
        _, rows = reference.detect(image)
        faces = ours.detect(image)
        assert rows is not None and len(faces) == len(rows) >= 1
        for face, row in zip(faces, rows, strict=True):
            assert np.allclose([face.x1, face.y1, face.width, face.height], row[:4], atol=0.5)
            assert np.allclose(np.ravel(face.landmarks), row[4:14], atol=0.5)
            assert face.score == pytest.approx(row[14], abs=1e-3)


@functools.cache
def walkers_frame() -> Image:
    return video_frames("walkers_1080p.mp4", 50, 1)[0]


def shared_image(*parts: str) -> Image:
    return read_image(shared_path("data", *parts))


Golden = tuple[
    Callable[[], Image], tuple[int, int], tuple[float, float, float, float], tuple[float, float]
]
GOLDEN: dict[str, Golden] = {
    # name: (image, faces, main face box (x1, y1, x2, y2), score range)
    "hamilton frame 100": (lambda: video_frames("hamilton_640x360.mp4", 100, 1)[0],
                           (1, 1), (205, 82, 285, 193), (0.88, 0.97)),
    "phone photo T1": (lambda: shared_image("spoof", "samples", "image_T1.jpg"),
                       (1, 1), (119, 109, 296, 357), (0.88, 0.97)),
    "ORL s1/1 (92x112 pgm)": (lambda: shared_image("faces", "orl", "s1", "1.pgm"),
                              (1, 1), (9, 15, 83, 108), (0.85, 0.97)),
    "LFW tight crop": (lambda: lfw("Aaron_Sorkin_0001.jpg"), (1, 1), (8, 16, 283, 341),
                       (0.88, 0.98)),
    "walkers frame 50": (walkers_frame, (5, 8), (208, 674, 278, 765), (0.85, 0.97)),
}  # fmt: skip


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_images(detector: FaceDetector, name: str) -> None:
    load, (fewest, most), expected_box, (low, high) = GOLDEN[name]
    image = load()
    faces = detector.detect(image)
    assert fewest <= len(faces) <= most
    tolerance = 0.03 * max(image.shape[:2])
    main = max(faces, key=lambda face: face.iou(FaceBox(*expected_box, 0.5, faces[0].landmarks)))
    assert np.allclose([main.x1, main.y1, main.x2, main.y2], expected_box, atol=tolerance)
    assert low <= main.score <= high


def test_landmarks_come_in_yunets_order(detector: FaceDetector) -> None:
    for face in detector.detect(video_frames("hamilton_640x360.mp4", 100, 1)[0]):
        right_eye, left_eye, nose, right_mouth, left_mouth = (face.landmark(k) for k in Landmark)
        assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye: smaller x
        assert right_mouth[0] < left_mouth[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


@pytest.mark.parametrize("name", ["Graeme_Smith_0001.jpg", "Mohammad_Fares_0001.jpg",
                                  "Barbara_De_Brun_0001.jpg"])  # fmt: skip
def test_tight_crops_missed_by_one_pass_are_found_by_the_retry(
    yunet_session: OnnxSession, detector: FaceDetector, name: str
) -> None:
    image = lfw(name)
    one_pass = FaceDetector(yunet_session, "input", DetectorSettings(retry_border=0.0))
    assert one_pass.detect(image) == []
    (face,) = detector.detect(image)
    assert face.center == pytest.approx((175, 175), abs=60)
    assert face.width > 200


def test_faces_under_40_px_are_found_in_1080p_at_the_default_cap(detector: FaceDetector) -> None:
    faces = detector.detect(walkers_frame())
    assert min(face.width for face in faces) < 40


def test_grey_single_channel_bgra_and_views_give_the_same_faces(detector: FaceDetector) -> None:
    grey = lfw("Aaron_Sorkin_0001.jpg")
    variants = [grey, grey[:, :, None], cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)]
    boxes = [[(f.x1, f.y1, f.score) for f in detector.detect(v)] for v in variants]
    assert boxes[0] == boxes[1] == boxes[2] != []
    mirrored_view = np.stack([grey] * 3, axis=2)[:, ::-1]  # negative strides
    assert len(detector.detect(mirrored_view)) == 1


def test_an_8k_frame_is_shrunk_and_its_face_found(detector: FaceDetector) -> None:
    frame = np.full((4320, 7680, 3), 90, np.uint8)
    face = cv2.cvtColor(cv2.resize(lfw("Aaron_Sorkin_0001.jpg"), (700, 700)), cv2.COLOR_GRAY2BGR)
    frame[1000:1700, 3000:3700] = face
    (found,) = detector.detect(frame)
    assert 2900 < found.center[0] < 3800 and 900 < found.center[1] < 1800


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 2), np.uint8), "HxW"),
        (np.zeros((10,), np.uint8), "HxW"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        ([[0, 0], [0, 0]], "numpy array"),
        (np.zeros((40_000, 1), np.uint8), "limit"),
    ],
)
def test_bad_images_are_input_errors(detector: FaceDetector, image: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        detector.detect(image)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (15, 400, 3), (64, 64, 3)])
def test_tiny_or_blank_images_have_no_face(detector: FaceDetector, shape: tuple[int, ...]) -> None:
    assert detector.detect(np.zeros(shape, np.uint8)) == []


def test_read_image_refuses_what_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture")
    for name in ("missing.jpg", "empty.jpg", "text.jpg"):
        with pytest.raises(InputError, match=name):
            read_image(tmp_path / name)
    with pytest.raises(InputError):
        read_image(tmp_path)  # a folder


def test_a_truncated_jpeg_is_an_image_or_an_input_error(
    detector: FaceDetector, tmp_path: Path
) -> None:
    whole = shared_path("data", "spoof", "samples", "image_T1.jpg").read_bytes()
    for fraction in (0.5, 0.05):
        path = tmp_path / f"cut_{fraction}.jpg"
        path.write_bytes(whole[: int(len(whole) * fraction)])
        try:
            image = read_image(path)
        except InputError:
            continue
        assert isinstance(detector.detect(image), list)


def test_a_detector_answering_nan_finds_no_face(yunet_session: OnnxSession) -> None:
    """A broken build or a faulty accelerator: no face, not a traceback on the frame."""

    class Broken:
        def __getattr__(self, name: str) -> object:
            return getattr(yunet_session, name)

        def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
            named = zip(yunet_session.output_names, yunet_session.run(inputs), strict=True)
            return [np.full_like(out, np.nan) if name.startswith("bbox") else out
                    for name, out in named]  # fmt: skip

    detector = FaceDetector(Broken(), yunet_session.contract.name)  # type: ignore[arg-type]
    image = read_image(shared_path("data", "spoof", "samples", "image_T1.jpg"))
    assert detector.detect(image) == []
