"""Bad input through the CLI and the pipeline: each case has a defined status or one clear
``error:`` line (exit status 1), never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import main
from inference.errors import InputError
from inference.face.assemble import StageChoice, build_stages
from inference.face.detect import read_image
from inference.face.pipeline import DecisionPipeline
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path
from tests.inference.face.helpers import lfw
from tests.inference.scan_bombs import scan_bomb

pytestmark = pytest.mark.needs_shared
Image = npt.NDArray[np.uint8]


def sample() -> Path:
    return shared_path("data", "spoof", "samples", "image_T1.jpg")


def write(path: Path, image: Image) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def many_faces() -> Image:
    """A 6 x 4 contact sheet of different LFW faces, 200 px each."""
    names = sorted(p.name for p in shared_path("data", "faces", "lfw", "images").glob("*.jpg"))
    tiles = [cv2.resize(lfw(name), (200, 200)) for name in names[::97][:24]]
    rows = [np.hstack(tiles[row * 6 : row * 6 + 6]) for row in range(4)]
    return np.asarray(np.vstack(rows), np.uint8)


def eight_k() -> Image:
    canvas = np.full((4320, 7680, 3), 90, np.uint8)
    photo = cv2.resize(read_image(sample()), (1440, 1920))
    canvas[1200:3120, 3000:4440] = photo
    return canvas


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    data = sample().read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image", encoding="utf-8")
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.mp4").write_text("not a video", encoding="utf-8")
    (folder / "bomb.jpg").write_bytes(scan_bomb(2000, 2000))
    os.mkfifo(folder / "pipe.jpg")
    grey = cv2.cvtColor(read_image(sample()), cv2.COLOR_BGR2GRAY)
    return {
        "missing": folder / "missing.jpg",
        "empty": folder / "empty.jpg",
        "text": folder / "text.jpg",
        "truncated": folder / "truncated.jpg",
        "folder": folder,
        "/dev/zero": Path("/dev/zero"),
        "named pipe": folder / "pipe.jpg",
        "scan bomb": folder / "bomb.jpg",
        "not a video": folder / "text.mp4",
        "missing video": folder / "missing.mp4",
        "grayscale": write(folder / "grey.png", np.asarray(grey, np.uint8)),
        "one pixel": write(folder / "one.png", np.full((1, 1, 3), 128, np.uint8)),
        "no face": write(folder / "flat.png", np.full((480, 640, 3), 128, np.uint8)),
        "8k": write(folder / "8k.jpg", eight_k()),
        "many faces": write(folder / "many.jpg", many_faces()),
    }


def jaga(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main.main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return status, captured.out, captured.err


def models(pack: ModelPack) -> list[str]:
    return ["--models-dir", str(pack.root), "--providers", "cpu", "--threads", "2"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "cannot read"),
        ("empty", "not a readable image"),
        ("text", "not a readable image"),
        ("truncated", "not a readable image"),
        ("folder", "is not a photo file"),
        ("/dev/zero", "is not a photo file"),
        ("named pipe", "is not a photo file"),  # it waited for a writer for ever
        ("scan bomb", "is a JPEG in more than 64 scans"),  # 0.3 MB, each scan decoded whole
    ],
)
def test_unreadable_images_are_one_line_errors(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    for argv in (["face", "verify", str(sample()), str(files[case])],
                 ["face", "verify", str(files[case]), str(sample())],
                 ["face", "detect", str(files[case])]):  # fmt: skip
        status, out, err = jaga(argv, capsys)
        assert status == 1 and out == "" and message in err
        assert err.startswith("jaga face ") and err.count("\n") == 1


@pytest.mark.parametrize("case", ["not a video", "missing video"])
def test_unreadable_videos_are_one_line_errors(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str, tmp_path: Path
) -> None:
    report = str(tmp_path / "r.json")
    for argv in (["face", "detect", str(files[case])],
                 ["eval", "video", str(files[case]), "--out", report]):  # fmt: skip
        status, out, err = jaga(argv, capsys)
        assert status == 1 and out == "" and err.count("\n") == 1
        assert "is not a readable video" in err or "does not exist" in err


@pytest.mark.parametrize(
    ("case", "statuses"),
    [
        ("one pixel", {"no_face_detected"}),
        ("no face", {"no_face_detected"}),
        ("many faces", {"multiple_faces"}),
        ("grayscale", {"verified", "spoof_detected", "low_quality"}),
        ("8k", {"verified", "spoof_detected", "low_quality"}),
    ],
)
def test_odd_images_get_a_defined_status(
    files: dict[str, Path],
    model_pack: ModelPack,
    capsys: pytest.CaptureFixture[str],
    case: str,
    statuses: set[str],
) -> None:
    argv = ["face", "verify", str(sample()), str(files[case]), *models(model_pack)]
    status, out, _ = jaga(argv, capsys)
    decision = json.loads(out)
    assert status == 0 and decision["status"] in statuses, decision


def test_a_reference_without_a_face_is_a_status_too(
    files: dict[str, Path], model_pack: ModelPack, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["face", "verify", str(files["no face"]), str(sample()), *models(model_pack)]
    status, out, _ = jaga(argv, capsys)
    decision = json.loads(out)
    assert status == 0 and decision["status"] == "no_face_detected"
    assert decision["image"] == "reference"


def test_many_faces_are_each_tracked_and_decided_by_detect(
    files: dict[str, Path], model_pack: ModelPack, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["face", "detect", str(files["many faces"]), *models(model_pack)]
    status, out, _ = jaga(argv, capsys)
    _, frame = (json.loads(line) for line in out.splitlines())
    assert status == 0 and len(frame["faces"]) >= 20
    assert len(frame["decisions"]) == len(frame["faces"])
    assert len({face["track_id"] for face in frame["faces"]}) == len(frame["faces"])


@pytest.fixture(scope="module")
def pipeline(model_pack: ModelPack) -> DecisionPipeline:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    settings = FaceSettings().for_still_images()
    return DecisionPipeline(build_stages(runtime, settings, StageChoice(recogniser=False)),
                            settings)  # fmt: skip


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((100, 100, 3), np.float32),
        np.zeros((100, 100, 5), np.uint8),
        np.zeros((4, 100, 100, 3), np.uint8),
        np.zeros((10, 40000, 3), np.uint8),
    ],
    ids=["empty", "float", "five channels", "a batch", "too wide"],
)
def test_arrays_that_are_not_images_are_input_errors(
    pipeline: DecisionPipeline, array: npt.NDArray[np.generic]
) -> None:
    with pytest.raises(InputError):
        pipeline.process(array, 0.0)


def test_grayscale_and_bgra_arrays_are_accepted(pipeline: DecisionPipeline) -> None:
    grey = lfw("Aaron_Sorkin_0001.jpg")
    assert grey.ndim == 2
    assert len(pipeline.process(grey, 0.0).faces) == 1
    bgra = cv2.cvtColor(read_image(sample()), cv2.COLOR_BGR2BGRA)
    assert len(pipeline.process(np.asarray(bgra, np.uint8), 1.0).faces) == 1
