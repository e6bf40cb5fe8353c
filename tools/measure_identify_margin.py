"""Whether 1:N should also ask for a margin between its first two candidates: the
measurement behind leaving ``MatchSettings`` without one.

A margin rule answers "unknown" when the best identity passes ``identify_threshold`` but the
second is close behind, to keep one enrolled person from being taken for another. On LFW's
people with 4+ images (3 enrolled each, the rest probes, as ``tools.identify_benchmarks``
splits them), with the enrolled identities dealt into 2 and into 4 groups and each group
withheld in turn (its probes are then unknowns), this counts, at the shipped threshold and
for several margins: known probes accepted as the right person (DIR), known probes accepted
as someone else (the error a margin is for), and unknown probes accepted (false alarms).

    .venv/bin/python -m tools.measure_identify_margin            # ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.face.eval_common import DescribedImages, FacePipeline, NoFacePolicy, describe_images
from inference.face.eval_identify import people, person
from inference.face.match import GalleryIndex, MatchSettings
from tools.identify_benchmarks import split_lfw

REPO = Path(__file__).resolve().parents[1]
MARGINS = (0.0, 0.005, 0.01, 0.02, 0.03)
FOLDS = (2, 4)


@dataclass(frozen=True)
class Trial:
    known: bool
    right: bool  # the best candidate is the probe's person
    first: float
    second: float


def trials(
    described: DescribedImages, gallery: list[str], probes: list[str], folds: int
) -> list[Trial]:
    """The two best candidates of every described probe, each identity group withheld in turn."""
    settings = MatchSettings()
    identities = sorted({person(name) for name in gallery})
    kept_probes = [name for name in probes if name in described.rows]
    vectors = described.embeddings.take([described.rows[name] for name in kept_probes])
    found = []
    for group in range(folds):
        withheld = set(identities[group::folds])
        enrolled = [n for n in gallery if person(n) not in withheld and n in described.rows]
        index = GalleryIndex(
            described.embeddings.take([described.rows[n] for n in enrolled]),
            [person(n) for n in enrolled],
            settings,
        )
        for name, answer in zip(kept_probes, index.identify_many(vectors, 2), strict=True):
            first, second = answer.candidates[0], answer.candidates[1]
            found.append(Trial(person(name) in index, first.identity == person(name),
                               first.similarity, second.similarity))  # fmt: skip
    return found


def at_margin(found: list[Trial], threshold: float, margin: float) -> dict[str, float | int]:
    """The margin's figures, and the DIR a plain threshold has at the same false alarms:
    a margin is worth having only where it beats simply raising the threshold."""
    accepted = [t for t in found if t.first >= threshold and t.first - t.second >= margin]
    known = sum(t.known for t in found)
    alarms = sum(not t.known for t in accepted)
    return {
        "margin": margin,
        "dir": sum(t.known and t.right for t in accepted) / known,
        "known_accepted_as_someone_else": sum(t.known and not t.right for t in accepted),
        "false_alarm_rate": alarms / (len(found) - known),
        "dir_of_a_threshold_with_as_many_false_alarms": _dir_at_alarms(found, threshold, alarms),
    }


def _dir_at_alarms(found: list[Trial], threshold: float, alarms: int) -> float:
    """DIR at the lowest threshold (not below the shipped one) accepting at most ``alarms``."""
    unknown = sorted((t.first for t in found if not t.known), reverse=True)
    bar = threshold if alarms >= len(unknown) else max(threshold, unknown[alarms] + 1e-9)
    known = [t for t in found if t.known]
    return sum(t.right and t.first >= bar for t in known) / len(known)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/data/faces/lfw/images")
    parser.add_argument("--models-dir", type=Path, default=REPO / ".cache" / "models")
    args = parser.parse_args()
    pipeline = FacePipeline.from_pack(args.models_dir, threads=2)
    with tempfile.TemporaryDirectory() as temp:
        split_lfw(args.lfw, Path(temp))
        gallery = people(Path(temp) / "gallery", "gallery")
        probes = people(Path(temp) / "probes", "probes")
        described = describe_images(pipeline, gallery | probes, NoFacePolicy.FAIL)
    threshold = MatchSettings().identify_threshold
    report: dict[str, Any] = {
        "threshold": threshold,
        "images": described.images,
        "failed": len(described.failed),
    }
    for folds in FOLDS:
        found = trials(described, list(gallery), list(probes), folds)
        report[f"{folds} groups"] = {
            "known_trials": sum(t.known for t in found),
            "unknown_trials": sum(not t.known for t in found),
            "by_margin": [at_margin(found, threshold, m) for m in MARGINS],
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
