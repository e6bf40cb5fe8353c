"""What a decided track's later windows look like: the measurement behind the liveness
rules of :mod:`inference.face.continuity`.

Scores NUAA's 63 webcam sessions as ``tools.measure_face_decisions`` does (each frame's
largest face, the gate's accepted frames, passive liveness), decides each session on its
first ``min_frames`` accepted frames, as the decider fuses them, and then replays every
later frame through :class:`DecidedFace` (liveness only: NUAA holds one person a session).
A track that ends is decided afresh on the next ``min_frames`` frames from the one that
ended it, as the pipeline restarts it. Reports, per kind (live, print) and first decision:
the later windows' fused liveness (lowest, highest, how many lie in the unsure band
between ``NOT_LIVE_SHARE`` of the threshold and the threshold), after a live decision the
longest run of consecutive windows under the threshold, and the sessions recorded with more
than one decision.

    .venv/bin/python -m tools.measure_face_continuity        # ~2 min on 2 cores
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from inference.face.continuity import NOT_LIVE_SHARE, Continuity, DecidedFace
from inference.face.decision import Decision, Status
from inference.face.detect import FaceDetector
from inference.face.liveness import PassiveLiveness
from inference.face.quality import QualityGate
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tools.measure_face_decisions import REPO, fused_windows, score_frames, sessions

Frames = list[tuple[float, float]]


def first_decision(frames: Frames, threshold: float) -> Decision:
    liveness = fused_windows(frames, len(frames))[0]
    status = Status.NOT_MATCHED if liveness >= threshold else Status.SPOOF_DETECTED
    return Decision(status, 1.0, track_id=1, liveness=min(1.0, max(0.0, liveness)))


def recorded(frames: Frames, threshold: float, n: int) -> list[str]:
    """The decisions a session is recorded with: each track decided on its first ``n``
    frames, then checked frame by frame until a check ends it."""
    start, out = 0, []
    while start + n <= len(frames):
        decision = first_decision(frames[start : start + n], threshold)
        out.append("live" if decision.status is Status.NOT_MATCHED else "spoof")
        face = DecidedFace(threshold, 0.0, n)
        later = range(start + n, len(frames))
        checks = ((i, face.check(None, frames[i][1], frames[i][0], decision)) for i in later)
        ended = next((i for i, verdict in checks if verdict is Continuity.BROKEN), None)
        if ended is None:
            break
        start = ended
    return out


def longest_run_under(values: list[float], bar: float) -> int:
    run = best = 0
    for value in values:
        run = run + 1 if value < bar else 0
        best = max(best, run)
    return best


def summary(scored: dict[tuple[str, str], Frames], threshold: float, n: int) -> list[object]:
    rows: list[object] = []
    unsure_from = threshold * NOT_LIVE_SHARE
    for kind in ("live", "print"):
        for live_first in (True, False):
            chosen = {session: frames for (k, session), frames in scored.items() if k == kind
                      and len(frames) >= n
                      and (fused_windows(frames[:n], n)[0] >= threshold) is live_first}  # fmt: skip
            later = {s: fused_windows(frames[n:], n) for s, frames in chosen.items()}
            values = [v for windows in later.values() for v in windows]
            rows.append({
                "kind": kind, "decided": "live" if live_first else "spoof",
                "sessions": len(chosen), "later_windows": len(values),
                "lowest": round(min(values), 3) if values else None,
                "highest": round(max(values), 3) if values else None,
                "unsure_band": sum(unsure_from <= v < threshold for v in values),
                "longest_run_under_threshold": {
                    s: longest_run_under(w, threshold) for s, w in later.items()
                    if live_first and w and min(w) < threshold},
                "recorded": {s: recorded(chosen[s], threshold, n) for s in chosen
                             if len(recorded(chosen[s], threshold, n)) > 1},
            })  # fmt: skip
    return rows


def main() -> None:
    settings = FaceSettings()
    pack = ModelPack(Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")))
    runtime = Runtime(pack, preference=(CPU,), threads=ThreadBudget(2))
    detector = FaceDetector.from_runtime(runtime, "yunet_n", settings.detector)
    liveness = PassiveLiveness.from_runtime(runtime, settings.liveness)
    parts = (detector, QualityGate(settings.quality), liveness)
    scored = {key: score_frames(paths, parts, settings) for key, paths in sessions().items()}
    threshold, n = settings.liveness.threshold, settings.decision.min_frames
    report = {"sessions": len(scored), "threshold": threshold, "window": n,
              "after_first_decision": summary(scored, threshold, n)}  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
