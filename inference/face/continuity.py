"""Whether a decided track still shows the face it was decided on.

The tracker follows boxes, not people: a face that appears where a decided face was (a
printed photo held up in its place, another person stepping in within ``max_missed``
frames) continues its track. A decision belongs to the face that earned it, so each frame
of a decided track is checked against that track's own evidence:

* **identity**: the frame's descriptor against the mean descriptor of the frames the track
  was decided on. Below the 1:1 threshold (the recogniser's own, or ``match.verify_threshold``)
  it is another face. That threshold is a descriptor's own calibrated "same person", so it
  travels with a bring-your-own recogniser; a track's frames are one person, one camera,
  seconds apart, and sit far above it (over NUAA's 9 live subjects, every frame is at least
  0.942 to the mean of its first three, with this pack's models). It does
  not separate NUAA's subjects from one another (the default descriptor puts 35 of their 36
  pairs above it): for a photo, liveness is what tells.
* **liveness**: the weighted mean P(real) of the last ``min_frames`` frames checked since the
  decision, below ``NOT_LIVE_SHARE`` of the liveness threshold, is a face clearly not live.
  A mean over the decision's own number of frames, not one frame, so that a live person's
  one-frame dip (NUAA's webcam session opens with a 0.45) does not end them; and well under
  the threshold, not at it, so that a live person whose scores hover about it is not decided
  again (and recorded again, as a spoof) on the next window that falls the other side: the
  coin flip that decided them is not thrown anew every few frames. Measured over NUAA's 63
  webcam sessions (``tools.measure_face_decisions``' scores, windows of 3): after a live
  decision, 2 of the 15 live sessions decided live have a later window under the threshold
  (0.5; the lowest, 0.306), while no print window reaches 0.07. Half the threshold lies
  between. A window between the two shows no decision (each frame under the threshold is
  unsure) and ends nothing.
* **liveness, refused**: a track decided ``spoof_detected`` on its passive liveness ends
  when the same mean, over as many frames, reaches the threshold: the photo was taken away
  and its person stands in the same box (the identity check holds, it is their photo), and
  they are decided afresh, a new attempt recorded as their own, instead of being refused as
  the photo until they leave. Each frame live on its own is unsure (it does not show the
  photo's refusal). Measured over the same sessions (``tools.measure_face_continuity``):
  after a spoof decision no print window comes near the threshold (the highest of 446, 0.065),
  and both live sessions refused on their first window are decided live later (one, whose
  windows swing across the threshold, is recorded spoof, spoof, live, spoof). A track refused on a
  failed challenge is checked for identity only: its passive liveness passed already, and
  deciding it afresh on that would only challenge it again, and record it again.

A frame that breaks either ends the track: the face starts a new one, decided afresh (a
photo is ``spoof_detected`` and recorded). A frame that is live on its own and the same face
*holds*: it shows the decision; so does one not live on a track refused as not live. Any
other frame (this frame alone on the other side of the liveness threshold, or not checked:
the gate rejected it) shows none until one holds again, so a decision is never shown on a
face nobody checked.
"""

from __future__ import annotations

import enum
from collections import deque

import numpy as np
import numpy.typing as npt

from inference.face.decision import Decision, Status

Vector = npt.NDArray[np.float32]
# A decided track's recent liveness under this share of the threshold ends it (see above).
NOT_LIVE_SHARE = 0.5


class Continuity(enum.Enum):
    HOLDS = "holds"
    """The decided face, live: the frame shows its decision."""
    UNSURE = "unsure"
    """Not shown to be the decided face this frame, nor shown not to be."""
    BROKEN = "broken"
    """Another face, or one no longer live: the track is over."""


class DecidedFace:
    """A track's evidence of who it is: descriptors while it is decided, then the checks."""

    def __init__(self, liveness_threshold: float, similarity_threshold: float, window: int):
        self._liveness_threshold = liveness_threshold
        self._similarity_threshold = similarity_threshold
        self._descriptors: list[Vector] = []
        self._reference: Vector | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=window)

    def learn(self, descriptor: Vector | None) -> None:
        """One accepted frame of the track before its decision (the decision's own frames)."""
        if descriptor is not None:
            self._descriptors.append(descriptor)

    def check(
        self, descriptor: Vector | None, liveness: float | None, weight: float, decided: Decision
    ) -> Continuity:
        """One accepted frame after ``decided``; None where no model made the score."""
        if self._other_face(descriptor):
            return Continuity.BROKEN
        refused = self._refused_as_not_live(decided)
        if liveness is None or refused is None:
            return Continuity.HOLDS
        self._recent.append((weight, liveness))
        live_now = liveness >= self._liveness_threshold
        if refused:
            return Continuity.BROKEN if self._live_again() else _holds_if(not live_now)
        return Continuity.BROKEN if self._no_longer_live() else _holds_if(live_now)

    def _refused_as_not_live(self, decided: Decision) -> bool | None:
        """True for a spoof its passive liveness decided, False for a decision on a live
        face, None where liveness is no part of the check (a failed challenge)."""
        if decided.status is not Status.SPOOF_DETECTED:
            return False
        if decided.liveness is not None and decided.liveness < self._liveness_threshold:
            return True
        return None

    def _other_face(self, descriptor: Vector | None) -> bool:
        reference = self._mean_descriptor()
        if descriptor is None or reference is None:
            return False
        return float(descriptor @ reference) < self._similarity_threshold

    def _mean_descriptor(self) -> Vector | None:
        if self._reference is None and self._descriptors:
            mean = np.mean(self._descriptors, axis=0, dtype=np.float64)
            self._reference = np.asarray(mean / np.linalg.norm(mean), np.float32)
        return self._reference

    def _no_longer_live(self) -> bool:
        mean = self._window_mean()
        return mean is not None and mean < self._liveness_threshold * NOT_LIVE_SHARE

    def _live_again(self) -> bool:
        mean = self._window_mean()
        return mean is not None and mean >= self._liveness_threshold

    def _window_mean(self) -> float | None:
        """The weighted mean liveness of the last ``window`` frames; None before there are."""
        if len(self._recent) < (self._recent.maxlen or 1):
            return None
        total = sum(weight for weight, _ in self._recent)
        return sum(weight * live for weight, live in self._recent) / total


def _holds_if(shown: bool) -> Continuity:
    return Continuity.HOLDS if shown else Continuity.UNSURE
