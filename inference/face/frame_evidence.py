"""What one frame shows of each of its faces: the evidence each gives its track's decider,
and the observation a frame's result carries for the screen.

The pipeline (``inference.face.pipeline``) gathers the evidence of every face the quality
gate accepts, decided or not, batched per frame (one run per model however many faces need
them; ``inference.face.frame_scoring``); a decided track's descriptor is then checked
against the face it was decided on.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference.face.continuity import Vector
from inference.face.decide import Candidate, Decision, FrameEvidence, Status, quality_weight
from inference.face.frame_scoring import describe_faces, liveness_scores, match_candidates
from inference.face.frames import FaceObservation, StageTimer
from inference.face.settings import FaceSettings
from inference.face.stages import AnyImage, Stages
from inference.face.types import QualityVerdict, TrackedFace


def frame_evidence(
    stages: Stages,
    settings: FaceSettings,
    image: AnyImage,
    tracked: Sequence[TrackedFace],
    verdicts: Sequence[QualityVerdict],
    *,
    claimed: str | None,
    now: float,
    status: Status | None,
    timer: StageTimer,
) -> tuple[list[FrameEvidence | None], list[Vector | None]]:
    """Each face's evidence (None where the frame adds none: ``multiple_faces``) and
    descriptor (None where none was made). Every accepted face is scored, decided or
    not: a decided track's frames are checked against its decision (the pipeline's
    ``_continue``)."""
    if status is Status.MULTIPLE_FACES:
        return [None] * len(tracked), [None] * len(tracked)
    wanted = [i for i, v in enumerate(verdicts) if v.ok]
    faces = [tracked[i].face for i in wanted]
    with timer("liveness"):
        live = liveness_scores(stages, image, faces)
    probes = describe_faces(stages, image, faces, timer)
    candidates = match_candidates(
        stages, probes, len(faces), timer, claimed=claimed, top_k=settings.match.top_k
    )
    extra = {i: (live[n], candidates[n]) for n, i in enumerate(wanted)}
    described = {i: probes.vectors[n] for n, i in enumerate(wanted)} if probes else {}
    evidence: list[FrameEvidence | None] = [_one(settings, t, v, now, extra.get(i))
                for i, (t, v) in enumerate(zip(tracked, verdicts, strict=True))]  # fmt: skip
    return evidence, [described.get(i) for i in range(len(tracked))]


def _one(
    settings: FaceSettings,
    tracked: TrackedFace,
    verdict: QualityVerdict,
    now: float,
    extra: tuple[float | None, tuple[Candidate, ...]] | None,
) -> FrameEvidence:
    if not verdict.ok or verdict.measures is None:
        return FrameEvidence(now, verdict, confirmed=tracked.confirmed)
    weight = quality_weight(verdict.measures, settings.weights, settings.quality)
    live, candidates = extra if extra is not None else (None, ())
    return FrameEvidence(now, verdict, weight, live, candidates, tracked.confirmed)


def face_observation(
    tracked: TrackedFace,
    verdict: QualityVerdict,
    frame: FrameEvidence | None,
    decision: Decision | None,
    action: str | None,
) -> FaceObservation:
    """One face as a frame's result shows it, with its track's decision (if shown) and the
    challenge's current action (if one runs)."""
    if frame is None:  # a multiple_faces frame: judged by the gate, but no evidence
        return FaceObservation(tracked.track_id, tracked.face, tracked.confirmed, verdict,
                               0.0, None, (), decision, action)  # fmt: skip
    return FaceObservation(tracked.track_id, tracked.face, tracked.confirmed, verdict,
                           frame.weight, frame.liveness, frame.candidates, decision,
                           action)  # fmt: skip
