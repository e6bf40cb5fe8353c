"""Liveness cues that were measured and *not* shipped, kept so the measurement can be rerun
(``python -m inference.face.liveness_study probes``). Nothing in the pipeline calls them.

* **Frame edges**: a photo's edge or a phone's bezel is a long straight line on each side
  of the face. Line segments (OpenCV's LSD) in the face box enlarged 3x are grouped per side
  (left / right of the face for near-vertical lines, above / below for near-horizontal ones)
  and collinear pieces are summed; a side is "framed" when its line spans
  ``min_coverage`` of the face's height (or width). The cue fires on an opposite pair.
  Measured: it separates NUAA's hand-held prints (96.4 % framed; the webcam print 100 %)
  from NUAA's live frames (13.9 %; the webcam live 0 %), but offices, doors and pillars are
  also straight: the one live phone photo (``image_T1``) is framed and the poster and
  tablet attacks (``image_F1``, ``image_F2``) are not, because the tablet's bezel breaks
  into short pieces. It would add false rejects without catching the attacks we have.
* **Glare**: the share of clipped, colourless pixels in the largest blob on the inner face.
  The tablet replay ``image_F2`` has 3.1 %; live NUAA frames reach 1.8 % (95th percentile)
  and 6.1 % (maximum, an over-exposed subject): no threshold separates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.face.quality import inner_face_rect
from inference.face.types import FaceBox

Image = npt.NDArray[np.uint8]
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class FrameProbeSettings:
    context_scale: float = 3.0  # the face box enlarged this much around its centre
    analysis_side: int = 320  # the context is shrunk to this long side before LSD
    min_piece: float = 0.15  # shortest segment kept, in face heights (widths)
    margin: float = 0.1  # a side's line lies this far outside the face box, in face sizes
    max_tilt_degrees: float = 20.0
    bin_px: float = 4.0  # collinear pieces: same offset within one or two bins
    min_coverage: float = 0.8


def frame_coverage(
    bgr: Image, face: FaceBox, settings: FrameProbeSettings | None = None
) -> dict[str, float]:
    """For each side of the face, the longest straight line there, in face heights/widths."""
    s = settings or FrameProbeSettings()
    centre_x, centre_y = face.center
    half_w, half_h = face.width * s.context_scale / 2, face.height * s.context_scale / 2
    x1, y1 = max(0, int(centre_x - half_w)), max(0, int(centre_y - half_h))
    x2, y2 = min(bgr.shape[1], int(centre_x + half_w)), min(bgr.shape[0], int(centre_y + half_h))
    grey = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    k = s.analysis_side / max(grey.shape)
    grey = cv2.resize(grey, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector().detect(grey)[0]
    box = ((face.x1 - x1) * k, (face.y1 - y1) * k, (face.x2 - x1) * k, (face.y2 - y1) * k)
    pieces: dict[str, dict[int, float]] = {side: {} for side in SIDES}
    segments = np.zeros((0, 4)) if found is None else np.asarray(found, np.float64).reshape(-1, 4)
    for segment in segments:
        _add_piece(pieces, segment, box, s)
    return {side: _longest_line(bins) for side, bins in pieces.items()}


def _add_piece(
    pieces: dict[str, dict[int, float]],
    segment: npt.NDArray[np.float64],
    box: tuple[float, float, float, float],
    s: FrameProbeSettings,
) -> None:
    ax, ay, bx, by = (float(v) for v in segment)
    fx1, fy1, fx2, fy2 = box
    fw, fh = fx2 - fx1, fy2 - fy1
    angle = math.degrees(math.atan2(by - ay, bx - ax)) % 180
    if abs(angle - 90) <= s.max_tilt_degrees and abs(by - ay) >= s.min_piece * fh:
        side = "left" if max(ax, bx) < fx1 - s.margin * fw else None
        side = "right" if min(ax, bx) > fx2 + s.margin * fw else side
        offset, extent = _crossing(ay, ax, by, bx, (fy1 + fy2) / 2), abs(by - ay) / fh
    elif min(angle, 180 - angle) <= s.max_tilt_degrees and abs(bx - ax) >= s.min_piece * fw:
        side = "top" if max(ay, by) < fy1 - s.margin * fh else None
        side = "bottom" if min(ay, by) > fy2 + s.margin * fh else side
        offset, extent = _crossing(ax, ay, bx, by, (fx1 + fx2) / 2), abs(bx - ax) / fw
    else:
        return
    if side is not None:
        key = round(offset / s.bin_px)
        pieces[side][key] = pieces[side].get(key, 0.0) + extent


def _crossing(a_along: float, a_across: float, b_along: float, b_across: float, at: float) -> float:
    """Where the segment's line crosses ``along == at`` (its offset from the face)."""
    if b_along == a_along:
        return (a_across + b_across) / 2
    t = (at - a_along) / (b_along - a_along)
    return a_across + t * (b_across - a_across)


def _longest_line(bins: dict[int, float]) -> float:
    return float(max((sum(v for k, v in bins.items() if abs(k - key) <= 1) for key in bins),
                     default=0.0))  # fmt: skip


def framed(coverage: dict[str, float], min_coverage: float) -> bool:
    """An opposite pair of sides is covered: the face sits inside a frame."""
    return (coverage["left"] >= min_coverage and coverage["right"] >= min_coverage) or (
        coverage["top"] >= min_coverage and coverage["bottom"] >= min_coverage
    )


def glare_blob(bgr: Image, face: FaceBox, clipped_level: int = 245) -> float:
    """The largest blob of clipped pixels (all channels) as a share of the inner face."""
    rect = inner_face_rect(face, bgr.shape[1], bgr.shape[0])
    if rect is None:
        return 0.0
    x1, y1, x2, y2 = rect
    clipped = (bgr[y1:y2, x1:x2].min(axis=2) >= clipped_level).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(clipped)
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0
    return float(largest / clipped.size)
