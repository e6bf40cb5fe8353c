"""How a track's accepted frames fuse into its scores, and into a decision's confidence.

Liveness and each identity's similarity are quality-weighted means over the accepted frames
(:func:`fused_liveness`, :func:`ranked`), fused separately. A decision's ``confidence`` is the
weighted share of the frames that, taken alone, support its status: for a spoof those below
the liveness threshold (the rest of :func:`fused_liveness`'s share), for a match those
:func:`first_share` and :func:`unmatched_share` count, where a frame supports an identity
only if it is also live on its own.

Apart from :mod:`inference.face.decide` because this is arithmetic on the frames alone: no
state, no rule about when a track is decided. :class:`~inference.face.decide.TrackDecider`
keeps the frames and asks these functions, in the order of its statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from inference.face.decide_evidence import AcceptedFrame, best_identity
from inference.face.decide_settings import Thresholds
from inference.face.decision import Candidate


def fused_liveness(
    frames: Sequence[AcceptedFrame], thresholds: Thresholds
) -> tuple[float | None, float]:
    """Weighted mean P(real), and the weighted share of frames at or above threshold."""
    scored = [frame for frame in frames if frame.liveness is not None]
    if not scored:
        return None, 1.0
    total = sum(frame.weight for frame in scored)
    mean = sum(frame.weight * (frame.liveness or 0.0) for frame in scored) / total
    live = sum(f.weight for f in scored if (f.liveness or 0.0) >= thresholds.liveness)
    return min(1.0, max(0.0, mean)), live / total


def ranked(
    frames: Sequence[AcceptedFrame], claimed: str | None, top_k: int
) -> tuple[Candidate, ...]:
    """The top k identities by fused similarity, best first (ties by name)."""
    fused = _fused_similarities(frames, claimed)
    best_first = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Candidate(name, score) for name, score in best_first[:top_k])


def first_share(
    frames: Sequence[AcceptedFrame], identity: str, thresholds: Thresholds, claimed: str | None
) -> float:
    """Weighted share of matched frames that, alone, would verify ``identity``."""
    return _share(frames, lambda frame: _supports(frame, identity, thresholds, claimed))


def unmatched_share(
    frames: Sequence[AcceptedFrame], thresholds: Thresholds, claimed: str | None
) -> float:
    """Weighted share of matched frames that, alone, would verify nobody."""
    return _share(frames, lambda frame: not any(_supports(frame, name, thresholds, claimed)
                                                for name in frame.candidates))  # fmt: skip


def _fused_similarities(frames: Sequence[AcceptedFrame], claimed: str | None) -> dict[str, float]:
    """Each offered identity's weighted mean similarity over the frames that were
    matched. A frame whose top k leaves an identity out counts it at that frame's
    lowest listed similarity: an upper bound, which ``min_agreement`` keeps honest."""
    matched = [frame for frame in frames if frame.candidates]
    if claimed is not None:
        matched = [frame for frame in matched if claimed in frame.candidates]
    names = {name for frame in matched for name in frame.candidates}
    if claimed is not None:
        names &= {claimed}
    total = sum(frame.weight for frame in matched)
    fused = {}
    for name in names:
        weighted = sum(
            frame.weight * frame.candidates.get(name, min(frame.candidates.values()))
            for frame in matched
        )
        fused[name] = weighted / total
    return fused


def _supports(
    frame: AcceptedFrame, identity: str, thresholds: Thresholds, claimed: str | None
) -> bool:
    if frame.liveness is not None and frame.liveness < thresholds.liveness:
        return False  # a frame that looks like a photo supports nobody, however it matches
    similarity = frame.candidates.get(identity)
    if similarity is None or similarity < thresholds.similarity:
        return False
    return claimed == identity or (claimed is None and best_identity(frame) == identity)


def _share(frames: Sequence[AcceptedFrame], agrees: Callable[[AcceptedFrame], bool]) -> float:
    matched = [frame for frame in frames if frame.candidates]
    total = sum(frame.weight for frame in matched)
    return sum(frame.weight for frame in matched if agrees(frame)) / total if total else 1.0
