"""A decided track's later frames against its own evidence (:mod:`inference.face.continuity`)."""

from __future__ import annotations

import numpy as np

from inference.face.continuity import Continuity, DecidedFace
from inference.face.decision import Decision, Status

LIVE = Decision(Status.NOT_MATCHED, 1.0, track_id=1, liveness=0.9)
PHOTO = Decision(Status.SPOOF_DETECTED, 1.0, track_id=1, liveness=0.04)
# refused on a failed challenge: its passive liveness had passed
FAILED_CHALLENGE = Decision(Status.SPOOF_DETECTED, 1.0, track_id=1, liveness=0.7)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return np.asarray(vector / np.linalg.norm(vector), np.float32)


def decided(*descriptors: np.ndarray) -> DecidedFace:
    face = DecidedFace(liveness_threshold=0.5, similarity_threshold=0.9, window=3)
    for descriptor in descriptors:
        face.learn(descriptor)
    return face


def test_the_same_live_face_holds() -> None:
    face = decided(unit(1, 0, 0), unit(1, 0.05, 0))
    assert face.check(unit(1, 0.02, 0), 0.95, 1.0, LIVE) is Continuity.HOLDS


def test_another_face_breaks_the_track_at_once() -> None:
    face = decided(unit(1, 0, 0))
    assert face.check(unit(1, 1, 0), 0.99, 1.0, LIVE) is Continuity.BROKEN


def test_one_frame_below_liveness_is_unsure_and_a_window_clearly_not_live_breaks() -> None:
    face = decided(unit(1, 0, 0))
    assert face.check(unit(1, 0, 0), 0.95, 1.0, LIVE) is Continuity.HOLDS
    assert face.check(unit(1, 0, 0), 0.45, 1.0, LIVE) is Continuity.UNSURE  # a dip: not shown
    assert face.check(unit(1, 0, 0), 0.96, 1.0, LIVE) is Continuity.HOLDS  # mean 0.79: still live
    assert face.check(unit(1, 0, 0), 0.3, 1.0, LIVE) is Continuity.UNSURE  # mean 0.57: still live
    assert face.check(unit(1, 0, 0), 0.1, 1.0, LIVE) is Continuity.UNSURE  # mean 0.45 of 3: near
    assert face.check(unit(1, 0, 0), 0.05, 1.0, LIVE) is Continuity.BROKEN  # mean 0.15: not live


def test_a_live_face_hovering_about_the_threshold_is_not_ended() -> None:
    """Found on NUAA's subject 0005 (live): decided on a window fused at 0.67, its next
    window fused at 0.47 ended the track, and the same person was decided, and recorded,
    again. A window must be clearly not live (a print's are under 0.07) to end it."""
    face = decided(unit(1, 0, 0))
    for score in (0.31, 0.71, 0.39, 0.38, 0.5, 0.58):
        verdict = face.check(unit(1, 0, 0), score, 1.0, LIVE)
        assert verdict is not Continuity.BROKEN, score
        assert verdict is (Continuity.HOLDS if score >= 0.5 else Continuity.UNSURE)


def test_what_no_model_scored_is_not_held_against_the_face() -> None:
    face = decided()  # no recogniser: no descriptors
    assert face.check(None, None, 1.0, LIVE) is Continuity.HOLDS
    assert face.check(unit(0, 1, 0), 0.9, 1.0, LIVE) is Continuity.HOLDS


def test_a_photo_replaced_by_a_clearly_live_face_ends_the_refused_track() -> None:
    """The photo is taken away and its person stands in the same box: a window of frames
    live by the decision's own rule ends the photo's track, so they are decided afresh."""
    face = decided(unit(1, 0, 0))
    assert face.check(unit(1, 0, 0), 0.03, 1.0, PHOTO) is Continuity.HOLDS  # still the photo
    assert face.check(unit(1, 0, 0), 0.9, 1.0, PHOTO) is Continuity.UNSURE  # live: not shown
    assert face.check(unit(1, 0, 0), 0.4, 1.0, PHOTO) is Continuity.HOLDS  # mean 0.44 of 3
    assert face.check(unit(1, 0, 0), 0.8, 1.0, PHOTO) is Continuity.BROKEN  # mean 0.70: live


def test_a_photo_whose_window_stays_under_the_threshold_stays_refused() -> None:
    face = decided(unit(1, 0, 0))
    for score in (0.02, 0.6, 0.3, 0.01, 0.49, 0.49):
        assert face.check(unit(1, 0, 0), score, 1.0, PHOTO) is not Continuity.BROKEN, score
    assert face.check(unit(1, 1, 0), 0.01, 1.0, PHOTO) is Continuity.BROKEN  # another face


def test_a_failed_challenge_is_checked_for_identity_only() -> None:
    """Its passive liveness passed already: deciding it afresh on that would challenge it
    again, and record it again, for as long as it stays."""
    face = decided(unit(1, 0, 0))
    for score in (0.9, 0.95, 0.99, 0.9):
        assert face.check(unit(1, 0, 0), score, 1.0, FAILED_CHALLENGE) is Continuity.HOLDS
    assert face.check(unit(1, 1, 0), 0.9, 1.0, FAILED_CHALLENGE) is Continuity.BROKEN
