"""A photo's decode is bounded in bytes, not pixels: a 16-bit RGBA PNG (8 bytes a pixel when
decoded with its alpha) under the pixel limit would take 2-3 times the memory the limit was
set for (3 bytes a pixel), so it is refused from its header, before anything is decoded."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from inference.errors import ImageError
from inference.image_file import MAX_DECODED_BYTES, MAX_PIXELS, decode_bgr
from inference.image_header import decoded_bytes, decoded_layout, may_be_transparent


def png_declaring(
    width: int,
    height: int,
    depth: int,
    colour_type: int,
    *,
    trns: bool = False,
    whole: bool = False,
) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` px at ``depth`` bits of
    ``colour_type`` (a tRNS chunk after it where asked), with a few bytes of image data (a
    bomb), or all of it (``whole``: zeros, decodable)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    extra = chunk(b"PLTE", bytes(3)) if colour_type == 3 else b""
    extra += (
        chunk(b"tRNS", bytes(2 if colour_type == 0 else 6 if colour_type == 2 else 1))
        if trns
        else b""
    )
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    row = 1 + width * samples * depth // 8  # a filter byte, then the samples
    body = zlib.compress(bytes(row * height if whole else 64 * 1024), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))  # fmt: skip


def test_a_16_bit_rgba_png_under_the_pixel_limit_is_refused_by_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[int] = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1))
    monkeypatch.setattr(cv2, "imdecodeWithMetadata", lambda *a: decoded.append(1))
    width, height = 10_000, 10_000  # 100 MP: under 210 MP, but 800 MB decoded with alpha
    assert width * height < MAX_PIXELS
    with pytest.raises(ImageError, match=r"^bomb\.png .* 800 MB .* 630 MB"):
        decode_bgr(png_declaring(width, height, 16, 6), "bomb.png")
    assert decoded == [], "a 16-bit RGBA PNG under the pixel limit was decoded"


@pytest.mark.parametrize(
    ("depth", "colour_type", "trns", "layout"),
    [
        (16, 2, False, (3, 1)),  # the colour decode: 8-bit BGR, whatever the file's depth
        (16, 0, True, (3, 1)),  # grey with tRNS: no alpha after all, then the colour decode
        (8, 3, True, (4, 1)),  # a palette with tRNS: 8-bit BGRA
        (16, 2, True, (4, 2)),  # RGB with tRNS at 16 bits: BGRA at 16 bits
        (8, 4, False, (4, 1)),
        (16, 4, False, (4, 2)),
        (8, 6, False, (4, 1)),
        (16, 6, False, (4, 2)),
    ],
)
def test_the_layout_is_the_decode_this_app_makes(
    depth: int, colour_type: int, trns: bool, layout: tuple[int, int]
) -> None:
    """As OpenCV decodes each: checked against its decode of a 4 x 4 one."""
    data = png_declaring(4, 4, depth, colour_type, trns=trns, whole=True)
    assert decoded_layout(data) == layout
    assert decoded_bytes(data) == 16 * layout[0] * layout[1]
    buffer = np.frombuffer(data, np.uint8)
    colour = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    assert colour is not None
    with_alpha = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if may_be_transparent(data) else None
    if with_alpha is not None and with_alpha.ndim == 3 and with_alpha.shape[2] == 4:
        assert (4, with_alpha.dtype.itemsize) == layout  # decoded so, then composited
    else:  # no alpha (after all): the colour decode is the one made, or the larger
        assert (colour.shape[2], colour.dtype.itemsize) == layout
        assert with_alpha is None or with_alpha.nbytes <= colour.nbytes


def test_the_budget_is_the_pixel_limit_in_8_bit_rgb() -> None:
    """An 8-bit RGB photo meets both limits at once: nothing the pixel limit admitted for
    it before is refused now; nor a 16-bit RGB one (the colour decode drops the depth)."""
    assert MAX_DECODED_BYTES == 3 * MAX_PIXELS
    for depth in (8, 16):
        assert decoded_bytes(png_declaring(14_000, 15_000, depth, 2)) == 3 * 14_000 * 15_000
    assert MAX_DECODED_BYTES >= 3 * 14_000 * 15_000
