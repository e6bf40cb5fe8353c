"""The face pipeline end to end: frame -> detect -> track -> quality -> liveness -> align ->
embed -> match -> decide, one :class:`DecisionPipeline` per camera stream.

The stages are the package's own classes, but the pipeline sees each through a small
protocol (:class:`Detector`, :class:`LivenessScorer`, :class:`Recogniser`, :class:`Gallery`),
so the default pack and a bring-your-own pack (:mod:`inference.face.byo`) run through the
same code, and tests can drive it with fakes.

Liveness and descriptors are computed for the faces the quality gate accepts, batched per
frame (one run per model however many faces need them: :mod:`inference.face.frame_evidence`):
on an undecided track they are its evidence; on a decided one they check that the track
still shows the face it was decided on (:mod:`inference.face.continuity`): a track that does
not is ended, and its face starts a new one, decided afresh. Each frame's result carries the
time spent in each stage.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Sequence

from inference.errors import InputError
from inference.face.continuity import Continuity, DecidedFace, Vector
from inference.face.decide import Decision, FrameEvidence, Mode, Status, TrackDecider
from inference.face.detect import as_bgr
from inference.face.frame_evidence import face_observation, frame_evidence
from inference.face.frame_scoring import gate_settings, own_threshold
from inference.face.frames import STAGES, FaceObservation, FrameResult, StageTimer
from inference.face.quality import QualityGate
from inference.face.settings import FaceSettings
from inference.face.stages import (
    AnyImage,
    Challenge,
    Detector,
    Gallery,
    LivenessReading,
    LivenessScorer,
    Recogniser,
    Stages,
)
from inference.face.track import FaceTracker
from inference.face.types import QualityVerdict, TrackedFace

__all__ = [
    "STAGES",
    "Challenge",
    "DecisionPipeline",
    "Detector",
    "FaceObservation",
    "FrameResult",
    "Gallery",
    "LivenessReading",
    "LivenessScorer",
    "Recogniser",
    "Stages",
]


def _ended(decider: TrackDecider, answering: bool, in_view: bool) -> Decision | None:
    """An ended track's decision. One whose face left (or whose stream ended) during the
    challenge this pipeline ran failed it, as a timeout does: its last word must not stay
    ``challenge_required``, which is not final and would leave the attempt without an
    outcome to audit."""
    if answering and decider.awaits_challenge:
        return decider.record_challenge(passed=False)
    return decider.finish(in_view=in_view)


def _cut(decider: TrackDecider, interrupted: bool) -> Decision | None:
    """An attempt a change of claim ends: ``interrupt`` where the kiosk took its challenge
    from it, else ``cut_off`` (a challenge due or under way failed)."""
    decision = decider.interrupt() if interrupted else None
    return decision if decision is not None else decider.cut_off()


class DecisionPipeline:
    """Turns the frames of one stream into per-track decisions."""

    def __init__(
        self, stages: Stages, settings: FaceSettings | None = None, claimed: str | None = None
    ) -> None:
        self.stages = stages
        self.settings = settings or FaceSettings()
        self.gate = QualityGate(gate_settings(self.settings.quality, stages))
        self.tracker = FaceTracker(self.settings.tracker)
        self._set_mode(claimed)
        self._deciders: dict[int, TrackDecider] = {}
        self._parked: dict[int, TrackDecider] = {}  # attempts a change of claim interrupted
        self._held: dict[int, TrackDecider] = {}  # decided in the own mode, while a badge runs
        self._challenges: dict[int, Challenge] = {}
        self._last_seen: dict[int, int] = {}
        self._faces: dict[int, DecidedFace] = {}  # each track's own evidence of its face
        self._index = 0

    def _set_mode(self, claimed: str | None) -> None:
        self._check_recognition(claimed)
        self.claimed = claimed
        self.mode = Mode.VERIFY if claimed is not None else Mode.IDENTIFY
        self.thresholds = self.settings.thresholds(self.mode, own_threshold(self.stages, self.mode))
        # "Still the same face" is a 1:1 question whatever the mode: the recogniser's own
        # 1:1 threshold, or the match settings'.
        one_to_one = own_threshold(self.stages, Mode.VERIFY)
        self._same_face = self.settings.thresholds(Mode.VERIFY, one_to_one).similarity

    def _check_recognition(self, claimed: str | None) -> None:
        gallery, recogniser = self.stages.gallery, self.stages.recogniser
        if gallery is None:
            if claimed is not None:
                raise InputError("a claimed identity needs a gallery to verify against")
            return
        if recogniser is None:
            raise InputError("a gallery needs a recogniser to describe faces")
        if gallery.model != recogniser.model:
            raise InputError(f"the gallery holds {gallery.model.key} templates; this pipeline "
                             f"describes faces with {recogniser.model.key}")  # fmt: skip
        if claimed is not None and claimed not in gallery:
            raise InputError(f"no templates for the claimed identity {claimed!r}")

    def set_claim(
        self,
        claimed: str | None,
        *,
        keep_decided: bool,
        park: bool = False,
        interrupted: bool = False,
    ) -> list[Decision]:
        """Verify against ``claimed`` from the next frame on (None: identify 1:N). Faces keep
        their tracks and ids. A track already decided keeps its decision when
        ``keep_decided`` (a badge's attempt answered, back to 1:N: its holder must not be
        decided twice), and starts afresh otherwise (a badge presented: its holder's attempt
        starts now); one decided before a ``park`` and not answered since has that decision
        back with ``keep_decided`` (a badge that expired beside someone already recorded).
        An undecided track (or one awaiting its challenge) starts afresh too.
        With ``park`` (leaving the kiosk's own mode for a badge) its attempt so far is
        parked: if the track ends without an answer in the new mode (its face left at
        once), the parked attempt is decided on what it gathered, instead of being lost
        (one whose challenge was under way is ``low_quality``, ``too_brief``: the kiosk,
        not the person, ended that challenge).
        Without it (a badge's attempt over, or replaced by another badge's) the attempt is
        cut off (:meth:`TrackDecider.cut_off`), and its decision returned to be recorded:
        never ``verified`` (a badge answers for one face, and one that ended or expired
        verifies nobody), and ``spoof_detected`` if its challenge was due or under way, so
        that presenting a badge again, or another, cannot end a try unrecorded; but with
        ``interrupted`` (the kiosk ended the claim: answered for another face, or its holder
        left the gallery) a challenge under way is ``low_quality`` (``too_brief``), as the
        person was not let finish it (:meth:`TrackDecider.interrupt`). Attempts parked
        earlier stay parked until their track ends or is answered."""
        self._set_mode(claimed)
        # Parked, not carried over: a frame's match is evidence only for the claim it was
        # made for. A frame matched against badge A says nothing of B; a 1:1 frame does not
        # know whether someone else matches better, which 1:N must; a 1:N frame lists only
        # its top k, so a badge outside them has no score there; and carrying liveness
        # alone would let old frames lend a decision their liveness while new ones lend the
        # match. So a parked attempt keeps its own claim, thresholds and frames, the new
        # one starts with none, and of two attempts with frames the newer is kept.
        ended = []
        for track, decider in self._deciders.items():
            if decider.awaits_challenge or (decider.decision is None and decider.frames):
                if park:
                    self._parked[track] = decider
                elif (decision := _cut(decider, interrupted)) is not None:
                    ended.append(decision)
            elif decider.decision is not None:  # answered since: an older attempt is over
                self._parked.pop(track, None)
                if park:
                    self._held[track] = decider
        cut = {decision.track_id for decision in ended}  # start afresh, as undecided ones
        self._deciders = {track: decider for track, decider in self._deciders.items()
                          if keep_decided and track not in cut and decider.decision is not None
                          and decider.decision.final}  # fmt: skip
        if keep_decided:  # back in the own mode: who was not answered since keeps their answer
            self._deciders = {**self._held, **self._deciders}
            self._held = {}
        self._challenges = {t: c for t, c in self._challenges.items() if t in self._deciders}
        self._faces = {t: f for t, f in self._faces.items() if t in self._deciders}
        return ended

    def forget_identities(self, identities: Collection[str]) -> None:
        """People who left the gallery: no open track can still be decided as them."""
        for decider in (*self._deciders.values(), *self._parked.values()):
            decider.forget(identities)

    def withdraw(self, identities: Collection[str], tracks: Collection[int]) -> list[Decision]:
        """People who left the gallery after ``tracks`` were decided ``verified`` as them, and
        before the decisions were taken (an erasure committed meanwhile): those decisions
        are ``not_matched`` (:meth:`TrackDecider.withdraw`); returns the new ones."""
        withdrawn = []
        for track in tracks:
            decider = self._deciders.get(track)
            if decider is not None and (decision := decider.withdraw(identities)) is not None:
                withdrawn.append(decision)
        return withdrawn

    def reset(self) -> None:
        """Forget every track (the next person at the kiosk)."""
        self.tracker.reset()
        self._deciders.clear()
        self._parked.clear()
        self._held.clear()
        self._challenges.clear()
        self._last_seen.clear()
        self._faces.clear()

    def process(self, image: AnyImage, time_s: float | None = None) -> FrameResult:
        """One frame through every stage; ``time_s`` is its capture time (video time for a
        file, the monotonic clock when omitted)."""
        now = time.monotonic() if time_s is None else time_s
        timer = StageTimer()
        with timer("detect"):
            image = as_bgr(image, self.settings.detector.max_image_side)  # checked once, here
            faces = self.stages.detector.detect(image)
        with timer("track"):
            tracked = self.tracker.update(faces)
        with timer("quality"):
            verdicts = [self.gate.assess(image, t.face) for t in tracked]
        status = self._frame_status(tracked)
        evidence, descriptors = frame_evidence(
            self.stages, self.settings, image, tracked, verdicts, claimed=self.claimed,
            now=now, status=status, timer=timer,
        )  # fmt: skip
        with timer("decide"):
            hidden, ended = self._continue(tracked, evidence, descriptors)
            decisions = ended + self._decide(tracked, evidence)
            decisions += self._run_challenges(image, tracked, now)
        faces_out = tuple(self._observation(t, v, e, shown=t.track_id not in hidden)
                          for t, v, e in zip(tracked, verdicts, evidence, strict=True))  # fmt: skip
        result = FrameResult(self._index, now, status, faces_out, tuple(decisions), timer.ms)
        self._index += 1
        return result

    def finish(self) -> list[Decision]:
        """The stream ended: every open track is decided on what it has, including one still
        in view that the stream ended too soon for the tracker to confirm (never verified:
        :meth:`TrackDecider.finish`). One in the middle of the challenge this pipeline ran
        failed it, as if its face had left."""
        last = self._index - 1
        tracks = dict.fromkeys([*self._deciders, *self._parked])
        decisions = [self._end(track_id, answering=track_id in self._challenges,
                               in_view=self._last_seen.get(track_id) == last)
                     for track_id in tracks]  # fmt: skip
        self.reset()
        return [decision for decision in decisions if decision is not None]

    def record_challenge(self, track_id: int, passed: bool) -> Decision | None:
        """The active challenge's result for a track that asked for one."""
        decider = self._deciders.get(track_id)
        return None if decider is None else decider.record_challenge(passed)

    def decision_of(self, track_id: int) -> Decision | None:
        decider = self._deciders.get(track_id)
        return None if decider is None else decider.decision

    def _frame_status(self, tracked: Sequence[TrackedFace]) -> Status | None:
        if not tracked:
            return Status.NO_FACE_DETECTED
        if not self.settings.frames.single_subject:
            return None
        rivals = self.settings.frames.comparable([t.face.inter_ocular_px for t in tracked])
        return Status.MULTIPLE_FACES if rivals > 1 else None

    def _continue(
        self,
        tracked: list[TrackedFace],
        evidence: list[FrameEvidence | None],
        descriptors: Sequence[Vector | None],
    ) -> tuple[set[int], list[Decision]]:
        """Each decided track's face checked against the face it was decided on
        (:mod:`inference.face.continuity`): a track whose face changed ends, and the face
        starts a new track in ``tracked`` (and ``evidence``), decided afresh. Returns the
        decided tracks whose decision this frame must not show (not checked, or not the
        decided face), and any decision the tracks ended made."""
        hidden, ended = set(), []
        for index, (face, frame) in enumerate(zip(tracked, evidence, strict=True)):
            decider = self._deciders.get(face.track_id)
            decided = decider is not None and decider.decision is not None
            if not decided or decider is None or decider.awaits_challenge:
                if frame is not None and frame.quality.ok:  # this attempt's own frames
                    self._decided_face(face.track_id).learn(descriptors[index])
                continue
            verdict = Continuity.UNSURE
            if frame is not None and frame.quality.ok and decider.decision is not None:
                face_now = self._decided_face(face.track_id)
                verdict = face_now.check(
                    descriptors[index], frame.liveness, frame.weight, decider.decision
                )
            if verdict is Continuity.BROKEN:
                tracked[index] = self.tracker.restart(face.track_id)
                ended += [d] if (d := self._end(face.track_id)) is not None else []
                self._last_seen.pop(face.track_id, None)
                evidence[index] = frame and dataclasses.replace(frame, confirmed=False)
            elif verdict is Continuity.UNSURE:
                hidden.add(face.track_id)
        return hidden, ended

    def _decided_face(self, track_id: int) -> DecidedFace:
        face = self._faces.get(track_id)
        if face is None:
            face = DecidedFace(self.thresholds.liveness, self._same_face,
                               self.settings.decision.min_frames)  # fmt: skip
            self._faces[track_id] = face
        return face

    def _decide(
        self, tracked: Sequence[TrackedFace], evidence: Sequence[FrameEvidence | None]
    ) -> list[Decision]:
        decisions = []
        for face, frame in zip(tracked, evidence, strict=True):
            self._last_seen[face.track_id] = self._index
            if frame is not None:
                decision = self._decider(face.track_id).add(frame)
                decisions += [decision] if decision is not None else []
        return decisions + self._end_lost_tracks()

    def _run_challenges(
        self, image: AnyImage, tracked: Sequence[TrackedFace], now: float
    ) -> list[Decision]:
        """Feed each track that awaits a challenge; a finished one settles its decision."""
        start = self.stages.challenges
        decisions = []
        for face in tracked:
            decider = self._deciders.get(face.track_id)
            if start is None or decider is None or not decider.awaits_challenge:
                continue
            challenge = self._challenges.get(face.track_id)
            if challenge is None:
                challenge = self._challenges[face.track_id] = start()
            status = challenge.feed(image, face, now)
            if status != "pending":
                del self._challenges[face.track_id]
                decision = decider.record_challenge(passed=status == "passed")
                decisions += [decision] if decision is not None else []
        return decisions

    def _end_lost_tracks(self) -> list[Decision]:
        """Tracks unseen for longer than the tracker keeps them are over: decide them."""
        patience = self.settings.tracker.max_missed
        lost = [tid for tid, seen in self._last_seen.items() if self._index - seen > patience]
        decisions = []
        for track_id in lost:
            del self._last_seen[track_id]
            answering = self._challenges.pop(track_id, None) is not None
            decision = self._end(track_id, answering=answering)
            decisions += [decision] if decision is not None else []
        return decisions

    def _end(
        self, track_id: int, *, answering: bool = False, in_view: bool = False
    ) -> Decision | None:
        """A track is over: its decision, or, where it had no answer since a change of claim,
        the parked attempt's (:meth:`set_claim`). A track seen only in multiple_faces frames
        never had a decider."""
        decider = self._deciders.pop(track_id, None)
        parked = self._parked.pop(track_id, None)
        self._faces.pop(track_id, None)
        self._held.pop(track_id, None)  # decided already
        if decider is not None:
            decision = _ended(decider, answering, in_view)
            if decision is not None or decider.decision is not None:
                return decision
        if parked is None:
            return None
        # a parked attempt's challenge, if it had one under way, was ended by the switch
        return parked.interrupt() if parked.awaits_challenge else parked.finish(in_view=in_view)

    def _decider(self, track_id: int) -> TrackDecider:
        decider = self._deciders.get(track_id)
        if decider is None:
            decider = TrackDecider(track_id, self.settings.decision, self.thresholds, self.claimed,
                                   self.settings.match.top_k)  # fmt: skip
            self._deciders[track_id] = decider
        return decider

    def _observation(
        self,
        tracked: TrackedFace,
        verdict: QualityVerdict,
        frame: FrameEvidence | None,
        *,
        shown: bool,
    ) -> FaceObservation:
        decider = self._deciders.get(tracked.track_id)
        decision = decider.decision if decider is not None and shown else None
        challenge = self._challenges.get(tracked.track_id)
        action = challenge.current_action if challenge is not None else None
        return face_observation(tracked, verdict, frame, decision, action)
