"""The one reader of an operator's image file, shared by the face and fish sides: only a
regular file, read no further than one byte past its limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import ImageTooLargeError
from inference.image_file import MAX_FILE_BYTES, read_image_file


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
