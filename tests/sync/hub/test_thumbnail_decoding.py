"""A thumbnail shows the photo as a person sees it, and its making stays within a worker's
memory: a transparent PNG or WebP on white (not the colour hidden under its transparent
pixels), a photo turned as its EXIF orientation says (a phone held upright stores its
pixels sideways), and no PNG or WebP decoded whole beyond what a worker can afford."""

from __future__ import annotations

import struct
import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from sync.hub import thumbnails
from tests.inference.test_decode_budget import png_declaring
from tests.sync.hub.test_review_thumbnails import _png_chunk, _png_declaring

Image = npt.NDArray[np.uint8]


def _decoded(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def _encoded(extension: str, image: npt.NDArray[Any], *params: int) -> bytes:
    ok, encoded = cv2.imencode(extension, image, list(params))
    assert ok
    return bytes(encoded.tobytes())


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an EXIF record (APP1) saying ``orientation``, right after its SOI."""
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)  # a SHORT, in the value field
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + bytes(4)
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _marked_landscape(width: int, height: int) -> Image:
    """Grey, with a red block in its top-left corner: where the top-left ends up tells how
    the picture was turned."""
    image = np.full((height, width, 3), 128, np.uint8)
    image[: height // 4, : width // 4] = (0, 0, 255)
    return image


@pytest.mark.parametrize("width", [1200, 4000], ids=["decoded-whole", "decoded-reduced"])
def test_a_jpeg_is_turned_upright_as_its_exif_orientation_says(width: int) -> None:
    """Orientation 6: the camera's top is the picture's right, so the stored landscape
    shows upright as a portrait, its stored top-left corner at the top right."""
    height = width * 2 // 3
    stored = _encoded(".jpg", _marked_landscape(width, height))
    thumbnail = _decoded(thumbnails.make_thumbnail(_with_exif_orientation(stored, 6)))
    assert thumbnail.shape[0] == thumbnails.LONGEST_SIDE > thumbnail.shape[1]
    top_right = thumbnail[5, -5].astype(int)
    top_left = thumbnail[5, 5].astype(int)
    assert top_right[2] > 200 and top_right[:2].max() < 60  # red
    assert abs(top_left - 128).max() < 20  # grey


def _transparent_quarter(dtype: type[np.unsignedinteger[Any]]) -> npt.NDArray[Any]:
    """A BGRA image, opaque mid-grey, whose left quarter is fully transparent black."""
    top = np.iinfo(dtype).max
    image = np.full((240, 400, 4), top // 2, dtype)
    image[..., 3] = top
    image[:, :100] = 0
    return image


@pytest.mark.parametrize(
    "data",
    [
        _encoded(".png", _transparent_quarter(np.uint8)),
        _encoded(".png", _transparent_quarter(np.uint16)),
        _encoded(".webp", _transparent_quarter(np.uint8), cv2.IMWRITE_WEBP_QUALITY, 101),
    ],
    ids=["png", "png-16-bit", "webp"],
)
def test_a_transparent_photo_is_shown_on_white_not_on_its_hidden_colour(data: bytes) -> None:
    thumbnail = _decoded(thumbnails.make_thumbnail(data))
    assert thumbnail.shape[:2] == (192, 320)
    assert (thumbnail[:, :70] > 245).all()  # white, not the black beneath
    assert (abs(thumbnail[:, 90:].astype(int) - 127) < 8).all()  # the opaque part as it is


def test_a_transparent_photo_is_turned_upright_as_its_exif_orientation_says() -> None:
    """Its transparent left quarter, turned by orientation 6, is the thumbnail's top."""
    png = _encoded(".png", _transparent_quarter(np.uint8))
    tiff = _with_exif_orientation(b"\xff\xd8", 6)[12:]
    turned = png[:33] + _png_chunk(b"eXIf", tiff) + png[33:]  # after the IHDR chunk
    thumbnail = _decoded(thumbnails.make_thumbnail(turned))
    assert thumbnail.shape[:2] == (320, 192)
    assert (thumbnail[:70] > 245).all()
    assert (abs(thumbnail[90:].astype(int) - 127) < 8).all()


def test_the_compositing_is_the_devices() -> None:
    """The hub keeps its own copy of the device's compositing (``sync`` never imports
    ``inference``): both give the same pixels, 8 and 16 bits, every orientation."""
    from inference import image_alpha
    from sync.hub import photo_alpha

    rng = np.random.default_rng(7)
    for dtype in (np.uint8, np.uint16):
        bgra = rng.integers(0, np.iinfo(dtype).max, (300, 7, 4), dtype, endpoint=True)
        assert np.array_equal(photo_alpha.on_white(bgra), image_alpha.on_white(bgra))
    image = rng.integers(0, 255, (5, 7, 3), np.uint8, endpoint=True)
    for orientation in range(1, 9):
        turned = photo_alpha.upright(image, orientation)
        assert np.array_equal(turned, image_alpha.upright(image, orientation))
        tiff = _with_exif_orientation(b"\xff\xd8", orientation)[12:]
        assert photo_alpha.exif_orientation(tiff) == image_alpha.exif_orientation(tiff)
        assert photo_alpha.exif_orientation(tiff) == orientation


def test_a_png_too_large_to_decode_whole_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PNG or WebP is decoded at full size (only a JPEG can be decoded reduced): below the
    photo limit, 210 MP, one is still 630 MB of RGB; above the thumbnail's own limit it is
    refused before any pixel is decoded."""
    decoded: list[int] = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1))
    monkeypatch.setattr(cv2, "imdecodeWithMetadata", lambda *a: decoded.append(1))
    side = int(thumbnails.MAX_FULL_DECODE_PIXELS**0.5) + 1
    assert side * side < thumbnails.MAX_SOURCE_PIXELS
    with pytest.raises(thumbnails.ThumbnailRefusedError, match="decoded whole"):
        thumbnails.make_thumbnail(_png_declaring(side, side))
    assert decoded == []


def test_one_worker_decodes_one_photo_whole_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads of one worker asking for PNG thumbnails at once: each decode at full size
    waits for the one before, so a worker's decoded pixels stay one photo's."""
    real = cv2.imdecode
    inside, most = 0, 0
    lock = threading.Lock()

    def counted(*args: Any) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            return real(*args)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(cv2, "imdecode", counted)
    monkeypatch.setattr(cv2, "imdecodeWithMetadata", counted)
    png = _encoded(".png", np.full((1500, 2000, 3), 90, np.uint8))
    threads = [threading.Thread(target=thumbnails.make_thumbnail, args=(png,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_16_bit_rgba_png_under_the_pixel_limit_is_refused_by_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decoded whole with its alpha, a 16-bit RGBA PNG takes 8 bytes a pixel, where the
    limit was set for 3 (8-bit RGB): at 12 MP it is 96 MB, past the 72 MB the limit bounds
    at 24 MP. Its header says so: refused before any pixel is decoded."""
    decoded: list[int] = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1))

    def decoded_with_alpha(*args: object) -> tuple[None, list[int], list[bytes]]:
        decoded.append(1)
        return None, [], []  # nothing: the colour decode follows

    monkeypatch.setattr(cv2, "imdecodeWithMetadata", decoded_with_alpha)
    width, height = 4000, 3000
    assert width * height < thumbnails.MAX_FULL_DECODE_PIXELS
    data = png_declaring(width, height, 16, 6)
    with pytest.raises(thumbnails.ThumbnailRefusedError, match="96 MB"):
        thumbnails.make_thumbnail(data)
    assert decoded == [], "a 16-bit RGBA PNG under the pixel limit was decoded whole"
