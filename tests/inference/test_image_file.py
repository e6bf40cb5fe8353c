"""The one reader of an operator's image file, shared by the face and fish sides: only a
regular file, read no further than one byte past its limit, refused before decoding when it
would cost more than any genuine photo does."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
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


def textured(height: int = 48, width: int = 64) -> np.ndarray:
    """A fish-like picture, BGR: a striped body over a noisy background, every pixel
    different from the white a transparent image must become."""
    rng = np.random.default_rng(7)
    image = rng.integers(20, 120, (height, width, 3), dtype=np.uint8)
    rows, cols = np.mgrid[:height, :width]
    body = ((rows - height / 2) / (height / 3)) ** 2 + ((cols - width / 2) / (width / 2.5)) ** 2
    image[body < 1] = (30, 140, 230)
    image[(body < 1) & (cols % 9 < 3)] = (240, 240, 235)
    return image


def encoded(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return bytes(data.tobytes())


def colour_decode(data: bytes) -> np.ndarray:
    """OpenCV's own colour decode: alpha dropped, turned as EXIF says."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def png(colour_type: int, depth: int, rows: np.ndarray, *chunks: tuple[bytes, bytes]) -> bytes:
    """A PNG written chunk by chunk, for the kinds OpenCV's encoder does not write (grey and
    alpha, a palette with transparency): ``rows`` are the samples as stored, big-endian."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width = rows.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row.astype(f">u{depth // 8}").tobytes() for row in rows)
    body = b"".join(chunk(kind, data) for kind, data in chunks)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )  # fmt: skip


def transparent_files() -> dict[str, bytes]:
    """The textured picture, or its grey, made wholly transparent by each kind of alpha."""
    bgr = textured()
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    clear = np.zeros(grey.shape, np.uint8)
    palette = np.arange(256, dtype=np.uint8).repeat(3).tobytes()  # index i: grey i
    return {
        "RGBA": encoded(".png", np.dstack([bgr, clear])),
        "RGBA 16-bit": encoded(".png", np.dstack([bgr, clear]).astype(np.uint16) * 257),
        "grey and alpha": png(4, 8, np.dstack([grey, clear])),
        "grey and alpha 16-bit": png(4, 16, np.dstack([grey, clear]).astype(np.uint16) * 257),
        "palette with tRNS": png(3, 8, grey, (b"PLTE", palette), (b"tRNS", bytes(256))),
        "RGB with tRNS": png(2, 8, np.full((8, 8, 3), 77, np.uint8), (b"tRNS", bytes([0, 77] * 3))),
        "WebP": encoded(".webp", np.dstack([bgr, clear]), cv2.IMWRITE_WEBP_QUALITY, 101),
    }


@pytest.mark.parametrize("kind", list(transparent_files()))
def test_a_transparent_image_is_the_white_picture_a_viewer_shows(kind: str) -> None:
    """A fish PNG with alpha 0 everywhere was classified from the colour under its alpha
    (Dascyllus reticulatus, 99 %) while every viewer, a hub reviewer's too, shows nothing."""
    data = transparent_files()[kind]
    decoded = decode_bgr(data, "clear.png")
    assert decoded.dtype == np.uint8 and decoded.ndim == 3 and decoded.shape[2] == 3
    assert np.array_equal(decoded, np.full_like(decoded, 255))


def test_half_transparent_pixels_are_mixed_with_white() -> None:
    bgr = textured()
    half = np.full(bgr.shape[:2], 128, np.uint8)
    expected = (bgr.astype(np.int32) * 128 + 255 * 127 + 127) // 255
    for data in (
        encoded(".png", np.dstack([bgr, half])),
        encoded(".png", np.dstack([bgr, half]).astype(np.uint16) * 257),
    ):
        assert np.array_equal(decode_bgr(data, "half.png"), expected)


def test_an_opaque_image_decodes_as_before() -> None:
    """Alpha 255 everywhere, and the formats with no alpha: the pixels OpenCV's colour
    decode gives, untouched."""
    bgr = textured()
    for data in (
        encoded(".png", np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])),
        encoded(".png", bgr),
        encoded(".png", bgr.astype(np.uint16) * 257 + 100),
        encoded(".jpg", bgr),
        encoded(".webp", bgr),
        encoded(".bmp", bgr),
    ):
        assert np.array_equal(decode_bgr(data, "opaque"), colour_decode(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_transparent_photo_is_turned_upright_as_an_opaque_one_is(orientation: int) -> None:
    """OpenCV turns a PNG as its EXIF orientation says; the composite is turned the same way:
    its one transparent pixel lands where OpenCV puts a marked pixel of an opaque twin."""
    pil = pytest.importorskip("PIL.Image")
    exif = pil.Exif()
    exif[0x0112] = orientation

    def turned_png(rgba: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        pil.fromarray(rgba, "RGBA").save(buffer, "PNG", exif=exif.tobytes())
        return buffer.getvalue()

    bgr = textured(5, 7)
    alpha = np.full(bgr.shape[:2], 255, np.uint8)
    clear_corner = alpha.copy()
    clear_corner[0, 0] = 0
    marked = np.zeros_like(bgr)
    marked[0, 0] = 255
    composite = decode_bgr(turned_png(np.dstack([bgr[..., ::-1], clear_corner])), "a.png")
    opaque_data = turned_png(np.dstack([bgr[..., ::-1], alpha]))
    upright = colour_decode(opaque_data)
    assert np.array_equal(decode_bgr(opaque_data, "b.png"), upright)
    mark_data = turned_png(np.dstack([marked, alpha]))
    mark = colour_decode(mark_data)
    assert composite.shape == upright.shape
    whitened = (composite != upright).any(axis=2)
    assert np.array_equal(whitened, mark.any(axis=2))
    assert (composite[whitened] == 255).all()
