"""Reading a fish photo: its size from the header, a photo with too many pixels refused
before it is decoded, and a quality gate that does not copy a large photo as floats."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.errors import ImageError
from inference.fish.images import DEFAULT_GATE, UInt8Image, decode_image, shrink_to_fit
from inference.image_file import MAX_JPEG_SCANS, MAX_PIXELS, check_pixels
from inference.image_header import jpeg_scan_count, pixel_size
from tests.inference.scan_bombs import scan_bomb


def picture(width: int, height: int, channels: int = 3) -> UInt8Image:
    """Noise with some structure, so that every encoder has something to encode."""
    rng = np.random.default_rng(width * height)
    return rng.integers(0, 255, (height, width, channels), dtype=np.uint8)


def encoded(extension: str, image: UInt8Image, *params: int) -> bytes:
    ok, data = cv2.imencode(extension, image, list(params))
    assert ok
    return data.tobytes()


def with_app1(jpeg: bytes) -> bytes:
    """An EXIF-like segment between SOI and the frame header, as cameras write."""
    body = b"Exif\x00\x00" + bytes(300)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def grey_png(width: int, height: int) -> bytes:
    """A real, valid grey PNG of black rows: tiny on disk, ``width x height`` decoded."""
    squeeze = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte 0, then the pixels
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def declaring(data: bytes, width: int, height: int) -> bytes:
    """A real small PNG or JPEG whose header now declares another size."""
    if data.startswith(b"\x89PNG"):
        ihdr = struct.pack(">II", width, height) + data[24:29]
        return data[:8] + png_chunk(b"IHDR", ihdr) + data[33:]
    frame = data.index(b"\xff\xc0")
    return data[: frame + 5] + struct.pack(">HH", height, width) + data[frame + 9 :]


SMALL = picture(37, 23)
CASES = {
    "jpeg": encoded(".jpg", SMALL),
    "progressive jpeg": encoded(".jpg", SMALL, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    "jpeg with exif": with_app1(encoded(".jpg", SMALL)),
    "png": encoded(".png", SMALL),
    "webp (VP8)": encoded(".webp", SMALL, cv2.IMWRITE_WEBP_QUALITY, 80),
    "webp (VP8L)": encoded(".webp", SMALL, cv2.IMWRITE_WEBP_QUALITY, 101),
    "webp with alpha": encoded(".webp", picture(37, 23, 4), cv2.IMWRITE_WEBP_QUALITY, 80),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_the_size_in_the_header_is_the_size_decoded(data: bytes) -> None:
    decoded = decode_image(data, "photo")
    assert pixel_size(data) == (decoded.shape[1], decoded.shape[0]) == (37, 23)


def test_every_webp_layout_is_read() -> None:
    webps = [data for data in CASES.values() if data.startswith(b"RIFF")]
    assert {data[12:16] for data in webps} == {b"VP8 ", b"VP8L", b"VP8X"}


def test_a_header_cut_short_or_another_format_gives_no_size() -> None:
    jpeg = CASES["jpeg"]
    assert pixel_size(jpeg[:40]) is None
    assert pixel_size(CASES["png"][:20]) is None
    damaged = bytearray(declaring(CASES["png"], 16000, 16000))
    damaged[17] ^= 0xFF  # the width, no longer what the chunk's CRC was computed over
    assert pixel_size(bytes(damaged)) is None
    assert pixel_size(encoded(".bmp", SMALL)) is None
    assert pixel_size(b"") is None


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_a_photo_declaring_too_many_pixels_is_refused_from_its_header(kind: str) -> None:
    """The pixels after the header are those of a 37 x 23 photo: decoding would fail as
    unreadable. The refusal names the declared size: the header was read, nothing decoded."""
    huge = declaring(CASES[kind], 16000, 16000)
    with pytest.raises(ImageError, match=r"^bomb is 16000x16000 px \(256 MP\), more than the 210"):
        decode_image(huge, "bomb")


@pytest.mark.parametrize("junk", [b"\x00", b"\x12\x34\x56", b"\xff\x00", b"\x00\xff\x00"])
def test_bytes_out_of_place_before_the_frame_header_do_not_hide_it(junk: bytes) -> None:
    """libjpeg skips them with a warning and decodes the frame they precede: a walker that
    stopped at them let a 692-byte file declaring 240 MP be decoded (1.4 GB)."""
    huge = declaring(CASES["jpeg"], 20000, 12000)
    frame = huge.index(b"\xff\xc0")
    hidden = huge[:frame] + junk + huge[frame:]
    assert pixel_size(hidden) == (20000, 12000)
    with pytest.raises(ImageError, match=r"20000x12000 px \(240 MP\)"):
        decode_image(hidden, "junk.jpg")


def test_a_segment_length_below_two_does_not_hide_the_frame_header() -> None:
    """libjpeg reads such a length as an empty segment and goes on to the frame."""
    huge = declaring(CASES["jpeg"], 15000, 15000)
    hidden = huge[:2] + b"\xff\xe2\x00\x00" + huge[2:]
    assert pixel_size(hidden) == (15000, 15000)
    with pytest.raises(ImageError, match=r"15000x15000 px \(225 MP\)"):
        decode_image(hidden, "empty-segment.jpg")


def bmp_declaring(width: int, height: int) -> bytes:
    """A BMP header (a format whose size is not read here) and 16 bytes of pixels."""
    header = b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 2835, 2835, 0, 0)
    return header + info + b"\x00" * 16


def test_opencvs_own_refusal_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="more than the 210 MP a photo may have"):
        decode_image(bmp_declaring(65000, 65000), "huge.bmp")  # past OpenCV's own limit


def test_opencv_refuses_what_the_header_check_cannot_read_at_the_same_limit() -> None:
    """In a process that imports the package before cv2 (as the app does), OpenCV's own
    limit is the fish photos' limit: a format read only by the decoder is refused there."""
    script = (
        "import inference.fish.images as m, inference.image_file as f, os, sys\n"
        "assert os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'] == str(f.MAX_PIXELS)\n"
        "try:\n"
        "    m.decode_image(sys.stdin.buffer.read(), 'big.bmp')\n"
        "except m.ImageError as error:\n"
        "    print(error)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    done = subprocess.run(
        [sys.executable, "-c", script], input=bmp_declaring(20000, 12000),
        capture_output=True, env=env, check=True,
    )  # fmt: skip
    assert b"big.bmp declares more than the 210 MP" in done.stdout, done


def test_a_real_png_bomb_is_refused() -> None:
    side = 15_000  # 225 MP: a few hundred KB on disk, 675 MB decoded
    bomb = grey_png(side, side)
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageError, match=r"15000x15000 px \(225 MP\)"):
        decode_image(bomb, "bomb.png")


def test_the_pixel_limit_admits_a_200_mp_phone_photo() -> None:
    check_pixels(16_320, 12_240, "phone.jpg")  # 199.8 MP
    check_pixels(MAX_PIXELS, 1, "exactly.png")
    with pytest.raises(ImageError, match="more than the 210 MP"):
        check_pixels(MAX_PIXELS + 1, 1, "over.png")


def test_the_quality_gate_does_not_copy_the_photo_as_floats() -> None:
    """A grey copy (one byte a pixel) is all it may allocate: ``numpy.std`` made two
    float64 copies, 16 bytes a pixel, gigabytes for a large photo."""
    image = picture(3000, 2000)
    tracemalloc.start()
    try:
        assert DEFAULT_GATE.reject_reason(image) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 3000 * 2000


def test_the_gate_still_refuses_a_blank_photo() -> None:
    flat = np.full((100, 100, 3), 90, np.uint8)
    assert DEFAULT_GATE.reject_reason(flat) == "image is blank (one flat colour)"


@pytest.mark.parametrize(
    ("size", "fitted"), [((4000, 3000), (240, 180)), ((300, 900), (80, 240)), ((90, 60), (90, 60))]
)
def test_a_preview_is_scaled_down_to_fit_and_never_up(
    size: tuple[int, int], fitted: tuple[int, int]
) -> None:
    width, height = size
    preview = shrink_to_fit(np.zeros((height, width, 3), np.uint8), 240)
    assert (preview.shape[1], preview.shape[0]) == fitted


def test_a_photo_on_disk_is_refused_by_its_path(tmp_path: Path) -> None:
    from inference.fish.images import read_image

    path = tmp_path / "bomb.png"
    path.write_bytes(declaring(CASES["png"], 20000, 20000))
    with pytest.raises(ImageError, match=f"^{path} is 20000x20000 px"):
        read_image(path)


def test_a_progressive_scan_bomb_is_refused_before_it_is_decoded() -> None:
    """2000 x 2000 px in 2,000 scans, 0.3 MB: each scan is decoded over the whole photo (an
    8000 x 8000 one kept `jaga catch` decoding for minutes). The refusal counts the scans;
    the decoder has no such message."""
    bomb = scan_bomb(2000, 2000)
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageError, match=r"^bomb.jpg is a JPEG in more than 64 scans"):
        decode_image(bomb, "bomb.jpg")


def test_a_photo_at_the_scan_limit_is_decoded() -> None:
    assert decode_image(scan_bomb(64, MAX_JPEG_SCANS), "at.jpg").shape == (64, 64, 3)
    with pytest.raises(ImageError, match="more than 64 scans"):
        decode_image(scan_bomb(64, MAX_JPEG_SCANS + 1), "over.jpg")


def test_scan_markers_inside_a_segment_or_after_the_image_are_not_counted() -> None:
    """An EXIF thumbnail is a whole JPEG inside a segment, and a phone's MPO file puts a
    second picture after the first one's end: libjpeg decodes neither, so neither counts
    (counting the bytes FF DA would refuse such a photo)."""
    scans = b"\xff\xda" * (MAX_JPEG_SCANS + 1)
    body = b"Exif\x00\x00" + scans
    jpeg = CASES["progressive jpeg"]
    photo = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:] + scans
    assert jpeg_scan_count(photo, MAX_JPEG_SCANS) == jpeg_scan_count(jpeg, MAX_JPEG_SCANS)
    assert decode_image(photo, "phone.jpg").shape == (23, 37, 3)


@pytest.mark.parametrize("data", [CASES["jpeg"], CASES["progressive jpeg"]], ids=["base", "prog"])
def test_every_scan_of_an_encoders_jpeg_is_counted(data: bytes) -> None:
    """One scan for a baseline JPEG; libjpeg's progressive script writes 10 for colour."""
    expected = 10 if data is CASES["progressive jpeg"] else 1
    assert jpeg_scan_count(data, MAX_JPEG_SCANS) == expected
