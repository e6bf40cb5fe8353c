"""How often two different people pass the 1:1 threshold on faces like a kiosk's users':
NUAA's live webcam frames (9 people, several sessions each) and the shared phone photo of a
tenth, with the default descriptor.

``MatchSettings.verify_threshold`` (0.911) was set on LFW, whose people are mostly of
European descent; the descriptor (dlib's ResNet) is known to spread East Asian faces less.
This counts, for every pair of frames of different people (impostors) and of the same
person in different sessions (genuine), the share at or above the 1:1 and 1:N thresholds,
and the highest impostor similarity of each pair of people: the figure behind telling a
site to calibrate on its own users (``jaga eval pairs``).

    .venv/bin/python -m tools.measure_face_impostors [--every 6] [--out R.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.face.eval_common import FacePipeline, NoFacePolicy, describe_images
from inference.face.match import MatchSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NUAA_LIVE = SHARED / "data" / "spoof" / "nuaa" / "train" / "frames" / "live"
PHONE_PHOTO = SHARED / "data" / "spoof" / "samples" / "image_T1.jpg"


def frames(every: int) -> dict[str, Path]:
    """``<person>/<session>/<frame>`` -> path: every ``every``-th frame of each person."""
    chosen = {}
    for person in sorted(p for p in NUAA_LIVE.iterdir() if p.is_dir()):
        for path in sorted(person.glob("*.jpg"))[::every]:
            session = "_".join(path.stem.split("_")[1:4])
            chosen[f"{person.name}/{session}/{path.stem}"] = path
    chosen["phone_T1/0/0"] = PHONE_PHOTO
    return chosen


def measure(every: int, threads: int | None) -> dict[str, Any]:
    pipeline = FacePipeline.from_pack(None, threads)
    described = describe_images(pipeline, frames(every), NoFacePolicy.FAIL)
    names = sorted(described.rows)
    vectors = described.embeddings.vectors[[described.rows[n] for n in names]]
    similarity = vectors @ vectors.T
    impostor: list[float] = []
    genuine: list[float] = []
    worst: dict[str, float] = {}
    for i, j in itertools.combinations(range(len(names)), 2):
        (a, a_session, _), (b, b_session, _) = names[i].split("/"), names[j].split("/")
        value = float(similarity[i, j])
        if a != b:
            impostor.append(value)
            worst[f"{a}~{b}"] = max(worst.get(f"{a}~{b}", -1.0), value)
        elif a_session != b_session:
            genuine.append(value)
    settings = MatchSettings()
    return {
        "frames": len(names), "failed": list(described.failed), "every": every,
        "people": len({n.split("/")[0] for n in names}),
        "impostor": _shares(impostor, settings), "genuine": _shares(genuine, settings),
        "thresholds_for_far": _thresholds_for_far(impostor, genuine),
        "worst_pairs": dict(sorted(worst.items(), key=lambda kv: -kv[1])[:8]),
    }  # fmt: skip


def _thresholds_for_far(impostor: list[float], genuine: list[float]) -> dict[str, Any]:
    """What a threshold calibrated on this data would be: the lowest that lets at most the
    given share of impostor pairs through, and the share of genuine pairs it keeps."""
    ranked, kept = np.sort(np.asarray(impostor)), np.asarray(genuine)
    out = {}
    for far in (0.01, 0.001):
        allowed = int(np.floor(far * len(ranked)))  # impostor pairs it may let through
        # just above the highest impostor it must refuse
        threshold = float(np.nextafter(ranked[len(ranked) - allowed - 1], 2.0))
        accepted = float((kept >= threshold).mean())
        out[str(far)] = {"threshold": round(threshold, 4), "genuine_accepted": round(accepted, 4)}
    return out


def _shares(values: list[float], settings: MatchSettings) -> dict[str, Any]:
    array = np.asarray(values)
    out: dict[str, Any] = {"pairs": len(values), "min": round(float(array.min()), 4),
                           "median": round(float(np.median(array)), 4),
                           "max": round(float(array.max()), 4)}  # fmt: skip
    for name in ("verify_threshold", "identify_threshold"):
        threshold = getattr(settings, name)
        at_or_above = int((array >= threshold).sum())
        out[f"at_or_above_{threshold}"] = [at_or_above, round(at_or_above / len(values), 4)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=6, help="every Nth frame of each person")
    parser.add_argument("--threads", type=int, help="CPU threads per model")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args()
    result = measure(args.every, args.threads)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
