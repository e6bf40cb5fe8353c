"""How many frames a track should fuse before it is decided: the measurement behind
``DecisionSettings.min_frames``.

Runs the real detector, quality gate and passive liveness on every frame of the NUAA
webcam sequences (``spoof/nuaa/train/frames``: 9 subjects, live and printed-photo sessions,
every third frame of a webcam) and on ``video/nuaa_webcam``, keeps each frame's largest
face, and then replays the decider's fusion (quality-weighted mean liveness) over sliding
windows of N accepted frames of each session: the share of live windows a decision would
call a spoof (BPCER) and of print windows it would call live (APCER), for several N.

    .venv/bin/python -m tools.measure_face_decisions            # ~2 min on 2 cores
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from inference.face.decide import quality_weight
from inference.face.detect import FaceDetector, read_image
from inference.face.liveness import PassiveLiveness
from inference.face.quality import QualityGate
from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU

REPO = Path(__file__).resolve().parents[1]

DATA = REPO.parent / "shared" / "data"
WINDOWS = (1, 2, 3, 4, 5, 8)
BANDS = (0.7, 0.8, 0.9, 0.95)  # candidate challenge_below values


def sessions() -> dict[tuple[str, str], list[Path]]:
    """(kind, session) -> frames in capture order."""
    found: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for kind in ("live", "print"):
        for path in (DATA / "spoof" / "nuaa" / "train" / "frames" / kind).rglob("*.jpg"):
            found[(kind, path.stem.rsplit("_", 1)[0])].append(path)
        for path in (DATA / "video" / "nuaa_webcam" / kind).glob("*.jpg"):
            found[(kind, "webcam_" + path.stem.rsplit("_", 1)[0])].append(path)
    return {key: sorted(paths, key=_frame_number) for key, paths in sorted(found.items())}


def _frame_number(path: Path) -> int:
    return int(re.split(r"[_.]", path.name)[-2])


def score_frames(
    paths: list[Path],
    parts: tuple[FaceDetector, QualityGate, PassiveLiveness],
    settings: FaceSettings,
) -> list[tuple[float, float]]:
    """(weight, liveness) of each frame whose largest face the gate accepts."""
    detector, gate, liveness = parts
    scored = []
    for path in paths:
        image = read_image(path)
        faces = detector.detect(image)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.area)
        verdict = gate.assess(image, face)
        if verdict.ok and verdict.measures is not None:
            weight = quality_weight(verdict.measures, settings.weights, settings.quality)
            scored.append((weight, liveness.score(image, face).score))
    return scored


def fused_windows(frames: list[tuple[float, float]], n: int) -> list[float]:
    """The decider's fused liveness over every window of ``n`` consecutive accepted frames."""
    out = []
    for start in range(len(frames) - n + 1):
        window = np.asarray(frames[start : start + n])
        out.append(float(np.average(window[:, 1], weights=window[:, 0])))
    return out


def challenge_bands(
    scored: dict[tuple[str, str], list[tuple[float, float]]], n: int, threshold: float
) -> list[dict[str, object]]:
    """For each candidate ``challenge_below``: the share of live and of print decisions
    (windows of ``n``) that pass passive liveness but fall in the band, so are challenged."""
    fused = {
        kind: [
            v for (k, _), frames in scored.items() if k == kind for v in fused_windows(frames, n)
        ]
        for kind in ("live", "print")
    }
    rows = []
    for band in BANDS:
        row: dict[str, object] = {"challenge_below": band}
        for kind, values in fused.items():
            inside = sum(1 for v in values if threshold <= v < band)
            row[f"{kind}_challenged"] = round(inside / max(1, len(values)), 4)
        rows.append(row)
    return rows


def window_errors(
    scored: dict[tuple[str, str], list[tuple[float, float]]], n: int, threshold: float
) -> dict[str, object]:
    wrong = {"live": 0, "print": 0}
    total = {"live": 0, "print": 0}
    for (kind, _), frames in scored.items():
        for start in range(len(frames) - n + 1):
            window = np.asarray(frames[start : start + n])
            fused = float(np.average(window[:, 1], weights=window[:, 0]))
            total[kind] += 1
            wrong[kind] += (fused < threshold) if kind == "live" else (fused >= threshold)
    return {
        "frames": n,
        "bpcer": round(wrong["live"] / max(1, total["live"]), 4),
        "apcer": round(wrong["print"] / max(1, total["print"]), 4),
        "live_windows": total["live"],
        "print_windows": total["print"],
    }


def live_frame_rule(
    scored: dict[tuple[str, str], list[tuple[float, float]]],
    n: int,
    threshold: float,
    majority: float,
) -> dict[str, object]:
    """What the rule "a frame supports an identity only if it is live itself" costs a live
    user: of the live windows of ``n`` whose fused liveness passes, the share whose live
    frames hold no more than ``majority`` of the weight, so that ``verified`` fails even if
    every frame matches (the windows of a print that pass stay refused either way)."""
    passing = blocked = 0
    for (kind, _), frames in scored.items():
        if kind != "live":
            continue
        for start in range(len(frames) - n + 1):
            window = np.asarray(frames[start : start + n])
            if float(np.average(window[:, 1], weights=window[:, 0])) < threshold:
                continue
            passing += 1
            live_share = window[window[:, 1] >= threshold, 0].sum() / window[:, 0].sum()
            blocked += live_share <= majority
    return {"frames": n, "live_windows_passing": passing,
            "blocked_share": round(blocked / max(1, passing), 4)}  # fmt: skip


def main() -> None:
    settings = FaceSettings()
    pack = ModelPack(Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")))
    runtime = Runtime(pack, preference=(CPU,), threads=ThreadBudget(2))
    detector = FaceDetector.from_runtime(runtime, "yunet_n", settings.detector)
    liveness = PassiveLiveness.from_runtime(runtime, settings.liveness)
    parts = (detector, QualityGate(settings.quality), liveness)
    scored = {key: score_frames(paths, parts, settings) for key, paths in sessions().items()}
    accepted = {
        kind: sum(len(v) for (k, _), v in scored.items() if k == kind) for kind in ("live", "print")
    }
    threshold = settings.liveness.threshold
    report = {
        "sessions": len(scored),
        "accepted_frames": accepted,
        "threshold": threshold,
        "windows": [window_errors(scored, n, threshold) for n in WINDOWS],
        "challenge_bands_3_frames": challenge_bands(scored, 3, threshold),
        "live_frame_rule": [
            live_frame_rule(scored, n, threshold, settings.decision.min_agreement) for n in WINDOWS
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
