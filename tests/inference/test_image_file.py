"""The one reader of an operator's image file, shared by the face and fish sides: only a
regular file, read no further than one byte past its limit, refused before decoding when it
would cost more than any genuine photo does."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inference.errors import ImageError, ImageTooLargeError
from inference.image_file import (
    MAX_FILE_BYTES,
    MAX_JPEG_SCANS,
    MAX_PIXEL_SCANS,
    MAX_PIXELS,
    decode_bgr,
    read_image_file,
    scan_limit,
    write_image_file,
)
from tests.inference.scan_bombs import scan_bomb


def test_a_file_grown_past_the_limit_is_read_no_further() -> None:
    """/proc/self/maps stands for a file growing under us: its size says 0 bytes, and it has
    more. What is read stops one byte past the limit, and is refused with that size."""
    maps = Path("/proc/self/maps")
    assert maps.stat().st_size == 0 and len(maps.read_bytes()) > 1001
    with pytest.raises(ImageTooLargeError, match="is larger than the 1000 bytes") as refused:
        read_image_file(maps, max_bytes=1000)
    assert refused.value.size == 1001


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "sparse.png"
    with path.open("wb") as sparse:
        sparse.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ImageTooLargeError) as refused:
        read_image_file(path)
    assert refused.value.size == MAX_FILE_BYTES + 1
    assert str(refused.value).count("\n") == 0


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "at.png"
    path.write_bytes(b"x" * 1000)
    assert read_image_file(path, max_bytes=1000) == b"x" * 1000


def test_the_budget_admits_the_largest_photo_in_libjpegs_longest_script() -> None:
    """18 scans: libjpeg's progressive script for a CMYK photo, its longest."""
    assert scan_limit(MAX_PIXELS) == 18
    assert MAX_PIXEL_SCANS == MAX_PIXELS * 18


@pytest.mark.parametrize(
    ("pixels", "scans"),
    [(12_000_000, 64), (48_000_000, 64), (100_000_000, 37), (200_000_000, 18)],
    ids=["12 MP", "48 MP", "100 MP", "200 MP"],
)
def test_a_larger_photo_may_have_fewer_scans(pixels: int, scans: int) -> None:
    assert scan_limit(pixels) == min(MAX_JPEG_SCANS, scans)


def declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """A real small JPEG whose frame header now declares another size."""
    frame = jpeg.index(b"\xff\xc2")
    size = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return jpeg[: frame + 5] + size + jpeg[frame + 9 :]


def test_a_large_jpeg_in_more_scans_than_its_budget_is_refused_before_decoding() -> None:
    """15000 x 14000 px (210 MP) in 19 scans: within the 64 scans a small photo may have, but
    each scan is another pass over 210 MP (29 s in 64 scans here). The pixels after the header
    are a 64 x 64 photo's: the refusal names the declared size, so nothing was decoded."""
    small = scan_bomb(64, 19)
    assert decode_bgr(small, "small.jpg").shape == (64, 64, 3)
    with pytest.raises(ImageError, match=r"^big\.jpg is a JPEG of 210 MP in more than 18 scans"):
        decode_bgr(declaring(small, 15000, 14000), "big.jpg")


def test_a_figure_is_written_under_a_name_not_in_utf8(tmp_path: Path) -> None:
    """cv2.imwrite crashed the process (SIGSEGV) on such a name: an --out folder named in
    Latin-1 lost a whole eval at its first figure."""
    folder = tmp_path / os.fsdecode(b"r\xe9sultats")
    folder.mkdir()
    figure = np.full((8, 8, 3), 200, np.uint8)
    assert write_image_file(folder / "roc.png", figure)
    assert (folder / "roc.png").read_bytes().startswith(b"\x89PNG")
    assert not write_image_file(tmp_path / "missing" / "roc.png", figure)


@pytest.mark.parametrize("level", ["LOG_LEVEL_SILENT", "LOG_LEVEL_WARNING", "LOG_LEVEL_DEBUG"])
def test_opencvs_log_level_is_put_back_after_a_decode(level: str) -> None:
    """Quiet only while decoding: a camera's warnings afterwards still show, and a level
    set quieter than the decode's (SILENT) is never made louder."""
    import cv2

    before = cv2.utils.logging.getLogLevel()
    try:
        cv2.utils.logging.setLogLevel(getattr(cv2.utils.logging, level))
        with pytest.raises(ImageError, match="not a readable image"):
            decode_bgr(b"\x89PNG\r\n\x1a\n" + bytes(40), "cut.png")
        assert cv2.utils.logging.getLogLevel() == getattr(cv2.utils.logging, level)
    finally:
        cv2.utils.logging.setLogLevel(before)
