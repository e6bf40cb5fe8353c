"""The pipeline's plumbing with hand-written fakes for the models: which stage runs when,
frame-level statuses, 1:1 and 1:N, lost tracks, and what it refuses to build."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from inference.errors import InputError
from inference.face.decide import ChallengePolicy, Mode, Status
from inference.face.embed import DescriptorModel, Embeddings
from inference.face.match import GalleryIndex
from inference.face.pipeline import STAGES, DecisionPipeline, Stages
from inference.face.settings import FaceSettings
from inference.face.types import FaceBox, QualityReason, TrackedFace

MODEL = DescriptorModel("fake", "1", 3)
VECTORS = {"ana": (1.0, 0.0, 0.0), "bo": (0.0, 1.0, 0.0)}


def face_at(x: float, y: float = 100.0, side: float = 100.0) -> FaceBox:
    """A frontal face whose box starts at (x, y); landmarks scale with the box."""
    s = side / 100.0
    marks = ((30, 40), (70, 40), (50, 60), (35, 80), (65, 80))
    return FaceBox(x, y, x + side, y + side, 0.9,
                   tuple((x + s * mx, y + s * my) for mx, my in marks))  # fmt: skip


def noise(seed: int = 0) -> npt.NDArray[np.uint8]:
    """A textured frame: sharp, mid-grey, contrasted, so every face in it passes the gate."""
    return np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)


class FakeDetector:
    """Plays a script of face lists, one per frame, then no faces."""

    def __init__(self, script: Sequence[Sequence[FaceBox]]) -> None:
        self.script = list(script)

    def detect(self, image: npt.NDArray[np.generic]) -> list[FaceBox]:
        return list(self.script.pop(0)) if self.script else []


@dataclass(frozen=True)
class Reading:
    score: float


class FakeLiveness:
    def __init__(self, score: float = 0.9) -> None:
        self.score, self.calls = score, 0

    def score_faces(
        self, image: npt.NDArray[np.generic], faces: Sequence[FaceBox]
    ) -> list[Reading]:
        self.calls += 1
        return [Reading(self.score) for _ in faces]


class FakeRecogniser:
    """Faces left of x = 300 are ana, the others bo."""

    model = MODEL

    def __init__(self) -> None:
        self.calls = 0

    def describe(self, image: npt.NDArray[np.generic], faces: Sequence[FaceBox]) -> Embeddings:
        self.calls += 1
        rows = [VECTORS["ana" if face.x1 < 300 else "bo"] for face in faces]
        return Embeddings(np.asarray(rows, np.float32).reshape(-1, 3), MODEL)


def gallery(*names: str) -> GalleryIndex:
    vectors = np.asarray([VECTORS[name] for name in names], np.float32).reshape(-1, 3)
    return GalleryIndex.from_arrays(vectors, list(names), MODEL)


def pipeline(
    script: Sequence[Sequence[FaceBox]],
    *,
    live: float = 0.9,
    people: tuple[str, ...] = ("ana", "bo"),
    claimed: str | None = None,
    single_subject: bool = False,
) -> tuple[DecisionPipeline, FakeLiveness, FakeRecogniser]:
    liveness, recogniser = FakeLiveness(live), FakeRecogniser()
    settings = FaceSettings()
    settings = dataclasses.replace(settings, frames=dataclasses.replace(
        settings.frames, single_subject=single_subject))  # fmt: skip
    stages = Stages(FakeDetector(script), liveness, recogniser, gallery(*people))
    return DecisionPipeline(stages, settings, claimed), liveness, recogniser


def run(p: DecisionPipeline, frames: int) -> list[Status]:
    statuses = []
    for index in range(frames):
        result = p.process(noise(index), index / 30)
        statuses += [decision.status for decision in result.decisions]
    return statuses


def test_a_live_enrolled_face_is_verified_once_the_track_has_enough_frames() -> None:
    p, _, _ = pipeline([[face_at(50)]] * 5)
    results = [p.process(noise(i), i / 30) for i in range(5)]
    decided = [r.index for r in results if r.decisions]
    assert decided == [2]  # confirmed at 3 hits, 3 accepted frames (min_frames)
    (decision,) = results[2].decisions
    assert decision.status is Status.VERIFIED and decision.identity == "ana"
    assert decision.similarity == pytest.approx(1.0) and decision.liveness == pytest.approx(0.9)
    assert results[4].faces[0].decision == decision


def test_one_to_n_names_the_right_person_and_open_set_rejects_the_unenrolled() -> None:
    p, _, _ = pipeline([[face_at(50), face_at(400)]] * 3, people=("ana",))
    decisions = {d.track_id: d for r in (p.process(noise(i), i / 30) for i in range(3))
                 for d in r.decisions}  # fmt: skip
    assert decisions[1].status is Status.VERIFIED and decisions[1].identity == "ana"
    assert decisions[2].status is Status.NOT_MATCHED and decisions[2].identity is None


def test_one_to_one_verifies_against_the_claimed_identity_only() -> None:
    p, _, _ = pipeline([[face_at(400)]] * 3, claimed="ana")
    assert run(p, 3) == [Status.NOT_MATCHED]  # bo's face is not ana's
    q, _, _ = pipeline([[face_at(50)]] * 3, claimed="ana")
    assert run(q, 3) == [Status.VERIFIED]


def test_a_low_liveness_track_is_a_spoof() -> None:
    p, _, _ = pipeline([[face_at(50)]] * 3, live=0.1)
    assert run(p, 3) == [Status.SPOOF_DETECTED]


def test_an_empty_frame_is_no_face_detected() -> None:
    p, _, _ = pipeline([[]])
    result = p.process(noise(), 0.0)
    assert result.status is Status.NO_FACE_DETECTED and result.faces == ()
    assert result.frame_decision is not None and result.frame_decision.confidence == 1.0


def test_single_subject_mode_refuses_two_comparable_faces_but_not_a_small_one_behind() -> None:
    p, liveness, _ = pipeline([[face_at(50), face_at(400)]] * 4, single_subject=True)
    results = [p.process(noise(i), i / 30) for i in range(4)]
    assert {r.status for r in results} == {Status.MULTIPLE_FACES}
    assert liveness.calls == 0 and not any(r.decisions for r in results)
    q, _, _ = pipeline([[face_at(50), face_at(400, side=45)]] * 3, single_subject=True)
    results = [q.process(noise(i), i / 30) for i in range(3)]
    assert {r.status for r in results} == {None}
    assert [d.identity for d in results[2].decisions] == ["ana"]  # the small face: too small


def test_a_face_seen_only_beside_another_ends_without_a_crash() -> None:
    """In single-subject mode a second face's track gets no evidence, so no decider; when
    it leaves, ending it must not look one up (a KeyError stopped the kiosk's stream)."""
    script = [[face_at(50), face_at(400)]] + [[face_at(50)]] * 25
    p, _, _ = pipeline(script, single_subject=True)
    statuses = run(p, len(script))
    assert statuses == [Status.VERIFIED]


def test_rejected_faces_cost_no_liveness_or_descriptor_and_decided_ones_are_checked() -> None:
    """A decided track's frames are still scored, one run per frame: each is checked to be
    the face the track was decided on (a photo held up in its place must not inherit it)."""
    small = face_at(400, side=30)  # the gate rejects it: too small
    p, liveness, recogniser = pipeline([[face_at(50), small]] * 8)
    results = [p.process(noise(i), i / 30) for i in range(8)]
    assert liveness.calls == 8 and recogniser.calls == 8  # frames 0-2 decide, 3-7 check
    assert results[5].faces[1].quality.reasons and results[5].faces[1].liveness is None
    decided = [r.faces[0].decision for r in results[2:]]
    assert all(d is not None and d.status is Status.VERIFIED for d in decided)
    assert {r.faces[0].track_id for r in results} == {1}


def test_a_lost_track_is_decided_after_the_tracker_gives_up_on_it() -> None:
    p, _, _ = pipeline([[face_at(50, side=30)]] * 3 + [[]] * 20)  # rejected frames only
    results = [p.process(noise(i), i / 30) for i in range(20)]
    ended = [(r.index, d.status) for r in results for d in r.decisions]
    patience = p.settings.tracker.max_missed
    assert ended == [(2 + patience + 1, Status.LOW_QUALITY)]


def test_finish_decides_every_open_track() -> None:
    p, _, _ = pipeline([[face_at(50)]] * 2 + [[face_at(50)]])
    settings = dataclasses.replace(p.settings.decision, min_frames=10)
    p = DecisionPipeline(p.stages, dataclasses.replace(p.settings, decision=settings))
    run(p, 3)
    (decision,) = p.finish()
    assert decision.status is Status.LOW_QUALITY and decision.frames == 3
    assert decision.reasons == (QualityReason.TOO_BRIEF,)  # 3 frames, where 10 are needed


def test_a_stream_shorter_than_min_hits_decides_the_face_still_in_view_never_verified() -> None:
    """A two-frame clip of ana: no frame confirmed her track, yet she stood there."""
    p, _, _ = pipeline([[face_at(50)]] * 2)
    assert run(p, 2) == []
    (decision,) = p.finish()
    assert decision.status is Status.LOW_QUALITY and decision.identity is None
    assert decision.reasons == (QualityReason.TOO_BRIEF,) and decision.frames == 2


def test_a_tentative_detection_gone_before_the_end_is_not_decided() -> None:
    p, _, _ = pipeline([[face_at(50)], [], []])
    assert run(p, 3) == [] and p.finish() == []


def test_a_challenge_result_completes_a_pending_decision() -> None:
    """A challenge run outside the pipeline (a kiosk's own prompt): the frames processed
    while it runs are the ones the pass is decided on."""
    p, _, _ = pipeline([[face_at(50)]] * 5)
    settings = dataclasses.replace(p.settings.decision, challenge=ChallengePolicy.ALWAYS)
    p = DecisionPipeline(p.stages, dataclasses.replace(p.settings, decision=settings))
    assert run(p, 3) == [Status.CHALLENGE_REQUIRED]
    assert run(p, 2) == []  # described and matched, while the challenge runs
    decision = p.record_challenge(1, passed=True)
    assert decision is not None and decision.status is Status.VERIFIED
    assert p.record_challenge(99, passed=True) is None


def test_without_a_gallery_live_faces_are_not_matched_and_nothing_is_described() -> None:
    liveness = FakeLiveness()
    p = DecisionPipeline(Stages(FakeDetector([[face_at(50)]] * 3), liveness))
    assert run(p, 3) == [Status.NOT_MATCHED]


def test_frame_results_carry_every_stage_time_and_are_plain_json() -> None:
    p, _, _ = pipeline([[face_at(50)]] * 3)
    results = [p.process(noise(i), i / 30) for i in range(3)]
    assert set(results[0].stage_ms) == set(STAGES)
    line = json.loads(json.dumps(results[2].as_json()))
    assert line["frame"] == 2 and line["faces"][0]["track_id"] == 1
    assert line["decisions"][0]["status"] == "verified"


def test_a_pipeline_that_cannot_answer_is_refused_when_built() -> None:
    with pytest.raises(InputError, match="claimed identity"):
        DecisionPipeline(Stages(FakeDetector([]), FakeLiveness(), FakeRecogniser(),
                                gallery("bo")), claimed="ana")  # fmt: skip
    with pytest.raises(InputError, match="needs a gallery"):
        DecisionPipeline(Stages(FakeDetector([])), claimed="ana")
    other = GalleryIndex.from_arrays(np.eye(2, dtype=np.float32), ["a", "b"],
                                     DescriptorModel("other", "1", 2))  # fmt: skip
    with pytest.raises(InputError, match="templates"):
        DecisionPipeline(Stages(FakeDetector([]), None, FakeRecogniser(), other))


def test_images_that_are_not_images_are_input_errors() -> None:
    p, _, _ = pipeline([])
    with pytest.raises(InputError):
        p.process(np.zeros((10, 10), np.float32), 0.0)


class FakeChallenge:
    """Asks for a blink and answers ``outcome`` after ``frames`` frames."""

    def __init__(self, outcome: str, frames: int) -> None:
        self.outcome, self.left = outcome, frames
        self.fed: list[int] = []

    @property
    def current_action(self) -> str | None:
        return "blink" if self.left > 0 else None

    def feed(self, frame: npt.NDArray[np.generic], face: TrackedFace,
             timestamp: float | None = None) -> str:  # fmt: skip
        self.fed.append(face.track_id)
        self.left -= 1
        return "pending" if self.left > 0 else self.outcome


@pytest.mark.parametrize(("outcome", "status"), [("passed", Status.VERIFIED),
                                                 ("timeout", Status.SPOOF_DETECTED)])  # fmt: skip
def test_the_pipeline_runs_the_challenge_and_settles_the_decision(
    outcome: str, status: Status
) -> None:
    started: list[FakeChallenge] = []

    def start() -> FakeChallenge:
        started.append(FakeChallenge(outcome, frames=3))
        return started[-1]

    p, _, _ = pipeline([[face_at(50)]] * 8)
    settings = dataclasses.replace(p.settings.decision, challenge=ChallengePolicy.ALWAYS)
    stages = dataclasses.replace(p.stages, challenges=start)
    p = DecisionPipeline(stages, dataclasses.replace(p.settings, decision=settings))
    results = [p.process(noise(i), i / 30) for i in range(8)]
    made = [(r.index, d.status) for r in results for d in r.decisions]
    assert made == [(2, Status.CHALLENGE_REQUIRED), (4, status)]  # fed frames 2, 3, 4
    assert results[3].faces[0].challenge == "blink" and results[5].faces[0].challenge is None
    assert len(started) == 1 and started[0].fed == [1, 1, 1]
    assert results[7].faces[0].decision is not None
    assert results[7].faces[0].decision.status is status


def test_a_face_that_leaves_during_its_challenge_failed_it() -> None:
    """Walking away answers the challenge no more than letting it time out: the attempt
    ends spoof_detected, a final status to audit, not challenge_required."""
    started: list[FakeChallenge] = []

    def start() -> FakeChallenge:
        started.append(FakeChallenge("passed", frames=10))  # would pass, had the face stayed
        return started[-1]

    p, _, _ = pipeline([[face_at(50)]] * 4 + [[]] * 20)  # gone past the tracker's patience
    settings = dataclasses.replace(p.settings.decision, challenge=ChallengePolicy.ALWAYS)
    stages = dataclasses.replace(p.stages, challenges=start)
    p = DecisionPipeline(stages, dataclasses.replace(p.settings, decision=settings))
    results = [p.process(noise(i), i / 30) for i in range(24)]
    made = [d.status for r in results for d in r.decisions]
    assert made == [Status.CHALLENGE_REQUIRED, Status.SPOOF_DETECTED] and len(started) == 1


def challenged(script: Sequence[Sequence[FaceBox]], frames: int = 10) -> DecisionPipeline:
    """A pipeline whose site asks every face for a challenge, which it runs itself (one
    that would pass after ``frames`` frames)."""
    p, _, _ = pipeline(script)
    settings = dataclasses.replace(p.settings.decision, challenge=ChallengePolicy.ALWAYS)
    stages = dataclasses.replace(p.stages, challenges=lambda: FakeChallenge("passed", frames))
    return DecisionPipeline(stages, dataclasses.replace(p.settings, decision=settings))


def test_a_face_waiting_on_its_challenge_when_the_stream_ends_failed_it() -> None:
    """The camera stops while the face is asked to blink: the challenge was not taken, as
    when the face walks away, and the attempt ends spoof_detected, a final status to audit."""
    p = challenged([[face_at(50)]] * 4)
    made = [d.status for i in range(4) for d in p.process(noise(i), i / 30).decisions]
    assert made == [Status.CHALLENGE_REQUIRED]
    assert [d.status for d in p.finish()] == [Status.SPOOF_DETECTED]


def test_a_track_that_ends_before_its_challenge_could_start_failed_it() -> None:
    """A confirmed track with two good frames and a blank one would be sent to a challenge
    on its next good frame; the stream ends (or the face leaves) first. It was seen long
    enough to be decided, and the challenge was not taken: spoof_detected, not the
    challenge_required that is never recorded (a briefer, unconfirmed track is recorded
    low_quality, too_brief)."""
    blank = np.full((480, 640, 3), 128, np.uint8)
    images = [noise(0), noise(1), blank]
    for ending in ("stream", "left"):
        p = challenged([[face_at(50)]] * 3)
        made = [
            d.status for i, image in enumerate(images) for d in p.process(image, i / 30).decisions
        ]
        gone = range(3, 5 + p.settings.tracker.max_missed) if ending == "left" else range(0)
        made += [d.status for i in gone for d in p.process(noise(i), i / 30).decisions]
        ended = [(d.status, d.frames) for d in p.finish()]
        assert (made, ended) == (([], [(Status.SPOOF_DETECTED, 2)]) if ending == "stream"
                                 else ([Status.SPOOF_DETECTED], []))  # fmt: skip


def test_a_parked_attempt_that_needed_a_challenge_ends_failing_it() -> None:
    """ana's 1:N attempt, confirmed and undecided, is parked when a badge is presented; she
    leaves at once: the challenge her attempt needed was not taken."""
    blank = np.full((480, 640, 3), 128, np.uint8)
    p = challenged([[face_at(50)]] * 3)
    for i, image in enumerate([noise(0), noise(1), blank]):
        p.process(image, i / 30)
    p.set_claim("bo", keep_decided=False, park=True)
    gone = range(3, 5 + p.settings.tracker.max_missed)
    made = [(d.status, d.claimed) for i in gone for d in p.process(noise(i), i / 30).decisions]
    assert made == [(Status.SPOOF_DETECTED, None)]


def test_a_challenge_under_way_when_a_badge_is_presented_is_parked_with_its_attempt() -> None:
    """ana is asked to blink (1:N) when someone presents a badge, and leaves at once: her
    attempt is recorded, but the kiosk, not she, ended its challenge: low_quality
    (too_brief), not the spoof_detected of a face that walked away from its challenge."""
    p = challenged([[face_at(50)]] * 4)
    made = [d.status for i in range(4) for d in p.process(noise(i), i / 30).decisions]
    p.set_claim("bo", keep_decided=False, park=True)
    gone = range(4, 6 + p.settings.tracker.max_missed)
    ended = [d for i in gone for d in p.process(noise(i), i / 30).decisions]
    assert made == [Status.CHALLENGE_REQUIRED] and p.finish() == []
    assert [(d.status, d.reasons, d.claimed, d.identity) for d in ended] == [
        (Status.LOW_QUALITY, (QualityReason.TOO_BRIEF,), None, None)
    ]


def test_a_still_image_that_needs_a_challenge_says_so() -> None:
    """No challenge could run on one frame: the answer stays challenge_required."""
    p, _, _ = pipeline([[face_at(50)]])
    settings = dataclasses.replace(p.settings.for_still_images().decision,
                                   challenge=ChallengePolicy.ALWAYS)  # fmt: skip
    p = DecisionPipeline(p.stages, dataclasses.replace(p.settings.for_still_images(),
                                                       decision=settings))  # fmt: skip
    first = p.process(noise(0), 0.0)
    assert [d.status for d in first.decisions] == [Status.CHALLENGE_REQUIRED]
    assert p.finish() == []


def test_a_claim_set_mid_stream_keeps_the_track_and_decides_it_again_one_to_one() -> None:
    """A badge presented by a face identified 1:N a moment ago: same track id, new 1:1
    decision; back to 1:N keeping decisions, the track is not decided a third time."""
    p, _, _ = pipeline([[face_at(50)]] * 12)
    first = run(p, 3)
    p.set_claim("bo", keep_decided=False)  # ana shows bo's badge
    results = [p.process(noise(i), i / 30) for i in range(3, 6)]
    claimed = [d for r in results for d in r.decisions]
    assert first == [Status.VERIFIED]
    assert [(d.status, d.track_id) for d in claimed] == [(Status.NOT_MATCHED, 1)]
    p.set_claim(None, keep_decided=True)
    assert run(p, 3) == [] and p.mode is Mode.IDENTIFY


def test_a_claim_set_before_a_track_is_decided_does_not_lose_its_attempt() -> None:
    """ana, identified 1:N, has two good frames and a blank one (confirmed, undecided) when
    bo's badge is presented, and leaves at once: her attempt is decided on what it gathered,
    under the rules it was gathered for (1:N), instead of being dropped unrecorded: she
    matched, on two frames, too few to be let in."""
    p, _, _ = pipeline([[face_at(50)]] * 3)
    blank = np.full((480, 640, 3), 128, np.uint8)  # the gate rejects a face without texture
    assert [p.process(image, i / 30).decisions for i, image in
            enumerate([noise(0), noise(1), blank])] == [(), (), ()]  # fmt: skip
    p.set_claim("bo", keep_decided=False, park=True)
    gone = [p.process(noise(i), i / 30) for i in range(3, 5 + p.settings.tracker.max_missed)]
    (decision,) = [d for r in gone for d in r.decisions]
    assert (decision.status, decision.reasons[0], decision.frames) == (
        Status.LOW_QUALITY, QualityReason.TOO_BRIEF, 2)  # fmt: skip
    assert decision.claimed is None and decision.similarity is not None
    assert decision.similarity > p.settings.thresholds(Mode.IDENTIFY).similarity


def test_a_parked_attempt_ends_once_the_track_is_answered() -> None:
    """ana's undecided 1:N attempt, then bo's badge, answered; then a second badge, and she
    leaves: she was answered, so her first attempt is not recorded after all."""
    p, _, _ = pipeline([[face_at(50)]] * 6)
    blank = np.full((480, 640, 3), 128, np.uint8)
    for i, image in enumerate([noise(0), noise(1), blank]):
        p.process(image, i / 30)
    p.set_claim("bo", keep_decided=False, park=True)
    made = [d.status for i in range(3, 6) for d in p.process(noise(i), i / 30).decisions]
    p.set_claim("ana", keep_decided=False)
    gone = range(6, 8 + p.settings.tracker.max_missed)
    made += [d.status for i in gone for d in p.process(noise(i), i / 30).decisions]
    assert made == [Status.NOT_MATCHED] and p.finish() == []


def test_a_badge_answered_for_one_face_verifies_nobody_else_as_its_holder() -> None:
    """Two faces both look like ana when her badge is presented: the first is verified at
    its third frame, which answers the badge; the second, with two accepted frames and a
    rejected one, leaves after the kiosk is back to 1:N. The badge's attempt was answered:
    its other attempts are dropped, not decided as ana on fewer frames than it needs."""
    p, _, _ = pipeline([[face_at(50), face_at(180)]] * 3 + [[face_at(50)]] * 20)
    p.set_claim("ana", keep_decided=False, park=True)  # ana's badge, from 1:N
    made = []
    for i in range(3):
        image = noise(i)
        if i == 2:
            image[100:200, 180:280] = 128  # the gate rejects the second face's third frame
        made += [(d.track_id, d.status) for d in p.process(image, i / 30).decisions]
    assert made == [(1, Status.VERIFIED)]
    ended = p.set_claim(None, keep_decided=True)  # the second face's attempt is cut off
    assert [(d.track_id, d.status, d.reasons[0], d.identity) for d in ended] == [
        (2, Status.LOW_QUALITY, QualityReason.TOO_BRIEF, None)
    ]
    later = [
        (d.track_id, d.status) for i in range(3, 23) for d in p.process(noise(i), i / 30).decisions
    ]
    assert later == [] and p.finish() == []


def test_a_decision_says_whom_it_was_verified_against() -> None:
    """1:N decisions have no claim; a 1:1 one names its claim, even when not matched, so a
    kiosk can tell an answer to its badge from an attempt a switch had parked."""
    p, _, _ = pipeline([[face_at(50)]] * 3, claimed="bo")
    assert [
        (d.status, d.claimed) for i in range(3) for d in p.process(noise(i), i / 30).decisions
    ] == [(Status.NOT_MATCHED, "bo")]
    q, _, _ = pipeline([[face_at(50)]] * 3)
    assert [
        (d.status, d.claimed) for i in range(3) for d in q.process(noise(i), i / 30).decisions
    ] == [(Status.VERIFIED, None)]


def test_frames_gathered_for_one_claim_never_decide_another() -> None:
    """Two frames of ana checked against her own badge, then bo's badge and one more frame
    before the stream ends: the answer about bo rests on the one frame compared with bo."""
    p, _, _ = pipeline([[face_at(50)]] * 3, claimed="ana")
    assert run(p, 2) == []
    p.set_claim("bo", keep_decided=False, park=True)
    p.process(noise(2), 2 / 30)
    assert [(d.status, d.identity, d.frames) for d in p.finish()] == [(Status.NOT_MATCHED, None, 1)]


def test_a_claim_for_someone_not_in_the_gallery_is_refused_and_changes_nothing() -> None:
    p, _, _ = pipeline([[face_at(50)]] * 3, people=("ana",))
    with pytest.raises(InputError, match="no templates for the claimed identity 'bo'"):
        p.set_claim("bo", keep_decided=False)
    assert p.claimed is None and run(p, 3) == [Status.VERIFIED]


def test_an_identity_forgotten_mid_track_cannot_be_its_answer() -> None:
    """Two frames gathered for ana, then ana is erased: the track must not end verified
    as her on the frames it already had."""
    p, _, _ = pipeline([[face_at(50)]] * 3)
    run(p, 2)
    p.stages = dataclasses.replace(p.stages, gallery=gallery("bo"))
    p.forget_identities({"ana"})
    results = [p.process(noise(2), 2 / 30)]
    (decision,) = [d for r in results for d in r.decisions]
    assert decision.status is Status.NOT_MATCHED and decision.identity is None


def test_a_badge_attempt_cut_off_during_its_challenge_failed_it() -> None:
    """A photo held up with ana's badge is asked to blink; before the challenge times out
    the badge is presented again, replaced by bo's, or expires. Each time the attempt ends
    spoof_detected, returned to be recorded, as a challenge let time out would: a badge
    presented again is no way to try a spoof without leaving a record."""
    for claim, keep in (("ana", False), ("bo", False), (None, True)):
        p = challenged([[face_at(50)]] * 8, frames=100)
        p.set_claim("ana", keep_decided=False, park=True)
        made = [d.status for i in range(5) for d in p.process(noise(i), i / 30).decisions]
        ended = [(d.status, d.claimed, d.identity) for d in p.set_claim(claim, keep_decided=keep)]
        assert made == [Status.CHALLENGE_REQUIRED]
        assert ended == [(Status.SPOOF_DETECTED, "ana", None)]
        later = [d.status for i in range(5, 8) for d in p.process(noise(i), i / 30).decisions]
        assert later == [Status.CHALLENGE_REQUIRED]  # a new attempt, under the new claim


def test_a_challenge_cut_short_because_the_badge_was_answered_for_another_face_is_no_spoof() -> (
    None
):
    """A bystander checked against bo's badge is asked to blink; bo is answered first (or
    leaves the gallery) and the kiosk ends the badge: the kiosk, not the bystander, ended
    that challenge, so it is low_quality (too_brief), never spoof_detected."""
    p = challenged([[face_at(50)]] * 8, frames=100)
    p.set_claim("bo", keep_decided=False, park=True)
    made = [d.status for i in range(5) for d in p.process(noise(i), i / 30).decisions]
    ended = p.set_claim(None, keep_decided=True, interrupted=True)
    assert made == [Status.CHALLENGE_REQUIRED]
    assert [(d.status, d.reasons[0], d.claimed) for d in ended] == [
        (Status.LOW_QUALITY, QualityReason.TOO_BRIEF, "bo")
    ]


def test_a_badge_attempt_cut_off_while_gathering_frames_is_too_brief_never_verified() -> None:
    """ana, with her own badge, has two good frames and a flat one (a face the tracker has
    confirmed, not yet checked enough) when the badge is presented again: the attempt is
    recorded low_quality (too_brief), not verified on fewer frames than it needs."""
    p, _, _ = pipeline([[face_at(50)]] * 8)
    p.set_claim("ana", keep_decided=False, park=True)
    assert run(p, 2) == []
    assert not p.process(np.full((480, 640, 3), 128, np.uint8), 2 / 30).decisions
    ended = p.set_claim("ana", keep_decided=False)
    assert [(d.status, d.reasons[0], d.claimed, d.identity) for d in ended] == [
        (Status.LOW_QUALITY, QualityReason.TOO_BRIEF, "ana", None)
    ]
    assert [d.status for i in range(3, 6) for d in p.process(noise(i), i / 30).decisions] == [
        Status.VERIFIED
    ]


def test_a_badge_attempt_cut_off_before_the_tracker_confirmed_the_face_is_no_ones() -> None:
    """Two frames are not yet a face the tracker trusts (often a detection in the background):
    presenting the badge again ends nothing to record, and the face is decided afresh."""
    p, _, _ = pipeline([[face_at(50)]] * 8)
    p.set_claim("ana", keep_decided=False, park=True)
    assert run(p, 2) == []
    assert p.set_claim("ana", keep_decided=False) == []
    assert [d.status for i in range(2, 5) for d in p.process(noise(i), i / 30).decisions] == [
        Status.VERIFIED
    ]


def test_a_face_decided_before_a_badge_that_ended_unanswered_is_not_decided_again() -> None:
    """ana is verified 1:N; a badge presented beside her expires before any frame of her
    is checked against it: back in 1:N, her decision stands, not a second verified."""
    p, _, _ = pipeline([[face_at(50)]] * 12)
    assert run(p, 3) == [Status.VERIFIED]
    p.set_claim("bo", keep_decided=False, park=True)
    assert p.set_claim(None, keep_decided=True) == []
    assert [d.status for i in range(3, 12) for d in p.process(noise(i), i / 30).decisions] == []
    kept = p.decision_of(1)
    assert kept is not None and kept.status is Status.VERIFIED
