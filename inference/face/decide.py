"""Decisions per track: a track's frames fused into one answer with the seed's statuses.

A kiosk must not answer on one frame: a blink, a motion-blurred frame or a half-turned head
would decide for the person. So each track collects *evidence* frame by frame and answers
once it has enough:

* A frame the quality gate rejects adds its reasons and nothing else; a frame it accepts
  adds its passive-liveness score P(real) and the similarities the matcher found, with a
  **quality weight** in (0, 1] (:func:`quality_weight`: small, soft or turned faces count
  less than large, sharp, frontal ones).
* Once a confirmed track holds ``min_frames`` accepted frames, its liveness and each
  identity's similarity are the quality-weighted means over those frames, and:

  1. liveness below its threshold -> ``spoof_detected``;
  2. the site's challenge policy wants an active challenge that has not been passed ->
     ``challenge_required`` (the only status that is not final: the track is decided again
     when the challenge's result arrives; a failed challenge is ``spoof_detected``). The
     track keeps collecting frames while the challenge runs, and a pass is decided on those
     frames alone: the face that answered must itself be live and match, or a live face
     could answer for a photo that started the track. A result that arrives while the
     track is not waiting for one is ignored;
  3. the best identity's similarity at or above its threshold, named first by most of the
     weighted frames -> ``verified``; otherwise ``not_matched`` (open set: "unknown" is an
     answer, and an empty gallery makes every live face unknown). A frame supports an
     identity only if that frame is also live on its own: liveness and similarity are fused
     separately, so a live face's frames and a photo's frames could otherwise lend one
     decision the liveness of the first and the match of the second. Its cost, measured:
     of NUAA's live 3-frame windows whose fused liveness passes, 3 of 603 (0.5 %) have no
     weighted majority of live frames, so would not be verified however they match
     (``python -m tools.measure_face_decisions``, ``live_frame_rule``).

* A track that reaches ``max_frames`` or ``max_seconds`` without enough accepted frames is
  ``low_quality``, with the gate's reasons, most frequent first; one whose frames the gate
  all accepted (too few of them: a slow camera, or frames of ``multiple_faces`` between) is
  decided on them, by the rule of a track that ends: never ``verified`` on fewer than
  ``min_frames``. A track that ends (it left,
  the stream ended, a still image) is decided on what it has, if it has one accepted frame,
  but is ``verified`` only on ``min_frames`` accepted frames, as a live decision: on fewer,
  a refusal stands and what would have been ``verified`` is ``low_quality`` (``too_brief``).
  A face that turned away or left after a frame or two has not been checked enough to let in
  (a still image is decided with ``min_frames`` 1).
  A track the tracker never confirmed is a detection that vanished and is not decided,
  unless the stream ended with it in view (a clip, or a camera that stopped, shorter than
  ``min_hits`` frames): someone stood there, so it is decided by the same statuses but is
  never ``verified`` (nor sent to a challenge): the answer that would have been is
  ``low_quality`` with ``too_brief`` first among its reasons, keeping its scores for the audit.
  A face that leaves while the pipeline runs its challenge has failed the challenge
  (``spoof_detected``), as one that lets it time out; so has a confirmed track that ends
  (or a stream that ends) while it awaits its challenge, or before the challenge it needs
  could start.
* An attempt whose claim ends before it is answered (a badge presented again, replaced,
  answered for another face, or expired) is cut off (:meth:`TrackDecider.cut_off`): never
  ``verified``; ``spoof_detected`` if its challenge was due or under way, else what an
  unconfirmed track gets. One whose challenge the kiosk itself took from it (its attempt
  parked for another person's badge) did not fail it (:meth:`TrackDecider.interrupt`):
  ``low_quality`` (``too_brief``).

``no_face_detected`` and ``multiple_faces`` describe a whole frame, not a track; the
pipeline makes them with :func:`frame_decision`.

Every decision carries a ``confidence``: the quality-weighted share of the fused frames that,
taken alone, support its status (1.0 for facts of a frame and for policy statuses). The fused
scores themselves are in ``liveness`` and ``similarity``.

Everything here is deterministic arithmetic on the numbers it is given: no model, no clock.

The numbers a decision turns on are in :mod:`inference.face.decide_settings`; what one frame
shows of a track, and its quality weight, in :mod:`inference.face.decide_evidence`; how the
frames fuse into scores and a confidence, in :mod:`inference.face.decide_fusion`. This module
holds :class:`TrackDecider`, which applies the statuses' rules to them, and exports the public
names, as it always has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from inference.face.decide_evidence import (
    AcceptedFrame,
    FrameEvidence,
    WeightSettings,
    accepted_frame,
    quality_weight,
)
from inference.face.decide_fusion import first_share, fused_liveness, ranked, unmatched_share
from inference.face.decide_settings import DecisionSettings, Thresholds
from inference.face.decision import (
    FRAME_STATUSES,
    Candidate,
    ChallengePolicy,
    Decision,
    Mode,
    Status,
    frame_decision,
)
from inference.face.types import QualityReason

__all__ = [
    "FRAME_STATUSES",
    "Candidate",
    "ChallengePolicy",
    "Decision",
    "DecisionSettings",
    "FrameEvidence",
    "Mode",
    "Status",
    "Thresholds",
    "TrackDecider",
    "WeightSettings",
    "frame_decision",
    "quality_weight",
]


@dataclass
class TrackDecider:
    """The evidence of one track, and its decision once there is enough.

    ``claimed`` is the badge's identity in 1:1 mode; in 1:N mode (None) any identity the
    matcher offers can win. ``top_k`` candidates are kept in the decision (the matcher's
    own ``top_k``).
    """

    track_id: int
    settings: DecisionSettings
    thresholds: Thresholds
    claimed: str | None = None
    top_k: int = 5
    decision: Decision | None = None
    _first_time: float | None = None
    _frames: int = 0
    _accepted: list[AcceptedFrame] = field(default_factory=list)
    _reasons: Counter[QualityReason] = field(default_factory=Counter)
    _challenge: bool | None = None
    _confirmed: bool = False
    _during_challenge: list[AcceptedFrame] = field(default_factory=list)

    @property
    def frames(self) -> int:
        """Frames of the track recorded so far, accepted or not."""
        return self._frames

    @property
    def wants_evidence(self) -> bool:
        """Whether liveness and matching are still worth running for this track: until it
        is decided, and while its challenge runs (the answer is decided on those frames)."""
        return self.decision is None or self.awaits_challenge

    @property
    def awaits_challenge(self) -> bool:
        return self.decision is not None and self.decision.status is Status.CHALLENGE_REQUIRED

    def add(self, evidence: FrameEvidence) -> Decision | None:
        """Record one frame; returns a decision when this frame made (or changed) one."""
        if self.awaits_challenge:
            if evidence.quality.ok:
                self._during_challenge.append(accepted_frame(evidence))
            else:
                self._reasons.update(evidence.quality.reasons)
            return None
        if self.decision is not None:
            return None
        if self._first_time is None:
            self._first_time = evidence.time_s
        self._frames += 1
        self._confirmed = self._confirmed or evidence.confirmed
        if evidence.quality.ok:
            self._accepted.append(accepted_frame(evidence))
        else:
            self._reasons.update(evidence.quality.reasons)
        if not self._confirmed:
            return None
        if len(self._accepted) >= self.settings.min_frames:
            return self._settle(self._decide())
        if self._out_of_time(evidence.time_s):
            return self._settle(self._at_deadline())
        return None

    def _at_deadline(self) -> Decision:
        """Time ran out before ``min_frames`` accepted frames: ``low_quality`` with the gate's
        reasons, or, where it rejected none, the decision of a track that ends."""
        return self._low_quality() if self._reasons else self._checked_enough(self._decide())

    def record_challenge(self, passed: bool) -> Decision | None:
        """The active challenge's result for a track waiting for it (ignored otherwise: a
        pass recorded before the track asked proves nothing of the face it then shows).
        A pass is decided on the frames seen while the challenge ran."""
        if not self.awaits_challenge:
            return None
        self._challenge, self.decision = passed, None
        if passed:
            self._accepted = self._during_challenge
            if not self._accepted:  # no frame of the face that answered could be matched
                return self._settle(self._unseen_answer())
        return self._settle(self._decide())

    def cut_off(self) -> Decision | None:
        """The attempt's claim ended before the attempt was answered (a badge presented
        again, replaced by another, answered for another face, or expired): it is decided
        now and never ``verified``. One due for or taking its challenge failed it
        (``spoof_detected``), as one that lets the challenge time out; one still gathering
        frames is too brief to be checked (``low_quality``, ``too_brief``) unless what it
        has already refuses it. None where there is nothing to end, or the tracker never
        confirmed the face: a detection of a frame or two (often the background's) is no
        one's attempt, and the face, if it is one, is decided afresh."""
        if self.awaits_challenge:
            return self.record_challenge(passed=False)
        if self.decision is not None or not self._confirmed:
            return None
        return self._settle(self._too_brief())

    def interrupt(self) -> Decision | None:
        """The kiosk took this attempt's challenge from it (the attempt was parked for
        another person's badge) and its track then ended: the person did not fail the
        challenge, they were not let finish it. ``low_quality`` (``too_brief``) with its
        liveness, never ``verified``; None for a track not awaiting its challenge."""
        if not self.awaits_challenge:
            return None
        self.decision = None
        return self._settle(self._too_brief())

    def forget(self, identities: Collection[str]) -> None:
        """Drop what this track's frames said of ``identities`` (people no longer in the
        gallery: erased, or their consent ended); the rest of its evidence stays. A
        decision already made stands: it was right when it was made."""
        for frame in (*self._accepted, *self._during_challenge):
            for identity in identities:
                frame.candidates.pop(identity, None)

    def withdraw(self, identities: Collection[str]) -> Decision | None:
        """The track's ``verified`` decision named one of ``identities``, who left the gallery
        before the kiosk took it: it is ``not_matched`` now (``Decision.withdrawn``), and so
        stays for the rest of the track. Returns the new decision, None if nothing changed."""
        self.forget(identities)
        if self.decision is None or (withdrawn := self.decision.withdrawn(identities)) is (
            self.decision
        ):
            return None
        return self._settle(withdrawn)

    def finish(self, *, in_view: bool = False) -> Decision | None:
        """The track ended: decide on what there is. A never-confirmed track gets None, or,
        when the stream ended with it ``in_view``, an answer that cannot be ``verified``.
        One that would now be sent to a challenge never takes it: ``spoof_detected``, as a
        face that leaves during its challenge (``challenge_required`` is not final). One
        with fewer than ``min_frames`` accepted frames is never ``verified`` either."""
        if self.decision is not None or not self._frames:
            return None
        if not self._confirmed:
            return self._settle(self._too_brief()) if in_view else None
        if not self._accepted:
            return self._settle(self._low_quality())
        decided = self._decide()
        if decided.status is Status.CHALLENGE_REQUIRED:
            self._challenge = False  # the challenge was not taken
            decided = self._decide()
        return self._settle(self._checked_enough(decided))

    def _checked_enough(self, decided: Decision) -> Decision:
        """A kiosk does not accept on fewer than ``min_frames`` accepted frames, whether the
        track ended or its time ran out: such a ``verified`` is ``low_quality`` (``too_brief``)."""
        if decided.status is Status.VERIFIED and len(self._accepted) < self.settings.min_frames:
            return self._too_brief()
        return decided

    def _too_brief(self) -> Decision:
        """The statuses of an attempt that could not be checked in full (a track the tracker
        never confirmed, one the kiosk cut short): a refusal stands (a photo held up for two
        frames is still a spoof), but acceptance needs a face seen, and checked, enough."""
        decided = self._decide() if self._accepted else self._low_quality()
        if decided.status not in (Status.VERIFIED, Status.CHALLENGE_REQUIRED):
            return decided
        reasons = (QualityReason.TOO_BRIEF, *(r for r, _ in self._reasons.most_common()))
        return Decision(Status.LOW_QUALITY, 1.0, self.track_id, similarity=decided.similarity,
                        liveness=decided.liveness, reasons=reasons,
                        frames=len(self._accepted), claimed=self.claimed)  # fmt: skip

    def _settle(self, decision: Decision) -> Decision:
        self.decision = decision
        return decision

    def _out_of_time(self, now: float) -> bool:
        start = self._first_time if self._first_time is not None else now
        too_long = now - start >= self.settings.max_seconds
        return self._frames >= self.settings.max_frames or too_long

    def _low_quality(self) -> Decision:
        reasons = tuple(reason for reason, _ in self._reasons.most_common())
        share = (self._frames - len(self._accepted)) / self._frames if self._frames else 1.0
        return Decision(Status.LOW_QUALITY, share, self.track_id, reasons=reasons,
                        frames=len(self._accepted), claimed=self.claimed)  # fmt: skip

    def _unseen_answer(self) -> Decision:
        """A pass with no accepted frame of the face that gave it: ``low_quality`` with the
        gate's reasons where it rejected that face, else nobody is matched."""
        if self._reasons:
            return self._low_quality()
        return self._decision(Status.NOT_MATCHED, 1.0, liveness=None)

    def _decide(self) -> Decision:
        """The statuses in order; a spoof keeps its best similarity (the audit wants to
        know whom it resembled) but never an identity."""
        liveness, live_share = fused_liveness(self._accepted, self.thresholds)
        top = ranked(self._accepted, self.claimed, self.top_k)
        similarity = top[0].similarity if top else None
        if liveness is not None and liveness < self.thresholds.liveness:
            return self._decision(Status.SPOOF_DETECTED, 1.0 - live_share, liveness=liveness,
                                  similarity=similarity)  # fmt: skip
        if self._challenge is False:  # liveness stays None where no passive model ran
            return self._decision(Status.SPOOF_DETECTED, 1.0, liveness=liveness,
                                  similarity=similarity)  # fmt: skip
        if self._challenge is None and self._needs_challenge(liveness):
            return self._decision(Status.CHALLENGE_REQUIRED, 1.0, liveness=liveness)
        return self._match(liveness, top)

    def _needs_challenge(self, liveness: float | None) -> bool:
        policy = self.settings.challenge
        if policy is ChallengePolicy.ALWAYS:
            return True
        below = liveness is None or liveness < self.thresholds.challenge_below
        return policy is ChallengePolicy.UNCERTAIN and below

    def _match(self, liveness: float | None, top: tuple[Candidate, ...]) -> Decision:
        if not top:  # nobody to compare with: every live face is unknown
            return self._decision(Status.NOT_MATCHED, 1.0, liveness=liveness)
        best, similarity = top[0].identity, top[0].similarity
        agreement = first_share(self._accepted, best, self.thresholds, self.claimed)
        if similarity >= self.thresholds.similarity and agreement > self.settings.min_agreement:
            return self._decision(Status.VERIFIED, agreement, liveness=liveness, identity=best,
                                  similarity=similarity, candidates=top)  # fmt: skip
        unmatched = unmatched_share(self._accepted, self.thresholds, self.claimed)
        return self._decision(Status.NOT_MATCHED, unmatched, liveness=liveness,
                              similarity=similarity, candidates=top)  # fmt: skip

    def _decision(
        self,
        status: Status,
        confidence: float,
        *,
        liveness: float | None,
        identity: str | None = None,
        similarity: float | None = None,
        candidates: tuple[Candidate, ...] = (),
    ) -> Decision:
        return Decision(status, min(1.0, max(0.0, confidence)), self.track_id, identity,
                        similarity, liveness, (), candidates, len(self._accepted),
                        self.claimed)  # fmt: skip
