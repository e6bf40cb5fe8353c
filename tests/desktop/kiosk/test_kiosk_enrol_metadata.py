"""An enrolment photo is kept with its pixels and its orientation, and nothing else the
camera wrote about the person: no GPS position, serial number, owner or text."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.kiosk.enrol import NewPerson, enrol_person
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from inference.fish.images import decode_image, read_image
from sync.store import Store
from sync.store.photos import load_photo
from tests.desktop.kiosk.conftest import webcam_paths

pytestmark = pytest.mark.needs_shared

SERIAL = b"BodySerial-SN-4417-0093"
GPS_LATITUDE = struct.pack(">6I", 51, 1, 30, 1, 2718, 100)  # 51 deg 30' 27.18"
OWNER_TEXT = b"Ada Lovelace, 12 Acacia Avenue"
ROTATE_90_CW = 6  # EXIF: turn the stored pixels a quarter clockwise to show them


def exif_with_gps(orientation: int) -> bytes:
    """A phone's EXIF record, big-endian: orientation, a serial number and a GPS position."""
    ifd0_at, gps_at = 8, 8 + 2 + 3 * 12 + 4
    gps_size = 2 + 2 * 12 + 4
    serial_at = gps_at + gps_size
    latitude_at = serial_at + len(SERIAL)
    ifd0 = struct.pack(">H", 3) + b"".join([
        struct.pack(">HHIH2x", 0x0112, 3, 1, orientation),
        struct.pack(">HHII", 0xA431, 2, len(SERIAL), serial_at),  # BodySerialNumber
        struct.pack(">HHII", 0x8825, 4, 1, gps_at),  # the GPS directory
    ]) + b"\0\0\0\0"  # fmt: skip
    gps = struct.pack(">H", 2) + b"".join([
        struct.pack(">HHI2s2x", 0x0001, 2, 2, b"N\0"),
        struct.pack(">HHII", 0x0002, 5, 3, latitude_at),
    ]) + b"\0\0\0\0"  # fmt: skip
    assert len(ifd0) == gps_at - ifd0_at and len(gps) == gps_size
    return b"MM\0*" + struct.pack(">I", ifd0_at) + ifd0 + gps + SERIAL + GPS_LATITUDE


def jpeg_with_gps(path: Path, upright: np.ndarray) -> Path:
    """A JPEG whose pixels are stored turned a quarter anticlockwise, with an EXIF record
    (GPS, serial) saying to turn them back: it shows ``upright``."""
    ok, encoded = cv2.imencode(".jpg", np.rot90(upright).copy())
    assert ok
    data = encoded.tobytes()
    app1 = b"Exif\0\0" + exif_with_gps(ROTATE_90_CW)
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    path.write_bytes(data[:2] + segment + data[2:])
    return path


def png_with_text(path: Path, image: np.ndarray) -> Path:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    data = encoded.tobytes()
    body = b"Author\0" + OWNER_TEXT
    text = (
        struct.pack(">I", len(body))
        + b"tEXt"
        + body
        + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    )
    pixels_at = data.index(b"IDAT") - 4
    path.write_bytes(data[:pixels_at] + text + data[pixels_at:])
    return path


def test_enrolment_photos_are_stored_without_gps_serial_or_text(
    kiosk_store: Store, stages: Stages, tmp_path: Path
) -> None:
    first, second = (read_image(p)[:, :, ::-1] for p in webcam_paths("live")[:2])
    jpeg = jpeg_with_gps(tmp_path / "phone.jpg", first)
    png = png_with_text(tmp_path / "scan.png", second)
    person = NewPerson("B-001", "Ada", "front-gate", "consent-v2", "operator", 365)
    done = enrol_person(kiosk_store, stages, FaceSettings(), person, [jpeg, png])
    stored = [load_photo(kiosk_store.database, uid).data for uid in done.photo_uids]
    for secret in (SERIAL, GPS_LATITUDE, OWNER_TEXT):
        assert not any(secret in data for data in stored), secret
    assert b"tEXt" not in stored[1]
    for path, data in zip((jpeg, png), stored, strict=True):
        shown = decode_image(path.read_bytes(), str(path))
        kept = decode_image(data, "stored")
        assert kept.shape == shown.shape and np.array_equal(kept, shown)  # turned as shown
    assert decode_image(stored[0], "stored").shape[:2] == first.shape[:2]  # upright
