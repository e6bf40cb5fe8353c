"""Synthetic attacks made from live frames, to check that a liveness cue responds to the
physics it claims to read. They show that a cue reacts to the artefact we put in; not that
real screens or photos produce that artefact at that strength: that needs real attacks.

* :func:`screen_recapture`: a frame shown on a phone-sized screen and filmed again. The
  screen is drawn pixel by pixel as vertical R, G, B stripes with a dark gap between rows,
  and the camera samples that grid without a low-pass filter at a scale unrelated to it,
  which is how moire arises; ``grid_strength`` blends the grid from absent (0: only the
  screen's tint, gamma, bezel, glare, optics and JPEG) to full (1).
* :func:`tilted_photo`: a frame treated as a flat photo and turned about a vertical or
  horizontal axis through the face, as a pinhole camera would see it: what a person
  waving a printed photo does to the landmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float64]
SUBPIXELS = 3  # one displayed pixel is drawn as a 3x3 block: R, G, B columns


@dataclass(frozen=True)
class ScreenSettings:
    """The ranges each synthetic screen recapture is drawn from."""

    display_width_px: tuple[int, int] = (360, 720)  # pixels across the shown image
    screen_fraction: tuple[float, float] = (0.6, 0.95)  # of the camera frame's short fit
    max_tilt_degrees: float = 8.0
    bezel_fraction: float = 0.06
    row_gap_brightness: float = 0.6  # the dark line between pixel rows
    glare_peak: tuple[float, float] = (0.2, 0.6)
    optics_blur_sigma: tuple[float, float] = (0.5, 0.9)
    jpeg_quality: tuple[int, int] = (80, 95)
    output_size: tuple[int, int] = (640, 480)


def screen_recapture(
    source: Image,
    background: Image,
    rng: np.random.Generator,
    grid_strength: float,
    settings: ScreenSettings | None = None,
) -> Image:
    """``source`` shown on a screen in front of ``background`` and filmed again (BGR)."""
    s = settings or ScreenSettings()
    width, height = s.output_size
    screen = _with_bezel(_display(source, rng, grid_strength, s), s.bezel_fraction)
    scale = rng.uniform(*s.screen_fraction) * min(width / screen.shape[1], height / screen.shape[0])
    degrees = rng.uniform(-s.max_tilt_degrees, s.max_tilt_degrees)
    middle = (screen.shape[1] / 2, screen.shape[0] / 2)
    turn = np.asarray(cv2.getRotationMatrix2D(middle, degrees, scale), np.float64)
    turn[:, 2] += np.array([width / 2 - middle[0], height / 2 - middle[1]])
    turn[:, 2] += rng.uniform(-20, 20, 2)
    # no low-pass filter before sampling: the camera aliases the pixel grid into moire
    filmed = cv2.warpAffine(screen, turn, (width, height), flags=cv2.INTER_LINEAR,
                            borderValue=(-1.0, -1.0, -1.0))  # fmt: skip
    behind = cv2.GaussianBlur(cv2.resize(background, (width, height)).astype(np.float64) / 255,
                              (0, 0), 3)  # fmt: skip
    on_screen = filmed[..., :1] >= 0
    lit = np.where(on_screen, filmed, behind) + on_screen * _glare(rng, width, height, s)
    blurred = np.asarray(cv2.GaussianBlur(lit, (0, 0), rng.uniform(*s.optics_blur_sigma)))
    frame = np.clip(blurred + rng.normal(0, 0.01, blurred.shape), 0, 1)
    return _jpeg(np.asarray(frame * 255, np.uint8), int(rng.integers(*s.jpeg_quality)))


def _display(
    source: Image, rng: np.random.Generator, strength: float, s: ScreenSettings
) -> FloatImage:
    shown_width = int(rng.integers(*s.display_width_px))
    shown_height = round(shown_width * source.shape[0] / source.shape[1])
    shown = cv2.resize(source, (shown_width, shown_height), interpolation=cv2.INTER_AREA)
    light = (shown.astype(np.float64) / 255) ** rng.uniform(0.8, 1.2)  # gamma mismatch
    light *= np.array([rng.uniform(1.0, 1.15), 1.0, rng.uniform(0.85, 1.0)])  # bluish white
    block = np.zeros((SUBPIXELS, SUBPIXELS, 3))
    for channel in range(3):
        block[:, SUBPIXELS - 1 - channel, channel] = 1.0  # BGR: red stripe on the left
    block[SUBPIXELS - 1] *= s.row_gap_brightness
    grid = np.tile(block, (shown_height, shown_width, 1)) * SUBPIXELS * 0.85
    enlarged = np.repeat(np.repeat(light, SUBPIXELS, 0), SUBPIXELS, 1)
    return np.clip(enlarged * (strength * grid + (1 - strength)), 0, 1)


def _with_bezel(screen: FloatImage, fraction: float) -> FloatImage:
    border = round(fraction * screen.shape[1])
    framed = np.full((screen.shape[0] + 2 * border, screen.shape[1] + 2 * border, 3), 0.05)
    framed[border:-border, border:-border] = screen
    return framed


def _glare(rng: np.random.Generator, width: int, height: int, s: ScreenSettings) -> FloatImage:
    centre_x, centre_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    radius = rng.uniform(0.04, 0.12) * width
    ys, xs = np.mgrid[0:height, 0:width]
    spot = np.exp(-((xs - centre_x) ** 2 + (ys - centre_y) ** 2) / (2 * radius**2))
    return np.asarray(spot[..., None] * rng.uniform(*s.glare_peak), np.float64)


def _jpeg(image: Image, quality: int) -> Image:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), np.uint8)


def tilted_photo(
    image: Image, centre: tuple[float, float], degrees: float, axis: str, focal_px: float = 600.0
) -> Image:
    """``image`` as a flat photo turned by ``degrees`` about the vertical (``axis="y"``) or
    horizontal (``"x"``) line through ``centre``, seen by a pinhole camera of ``focal_px``."""
    height, width = image.shape[:2]
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    turn = _Turn(centre, degrees, axis, focal_px, (width, height))
    moved = np.array([turn.point(corner) for corner in corners], np.float32)
    homography = cv2.getPerspectiveTransform(corners, moved)
    warped = cv2.warpPerspective(image, homography, (width, height),
                                 borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return np.asarray(warped, np.uint8)


@dataclass(frozen=True)
class _Turn:
    """A flat photo at the focal distance, turned about an axis through ``centre``."""

    centre: tuple[float, float]
    degrees: float
    axis: str
    focal: float
    size: tuple[int, int]

    def point(self, pixel: npt.NDArray[np.float32]) -> list[float]:
        """Where ``pixel`` of the unturned photo is seen once it is turned."""
        principal = np.array([self.size[0] / 2, self.size[1] / 2])
        on_plane = np.r_[(pixel - principal) / self.focal, 1.0]
        pivot = np.r_[(np.asarray(self.centre) - principal) / self.focal, 1.0]
        turned = pivot + self._rotation() @ (on_plane - pivot)
        return [float(v) for v in self.focal * turned[:2] / turned[2] + principal]

    def _rotation(self) -> npt.NDArray[np.float64]:
        cos, sin = math.cos(math.radians(self.degrees)), math.sin(math.radians(self.degrees))
        if self.axis == "y":
            return np.array([[cos, 0, sin], [0, 1, 0], [-sin, 0, cos]])
        return np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
