"""Decisions per track, driven by scripted per-frame scores: no model is involved."""

from __future__ import annotations

import dataclasses
import math

import pytest

from inference.face.decide import (
    Candidate,
    ChallengePolicy,
    Decision,
    DecisionSettings,
    FrameEvidence,
    Status,
    Thresholds,
    TrackDecider,
    WeightSettings,
    frame_decision,
    quality_weight,
)
from inference.face.quality import QualitySettings
from inference.face.types import QualityMeasures, QualityReason, QualityVerdict

OK = QualityVerdict(True, ())
THRESHOLDS = Thresholds(liveness=0.5, similarity=0.8, challenge_below=0.9)


def accepted(
    live: float | None, sims: dict[str, float] | None = None, weight: float = 1.0, t: float = 0.0
) -> FrameEvidence:
    candidates = tuple(Candidate(name, value) for name, value in (sims or {}).items())
    return FrameEvidence(t, OK, weight, live, candidates)


def rejected(*reasons: QualityReason, t: float = 0.0, confirmed: bool = True) -> FrameEvidence:
    return FrameEvidence(t, QualityVerdict(False, reasons), confirmed=confirmed)


def decider(claimed: str | None = None, **changes: object) -> TrackDecider:
    settings = DecisionSettings(**changes)  # type: ignore[arg-type]
    return TrackDecider(7, settings, THRESHOLDS, claimed)


def feed(track: TrackDecider, frames: list[FrameEvidence]) -> list[Decision]:
    return [d for d in (track.add(frame) for frame in frames) if d is not None]


# --- the statuses ---------------------------------------------------------------------------


def test_live_and_similar_frames_verify_after_min_frames() -> None:
    track = decider(min_frames=3)
    frames = [accepted(0.9, {"ana": 0.85, "bo": 0.6}) for _ in range(3)]
    assert track.add(frames[0]) is None and track.add(frames[1]) is None
    decision = track.add(frames[2])
    assert decision is not None and decision.status is Status.VERIFIED
    assert decision.identity == "ana" and decision.track_id == 7
    assert decision.similarity == pytest.approx(0.85) and decision.liveness == pytest.approx(0.9)
    assert decision.confidence == 1.0 and decision.frames == 3
    assert [c.identity for c in decision.candidates] == ["ana", "bo"]


def test_low_fused_liveness_is_a_spoof_with_its_score_and_share() -> None:
    track = decider(min_frames=4)
    (decision,) = feed(track, [accepted(s, {"ana": 0.95}) for s in (0.6, 0.2, 0.1, 0.3)])
    assert decision.status is Status.SPOOF_DETECTED
    assert decision.liveness == pytest.approx(0.3)
    assert decision.confidence == pytest.approx(0.75)  # three of four frames alone say spoof
    assert decision.identity is None


def test_a_live_stranger_is_not_matched_in_the_open_set() -> None:
    (decision,) = feed(decider(min_frames=2), [accepted(0.8, {"ana": 0.7, "bo": 0.5})] * 2)
    assert decision.status is Status.NOT_MATCHED and decision.identity is None
    assert decision.similarity == pytest.approx(0.7) and decision.confidence == 1.0


def test_an_empty_gallery_makes_every_live_face_unknown() -> None:
    (decision,) = feed(decider(min_frames=2), [accepted(0.8), accepted(0.9)])
    assert decision.status is Status.NOT_MATCHED
    assert decision.similarity is None and decision.liveness == pytest.approx(0.85)


def test_verified_needs_both_thresholds() -> None:
    live_only = feed(decider(min_frames=1), [accepted(0.99, {"ana": 0.79})])
    similar_only = feed(decider(min_frames=1), [accepted(0.49, {"ana": 0.99})])
    assert live_only[0].status is Status.NOT_MATCHED
    assert similar_only[0].status is Status.SPOOF_DETECTED


def test_without_a_liveness_model_matching_alone_decides() -> None:
    (decision,) = feed(decider(min_frames=1), [accepted(None, {"ana": 0.9})])
    assert decision.status is Status.VERIFIED and decision.liveness is None


# --- fusion -----------------------------------------------------------------------------------


def test_scores_are_fused_by_quality_weight() -> None:
    frames = [accepted(0.2, {"ana": 0.9}, weight=0.1), accepted(0.9, {"ana": 0.82}, weight=1.0)]
    (decision,) = feed(decider(min_frames=2), frames)
    assert decision.liveness == pytest.approx((0.1 * 0.2 + 0.9) / 1.1)
    assert decision.similarity == pytest.approx((0.1 * 0.9 + 0.82) / 1.1)
    assert decision.status is Status.VERIFIED


def test_one_strong_frame_does_not_outvote_the_rest() -> None:
    """bo is best on average thanks to one frame; most frames name ana first."""
    frames = [accepted(0.9, {"bo": 1.0, "ana": 0.5})] + [
        accepted(0.9, {"ana": 0.81, "bo": 0.8}) for _ in range(2)
    ]
    (decision,) = feed(decider(min_frames=3), frames)
    assert decision.candidates[0].identity == "bo"  # fused 0.867 against ana's 0.707
    assert decision.status is Status.NOT_MATCHED  # bo is named first by one frame in three


def test_an_identity_missing_from_a_frames_top_k_counts_at_that_frames_floor() -> None:
    frames = [accepted(0.9, {"ana": 0.9, "bo": 0.6}), accepted(0.9, {"ana": 0.9, "cy": 0.7})]
    (decision,) = feed(decider(min_frames=2), frames)
    fused = {c.identity: c.similarity for c in decision.candidates}
    assert fused == pytest.approx({"ana": 0.9, "bo": 0.65, "cy": 0.65})


def test_one_to_one_compares_with_the_claimed_identity_only() -> None:
    frames = [accepted(0.9, {"bo": 0.99, "ana": 0.82})] * 2
    (decision,) = feed(decider(claimed="ana", min_frames=2), frames)
    assert decision.status is Status.VERIFIED and decision.identity == "ana"
    assert [c.identity for c in decision.candidates] == ["ana"]


def test_rejected_frames_add_no_scores() -> None:
    track = decider(min_frames=2)
    frames = [rejected(QualityReason.BLURRY), accepted(0.9, {"ana": 0.9})]
    assert feed(track, frames) == []
    (decision,) = feed(track, [accepted(0.7, {"ana": 0.85})])
    assert decision.frames == 2 and decision.liveness == pytest.approx(0.8)


def test_the_same_script_gives_the_same_decision() -> None:
    script = [
        accepted(0.6 + 0.1 * (i % 3), {"ana": 0.8 + 0.01 * i}, 0.5 + 0.1 * i) for i in range(4)
    ]
    assert feed(decider(min_frames=4), script) == feed(decider(min_frames=4), script)


# --- evidence over time -----------------------------------------------------------------------


def test_a_track_without_enough_good_frames_is_low_quality_at_max_frames() -> None:
    track = decider(min_frames=3, max_frames=5)
    frames = [rejected(QualityReason.BLURRY, QualityReason.POSE_YAW)] + [
        rejected(QualityReason.POSE_YAW) for _ in range(3)
    ]
    assert feed(track, frames) == []
    decision = track.add(accepted(0.9, {"ana": 0.9}))
    assert decision is not None and decision.status is Status.LOW_QUALITY
    assert decision.reasons == (QualityReason.POSE_YAW, QualityReason.BLURRY)
    assert decision.confidence == pytest.approx(0.8) and decision.frames == 1


def test_max_seconds_is_capture_time() -> None:
    track = decider(min_frames=3, max_seconds=1.0)
    assert track.add(rejected(QualityReason.TOO_DARK, t=10.0)) is None
    assert track.add(rejected(QualityReason.TOO_DARK, t=10.9)) is None
    decision = track.add(rejected(QualityReason.TOO_DARK, t=11.0))
    assert decision is not None and decision.status is Status.LOW_QUALITY


def test_a_slow_stream_of_good_frames_is_decided_at_the_deadline() -> None:
    """Two good frames by the deadline: decided then, but, as a track that ends, never
    verified on fewer than min_frames (found by review: the deadline verified on two)."""
    track = decider(min_frames=3, max_seconds=1.0)
    assert track.add(accepted(0.9, {"ana": 0.9}, t=0.0)) is None
    decision = track.add(accepted(0.9, {"ana": 0.9}, t=1.2))
    assert decision is not None and decision.status is Status.LOW_QUALITY
    assert decision.reasons == (QualityReason.TOO_BRIEF,) and decision.frames == 2
    assert decision.similarity == pytest.approx(0.9) and decision.identity is None
    photo = decider(min_frames=3, max_seconds=1.0)
    feed(photo, [accepted(0.1, {"ana": 0.9}, t=0.0)])
    spoof = photo.add(accepted(0.1, {"ana": 0.9}, t=1.2))
    assert spoof is not None and spoof.status is Status.SPOOF_DETECTED  # a refusal stands
    slow = decider(min_frames=3, max_seconds=1.0)
    feed(slow, [accepted(0.9, {"ana": 0.9}, t=t) for t in (0.0, 0.4, 0.8)])
    assert slow.decision is not None and slow.decision.status is Status.VERIFIED


def test_unconfirmed_tracks_collect_but_never_decide() -> None:
    track = decider(min_frames=1)
    frame = FrameEvidence(0.0, OK, 1.0, 0.9, (Candidate("ana", 0.9),), confirmed=False)
    assert track.add(frame) is None and track.finish() is None
    decision = track.add(accepted(0.9, {"ana": 0.9}))
    assert decision is not None and decision.frames == 2


def test_an_ended_track_is_decided_on_what_it_has() -> None:
    only_bad = decider(min_frames=5)
    feed(only_bad, [rejected(QualityReason.TOO_SMALL)])
    ended = only_bad.finish()
    assert ended is not None and ended.reasons == (QualityReason.TOO_SMALL,)


def test_an_ended_track_with_fewer_than_min_frames_is_never_verified() -> None:
    """One good frame of an enrolled, live face, then the face leaves: a live decision needs
    min_frames accepted frames, so this one is too brief; a refusal on one frame stands."""
    track = decider(min_frames=3)
    feed(track, [rejected(QualityReason.BLURRY), accepted(0.9, {"ana": 0.95})])
    decision = track.finish()
    assert decision is not None and decision.status is Status.LOW_QUALITY
    assert decision.reasons == (QualityReason.TOO_BRIEF, QualityReason.BLURRY)
    assert decision.identity is None and decision.similarity == pytest.approx(0.95)
    photo = decider(min_frames=3)
    feed(photo, [accepted(0.1, {"ana": 0.95})])
    spoof = photo.finish()
    assert spoof is not None and spoof.status is Status.SPOOF_DETECTED
    stranger = decider(min_frames=3)
    feed(stranger, [accepted(0.9, {"ana": 0.3})])
    unknown = stranger.finish()
    assert unknown is not None and unknown.status is Status.NOT_MATCHED


def test_a_stream_that_ends_before_the_track_is_confirmed_decides_it_but_never_verifies() -> None:
    """Two good frames of an enrolled face, then the stream ends with the face in view: the
    tracker had no time to confirm it, so it is low_quality (too brief) and not lost; lost
    mid-stream instead, it is a detection that vanished, and nobody is recorded."""
    unconfirmed = FrameEvidence(0.0, OK, 1.0, 0.9, (Candidate("ana", 0.95),), confirmed=False)
    track = decider(min_frames=3)
    feed(track, [unconfirmed, unconfirmed])
    assert track.finish() is None
    decision = track.finish(in_view=True)
    assert decision is not None and decision.status is Status.LOW_QUALITY
    assert decision.reasons == (QualityReason.TOO_BRIEF,) and decision.identity is None
    assert decision.similarity == pytest.approx(0.95) and decision.frames == 2
    photo = decider(min_frames=3)
    feed(photo, [dataclasses.replace(unconfirmed, liveness=0.1)])
    spoof = photo.finish(in_view=True)
    assert spoof is not None and spoof.status is Status.SPOOF_DETECTED  # a refusal stands


def test_decisions_are_final_and_stop_the_evidence() -> None:
    track = decider(min_frames=1)
    assert feed(track, [accepted(0.9, {"ana": 0.9})])[0].status is Status.VERIFIED
    assert not track.wants_evidence
    assert track.add(accepted(0.0, {"ana": 0.0})) is None and track.finish() is None
    assert track.decision is not None and track.decision.status is Status.VERIFIED


# --- the active challenge ---------------------------------------------------------------------


def test_always_asks_for_a_challenge_and_a_pass_lets_matching_decide() -> None:
    track = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    (pending,) = feed(track, [accepted(0.99, {"ana": 0.9})])
    assert pending.status is Status.CHALLENGE_REQUIRED and not pending.final
    assert track.wants_evidence  # the frames of the challenge are the ones decided on
    assert feed(track, [accepted(0.97, {"ana": 0.88})]) == []
    decision = track.record_challenge(passed=True)
    assert decision is not None and decision.status is Status.VERIFIED
    assert decision.similarity == pytest.approx(0.88) and decision.frames == 1


def test_a_pass_answered_by_another_face_does_not_verify_the_first() -> None:
    """A photo of Ana starts the track and passes passive liveness; the attacker's own live
    face, on the same track id, does the challenge. Decided on the challenge's frames, it is
    the attacker who is matched, and he is not Ana."""
    track = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    feed(track, [accepted(0.9, {"ana": 0.95})])  # the photo
    feed(track, [accepted(0.99, {"ana": 0.3}), accepted(0.98, {"ana": 0.35})])  # the attacker
    decision = track.record_challenge(passed=True)
    assert decision is not None and decision.status is Status.NOT_MATCHED


def test_a_pass_with_no_usable_frame_of_the_face_that_answered_verifies_nobody() -> None:
    """Only the frames before the challenge were usable: they cannot vouch for the face
    that answered. Its rejected frames make it low_quality; with none seen at all, nobody
    is matched."""
    blurred = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    feed(blurred, [accepted(0.99, {"ana": 0.9}), rejected(QualityReason.BLURRY)])
    decision = blurred.record_challenge(passed=True)
    assert decision is not None and decision.status is Status.LOW_QUALITY
    assert decision.reasons == (QualityReason.BLURRY,)
    unseen = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    feed(unseen, [accepted(0.99, {"ana": 0.9})])
    decision = unseen.record_challenge(passed=True)
    assert decision is not None and decision.status is Status.NOT_MATCHED


def test_live_frames_and_matching_frames_must_be_the_same_frames() -> None:
    """One live frame of a stranger and two photo frames of Ana: fused apart, liveness
    (0.51) and similarity (0.92) both pass, yet no frame is both live and Ana."""
    track = decider(min_frames=3)
    frames = [accepted(0.99, {"ana": 0.79}), accepted(0.05, {"ana": 0.98}, weight=0.52),
              accepted(0.05, {"ana": 0.98}, weight=0.52)]  # fmt: skip
    (decision,) = feed(track, frames)
    assert decision.liveness is not None and decision.liveness >= THRESHOLDS.liveness
    assert decision.similarity is not None and decision.similarity >= THRESHOLDS.similarity
    assert decision.status is Status.NOT_MATCHED


def test_a_failed_challenge_is_a_spoof() -> None:
    track = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    feed(track, [accepted(0.99, {"ana": 0.9})])
    decision = track.record_challenge(passed=False)
    assert decision is not None and decision.status is Status.SPOOF_DETECTED
    assert decision.liveness == pytest.approx(0.99)


def test_uncertain_challenges_only_the_band_above_the_threshold() -> None:
    sure = feed(decider(min_frames=1, challenge=ChallengePolicy.UNCERTAIN),
                [accepted(0.95, {"ana": 0.9})])  # fmt: skip
    unsure = feed(decider(min_frames=1, challenge=ChallengePolicy.UNCERTAIN),
                  [accepted(0.6, {"ana": 0.9})])  # fmt: skip
    assert sure[0].status is Status.VERIFIED
    assert unsure[0].status is Status.CHALLENGE_REQUIRED


def test_a_challenge_result_before_the_track_asks_is_ignored() -> None:
    """A pass recorded before any frame proves nothing of the face shown next."""
    track = decider(min_frames=1, challenge=ChallengePolicy.ALWAYS)
    assert track.record_challenge(passed=True) is None
    assert feed(track, [accepted(0.9, {"ana": 0.9})])[0].status is Status.CHALLENGE_REQUIRED


# --- values -----------------------------------------------------------------------------------


def test_frame_decisions_are_facts_of_a_frame() -> None:
    decision = frame_decision(Status.NO_FACE_DETECTED)
    assert decision.confidence == 1.0 and decision.track_id is None
    assert decision.as_json() == {"status": "no_face_detected", "confidence": 1.0}
    with pytest.raises(ValueError, match="per track"):
        frame_decision(Status.VERIFIED)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Status.VERIFIED, "confidence": 1.0, "track_id": 1},  # no identity
        {"status": Status.LOW_QUALITY, "confidence": 1.0, "track_id": 1},  # no reasons
        {"status": Status.NOT_MATCHED, "confidence": 1.5, "track_id": 1},
        {"status": Status.NOT_MATCHED, "confidence": 1.0},  # a track status without a track
        {"status": Status.NO_FACE_DETECTED, "confidence": 1.0, "track_id": 3},
        {"status": Status.SPOOF_DETECTED, "confidence": 1.0, "track_id": 1, "liveness": 1.2},
    ],
)
def test_malformed_decisions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Decision(**kwargs)  # type: ignore[arg-type]


def test_as_json_is_plain_and_leaves_absent_values_out() -> None:
    decision = Decision(Status.LOW_QUALITY, 0.5, 3, reasons=(QualityReason.BLURRY,), frames=0)
    assert decision.as_json() == {"status": "low_quality", "confidence": 0.5, "track_id": 3,
                                  "reasons": ["blurry"], "frames": 0}  # fmt: skip


def test_settings_refuse_impossible_values() -> None:
    with pytest.raises(ValueError):
        DecisionSettings(min_frames=5, max_frames=4)
    with pytest.raises(ValueError):
        Thresholds(liveness=0.95, similarity=0.8, challenge_below=0.9)
    with pytest.raises(ValueError):
        Candidate("ana", 1.5)


# --- quality weight ---------------------------------------------------------------------------


def measures(
    iod: float = 60.0, sharp: float = 0.2, yaw: float = 0.0, pitch: float = 0.58
) -> QualityMeasures:
    return QualityMeasures(iod, 2.14 * iod, sharp, yaw, pitch, 0.0, 120.0, 40.0)


def test_quality_weight_is_one_for_large_sharp_frontal_faces_and_falls_towards_the_limits() -> None:
    weights, limits = WeightSettings(), QualitySettings()
    assert quality_weight(measures(), weights, limits) == 1.0
    assert quality_weight(measures(iod=25.5), weights, limits) == pytest.approx(0.5)
    assert quality_weight(measures(sharp=0.0825), weights, limits) == pytest.approx(0.5)
    half_yaw = quality_weight(measures(yaw=limits.max_abs_yaw / 2), weights, limits)
    assert half_yaw == pytest.approx(0.75)
    assert quality_weight(measures(yaw=limits.max_abs_yaw), weights, limits) == weights.floor
    assert quality_weight(measures(yaw=math.inf), weights, limits) == weights.floor


def test_a_verified_decision_withdrawn_for_a_person_who_left_names_nobody() -> None:
    """An erasure lands between the decision and the kiosk taking it: ``not_matched``,
    without the person among its candidates or their similarity."""
    verified = Decision(Status.VERIFIED, 0.9, 1, identity="ana", similarity=0.95,
                        liveness=0.99, candidates=(Candidate("ana", 0.95),
                                                   Candidate("bo", 0.4)))  # fmt: skip
    withdrawn = verified.withdrawn({"ana"})
    assert withdrawn.status is Status.NOT_MATCHED and withdrawn.identity is None
    assert withdrawn.candidates == (Candidate("bo", 0.4),) and withdrawn.similarity == 0.4
    assert withdrawn.liveness == 0.99 and withdrawn.track_id == 1
    assert verified.withdrawn({"bo"}) is verified  # someone else left: it stands
