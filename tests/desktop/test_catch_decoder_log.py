"""A photo OpenCV cannot finish decoding is refused in Jaga's one line: OpenCV's own log
(``[ WARN:0@0.680] global grfmt_png.cpp:793 ... PNG input buffer is incomplete``) says the
same thing in its words first, to an officer who cannot act on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import REPO_ROOT


# Most cuts made libpng print its own line too (``libpng error: PNG input buffer is
# incomplete``), which no log level quiets: only the first of these was refused in one line.
@pytest.mark.parametrize(
    ("height", "width", "kept"), [(64, 64, 3 / 5), (64, 64, 9 / 10), (480, 640, 1 / 2)]
)
def test_a_truncated_png_is_refused_without_opencvs_own_warning(
    store_path: Path, tmp_path: Path, height: int, width: int, kept: float
) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
    encoded = cv2.imencode(".png", pixels)[1].tobytes()
    photo = tmp_path / "cut.png"
    photo.write_bytes(encoded[: int(len(encoded) * kept)])  # the camera's copy, cut short
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    env[PASSPHRASE_ENV] = PASSPHRASE
    done = subprocess.run(
        [sys.executable, "main.py", "catch", str(photo), "--officer", "Ana Lima",
         "--db", str(store_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"jaga catch: error: {photo} is not a readable image (cut short: its end is missing;"
        " copy it from the camera again)"
    ]
