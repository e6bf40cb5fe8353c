"""Video files are bounded as photos are: a frame over the pixel cap, more frames than a
video may have and a file that is not a regular file (a named pipe waits for a writer for
ever) are one clear error each, before a frame is decoded where the file says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from inference.errors import InputError
from inference.face import eval_video
from inference.face.eval_video import MAX_FRAME_PIXELS, open_video, video_frames
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def oversized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One flat frame just over the cap (8200 x 4400 px), MJPEG: a 0.25 MB file."""
    path = tmp_path_factory.mktemp("video") / "big.avi"
    assert MAX_FRAME_PIXELS < 8200 * 4400
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5, (8200, 4400))
    writer.write(np.full((4400, 8200, 3), 90, np.uint8))
    writer.release()
    return path


def test_a_frame_over_the_pixel_cap_is_refused_before_decoding(oversized: Path) -> None:
    with pytest.raises(
        InputError, match=r"has frames of 8200x4400 px \(36 MP\), more than the 35 MP"
    ):
        open_video(oversized)
    with pytest.raises(InputError, match="8200x4400"):
        next(video_frames(oversized))


@pytest.mark.parametrize("kind", ["named pipe", "folder", "/dev/zero"])
def test_a_video_that_is_not_a_regular_file_is_refused(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = {"named pipe": tmp_path / "camera.mp4", "folder": tmp_path, "/dev/zero": None}[kind]
    if kind == "named pipe":
        os.mkfifo(tmp_path / "camera.mp4")
    path = path or Path("/dev/zero")
    with pytest.raises(InputError, match="is not a video file"):
        open_video(path)
    assert main.main(["eval", "video", str(path), "--out", str(tmp_path / "r.json")]) == 1
    assert "is not a video file (a device, a pipe or a folder)" in capsys.readouterr().err


@pytest.mark.needs_shared
def test_more_frames_than_a_video_may_have_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container's count refuses it at once (hamilton declares 275 frames)."""
    video = shared_path("data", "video", "hamilton_640x360.mp4")
    monkeypatch.setattr(eval_video, "MAX_VIDEO_FRAMES", 200)
    with pytest.raises(InputError, match="has 275 frames; a video may have 200"):
        open_video(video)


@pytest.mark.needs_shared
def test_the_shared_videos_are_read_within_the_bounds() -> None:
    for name, size in (("hamilton_640x360.mp4", (360, 640)), ("walkers_1080p.mp4", (1080, 1920))):
        frames = list(video_frames(shared_path("data", "video", name), max_frames=3))
        assert [frame.shape[:2] for _, frame in frames] == [size] * 3


def test_a_video_named_in_bytes_that_are_not_utf8_is_refused_not_a_crash(tmp_path: Path) -> None:
    """OpenCV cannot open such a name (a Latin-1 one, which Linux allows): given it, it
    killed the process with SIGSEGV. Run in a process of its own for that reason."""
    latin1 = tmp_path / os.fsdecode(b"f\xe9te.avi")
    latin1.write_bytes(b"not decoded: the name is refused first")
    code = (
        "import sys; from pathlib import Path; from inference.face.eval_video import open_video;"
        " open_video(Path(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, os.fsencode(latin1)],
        capture_output=True, text=True, errors="replace", timeout=120, check=False,
        env=os.environ | {"PYTHONPATH": str(Path(main.__file__).parent)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "f\\xe9te.avi is not a UTF-8 file name, which OpenCV cannot open" in done.stderr
