"""Image cues for passive liveness that do not come from the liveness models.

MiniFASNet is trained on a few capture setups and is known to let phone and tablet
screens through when they come from other cameras. This module adds evidence from the
physics of recapture that does not depend on any training set. One cue is shipped:

**Moire.** A camera that films a screen samples the screen's pixel grid with its own,
and the two grids beat: the face region gets a periodic pattern, which is a sharp, isolated
peak in its spectrum. Skin, hair and the shapes of a face spread their energy smoothly over
frequencies. The cue is the tallest peak of the *whitened* spectrum of the inner face
(each frequency divided by the median at its distance from the centre, so the usual
fall-off of natural images is removed) above ``min_frequency`` cycles per pixel. JPEG's
8x8 blocks also make a periodic pattern, at multiples of 1/8 cycle per pixel; those
frequencies are left out. The window is cut at the image's own resolution (never
resized: resampling would move and blur the peak).

The cue only ever *lowers* the liveness score, through a ceiling that falls from 1 to 0
between ``moire_onset`` and ``moire_full``. Measured with ``python -m
inference.face.liveness_study cues``: the highest peak on 944 live faces from four cameras
(NUAA live frames, the NUAA webcam sequence, ``image_T1``, hamilton, walkers) is 12.7. Of
synthetic screen recaptures of live frames (:mod:`inference.face.liveness_synth`), 45 of 50
with a full-strength pixel grid reach 20, 30 of 55 with a grid at 0.3, none of 55 without
a grid (at most 7.5). The real phone samples show no moire (print 3.5, tablet 5.2): the cue
does not see them, and it does not claim to. Cues that were measured and not shipped
(frame edges around the face, glare) are in :mod:`inference.face.liveness_probes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.face.quality import inner_face_rect
from inference.face.types import FaceBox

Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
JPEG_BLOCK = 8  # JPEG's block side: its artefacts repeat every 8 pixels


@dataclass(frozen=True)
class CueSettings:
    """Settings of the image cues; the defaults come from the measurements above."""

    moire: bool = True
    """Use the moire cue at all."""
    window_px: int = 128
    """Largest side of the inner-face window whose spectrum is read (native pixels, a
    multiple of 8 so that JPEG's block frequencies fall on whole frequency bins)."""
    min_window_px: int = 32
    """Smaller windows hold too few periods of a moire pattern: the cue abstains."""
    min_frequency: float = 0.08
    """Cycles per pixel below which the face's own shapes dominate the spectrum."""
    moire_onset: float = 15.0
    """Whitened peak at which the ceiling starts to fall; live faces reach at most 12.7."""
    moire_full: float = 25.0
    """Whitened peak at which the ceiling reaches 0. With the liveness threshold at 0.5 a
    face is rejected by this cue alone from a peak of 20 (the middle of the ramp)."""

    def __post_init__(self) -> None:
        if self.window_px % JPEG_BLOCK or self.min_window_px % JPEG_BLOCK:
            raise ValueError(f"window sizes must be multiples of {JPEG_BLOCK}")
        if not 0 < self.min_window_px <= self.window_px:
            raise ValueError("need 0 < min_window_px <= window_px")
        if not 0.0 < self.min_frequency < 0.5 or not self.moire_onset < self.moire_full:
            raise ValueError("need 0 < min_frequency < 0.5 and moire_onset < moire_full")


@dataclass(frozen=True)
class CueReading:
    """What the cues read on one face; ``ceiling`` is the highest score they allow."""

    moire_peak: float | None = None  # None: the cue is off or the face is too small for it
    ceiling: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ceiling <= 1.0:
            raise ValueError(f"a ceiling lies in [0, 1], got {self.ceiling}")


def read_cues(bgr: Image, face: FaceBox, settings: CueSettings) -> CueReading:
    """Every enabled cue on ``face`` in ``bgr``, and the ceiling they put on its score."""
    if not settings.moire:
        return CueReading()
    window = face_window(bgr, face, settings)
    if window is None:
        return CueReading()
    peak = moire_peak(window, settings.min_frequency)
    return CueReading(peak, moire_ceiling(peak, settings))


def face_window(bgr: Image, face: FaceBox, settings: CueSettings) -> FloatArray | None:
    """The grey square at the centre of the inner face, side a multiple of 8, or None."""
    rect = inner_face_rect(face, bgr.shape[1], bgr.shape[0])
    if rect is None:
        return None
    x1, y1, x2, y2 = rect
    side = min(settings.window_px, min(x2 - x1, y2 - y1) // JPEG_BLOCK * JPEG_BLOCK)
    if side < settings.min_window_px:
        return None
    left, top = (x1 + x2 - side) // 2, (y1 + y2 - side) // 2
    patch = bgr[top : top + side, left : left + side].astype(np.float64)
    # ITU-R BT.601 luma, as OpenCV's BGR2GRAY, without its rounding to uint8
    return np.asarray(patch @ np.array([0.114, 0.587, 0.299]), np.float64)


def moire_peak(window: FloatArray, min_frequency: float) -> float:
    """The tallest peak of the whitened spectrum of a square window, JPEG's grid left out."""
    side = window.shape[0]
    taper = np.outer(np.hanning(side), np.hanning(side))
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((window - window.mean()) * taper)))
    fy, fx = np.meshgrid(np.arange(side) - side // 2, np.arange(side) - side // 2, indexing="ij")
    ring = np.rint(np.hypot(fx, fy)).astype(np.intp)
    whitened = spectrum / (ring_medians(spectrum, ring)[ring] + 1e-9)
    band = (ring >= min_frequency * side) & (ring <= side // 2) & ~jpeg_grid(fx, fy, side)
    return float(whitened[band].max()) if np.any(band) else 0.0


def ring_medians(spectrum: FloatArray, ring: npt.NDArray[np.intp]) -> FloatArray:
    """The median magnitude of each ring of whole-bin radius."""
    order = np.argsort(ring, axis=None, kind="stable")
    rings, starts = np.unique(ring.ravel()[order], return_index=True)
    groups = np.split(spectrum.ravel()[order], starts[1:])
    medians = np.zeros(int(rings.max()) + 1)
    medians[rings] = [np.median(group) for group in groups]
    return medians


def jpeg_grid(
    fx: npt.NDArray[np.intp], fy: npt.NDArray[np.intp], side: int
) -> npt.NDArray[np.bool_]:
    """Bins within one bin of a multiple of 1/8 cycle per pixel on both axes."""
    period = side // JPEG_BLOCK

    def near_multiple(frequency: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        offset = np.mod(frequency + period // 2, period) - period // 2
        return np.asarray(np.abs(offset) <= 1, np.bool_)

    return near_multiple(fx) & near_multiple(fy)


def moire_ceiling(peak: float, settings: CueSettings) -> float:
    """1 up to the onset, falling linearly to 0 at ``moire_full``."""
    fall = (peak - settings.moire_onset) / (settings.moire_full - settings.moire_onset)
    return float(1.0 - np.clip(fall, 0.0, 1.0))
