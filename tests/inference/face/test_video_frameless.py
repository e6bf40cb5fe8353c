"""A file that opens as a video but gives no frame (a clip saved with none, one whose frames
are all damaged), and a still photo whatever its name (FFmpeg opens a JPEG or a PNG as a
video of one frame), are refused when the file is opened, one :class:`InputError` line
naming it, not taken for a video that ends at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import InputError
from inference.face.eval_video import video_frames
from tests.inference.face.frameless import clip, frameless, still


@pytest.mark.parametrize("kind", ["saved with none", "damaged frames"])
def test_a_video_with_no_frame_is_refused_when_opened(tmp_path: Path, kind: str) -> None:
    path = frameless(tmp_path, kind)
    with pytest.raises(InputError, match="holds no frame it can read") as refused:
        video_frames(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_a_still_photo_is_refused_whatever_its_name(tmp_path: Path, kind: str) -> None:
    for path in (still(tmp_path, kind), tmp_path / f"photo.{'jpg' if kind == 'jpeg' else 'png'}"):
        with pytest.raises(InputError, match="is a still photo, not a video") as refused:
            video_frames(path)
        assert str(path) in str(refused.value)


def test_a_video_gives_every_frame_from_its_first(tmp_path: Path) -> None:
    """The frames read to tell a video from a photo are not lost to it."""
    frames = list(video_frames(clip(tmp_path / "five.avi", 5)))
    assert [time for time, _ in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert list(video_frames(clip(tmp_path / "one.avi", 1)))  # one frame: a video still
    assert len(list(video_frames(tmp_path / "five.avi", max_frames=1))) == 1
