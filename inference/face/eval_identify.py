"""``jaga eval identify``: 1:N identification measured on a gallery and probes.

    jaga eval identify --gallery DIR --probes DIR --out R.json

Both folders hold one sub-folder per person (the folder name is the identity); every image
in a gallery folder is enrolled as a template of that person. Closed set: ``rank1`` (and
``rank5``) over the probes whose person is enrolled; a probe with no descriptor counts as a
miss. Open set: probes of people who are not enrolled must come back "unknown". Probes of
people absent from the gallery are unknowns as they are; besides, the enrolled identities
are dealt into ``--unknown-folds`` groups and each group is withheld from the gallery in
turn, its probes becoming unknowns, so every identity is judged both ways. ``open_set``
reports the detection-and-identification rate (right person, above the threshold) at
false-alarm rates (an unknown accepted as someone) and at the shipped threshold; the DIR
curve is written beside ``R.json`` as ``<name>_dir.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.errors import InferenceError, InputError
from inference.face.cli_options import NoFacePolicy
from inference.face.eval_common import (
    FAILED_SCORE,
    Axis,
    DescribedImages,
    FacePipeline,
    curves_png,
    describe_images,
    image_files,
)
from inference.face.match import GalleryIndex, MatchSettings
from inference.face.types import Aggregate

FALSE_ALARM_TARGETS = ("0.01", "0.1")
RANKS = (1, 5)


@dataclass(frozen=True)
class Trials:
    """Open-set trials: the top-1 score of each probe, and whether top-1 was right."""

    known_scores: npt.NDArray[np.float64]  # probes whose person was enrolled
    known_correct: npt.NDArray[np.bool_]
    unknown_scores: npt.NDArray[np.float64]  # probes whose person was not


def people(folder: Path, role: str) -> dict[str, Path]:
    """``role/person/file`` -> path, for every image in a person's sub-folder."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    found = {
        f"{role}/{p.parent.name}/{p.name}": p
        for p in image_files(folder)
        if p.parent.parent == folder
    }
    if not found:
        raise InputError(f"{folder} has no person sub-folders with images")
    return found


def person(name: str) -> str:
    """The person of a ``role/person/file`` name."""
    return name.split("/")[1]


def _index(described: DescribedImages, names: list[str], settings: MatchSettings) -> GalleryIndex:
    kept = [name for name in names if name in described.rows]
    rows = [described.rows[name] for name in kept]
    return GalleryIndex(described.embeddings.take(rows), [person(n) for n in kept], settings)


def closed_set(gallery: GalleryIndex, probes: DescribedImages, names: list[str]) -> dict[str, Any]:
    """Rank-k rates over the probes whose person is enrolled (failed probes are misses)."""
    enrolled = [name for name in names if person(name) in gallery]
    described = [name for name in enrolled if name in probes.rows]
    hits = dict.fromkeys(RANKS, 0)
    if described:
        answers = gallery.identify_many(
            probes.embeddings.take([probes.rows[n] for n in described]), max(RANKS)
        )
        for name, answer in zip(described, answers, strict=True):
            identities = [candidate.identity for candidate in answer.candidates]
            for rank in RANKS:
                hits[rank] += person(name) in identities[:rank]
    total = max(1, len(enrolled))
    return {f"rank{rank}": hits[rank] / total for rank in RANKS} | {
        "closed_set_probes": len(enrolled),
        "closed_set_probes_failed": len(enrolled) - len(described),
    }


def open_set_trials(
    described: DescribedImages,
    gallery_names: list[str],
    probe_names: list[str],
    settings: MatchSettings,
    unknown_folds: int,
) -> Trials:
    """Top-1 answers with each group of enrolled identities withheld in turn. A probe with
    no descriptor is a trial too: never accepted (a miss if known, no false alarm if not)."""
    identities = sorted({person(name) for name in gallery_names})
    groups = [set(identities[g::unknown_folds]) for g in range(unknown_folds)]
    known_scores, known_correct, unknown_scores = [], [], []
    described_probes = [name for name in probe_names if name in described.rows]
    probe_vectors = described.embeddings.take([described.rows[n] for n in described_probes])
    for withheld in groups:
        kept = [name for name in gallery_names if person(name) not in withheld]
        gallery = _index(described, kept, settings)
        answers = dict(zip(described_probes, gallery.identify_many(probe_vectors, 1), strict=True))
        for name in probe_names:
            answer = answers.get(name)
            best = answer.candidates[0] if answer and answer.candidates else None
            score = best.similarity if best else FAILED_SCORE
            if person(name) in gallery:
                known_scores.append(score)
                known_correct.append(best is not None and best.identity == person(name))
            else:
                unknown_scores.append(score)
    return Trials(np.array(known_scores), np.array(known_correct, bool), np.array(unknown_scores))


def open_set_report(trials: Trials, threshold: float) -> dict[str, Any]:
    """DIR at false-alarm targets (at the loosest threshold whose false-alarm rate does not
    exceed the target) and at the shipped threshold."""
    if not len(trials.known_scores) or not len(trials.unknown_scores):
        raise InputError("open-set figures need probes of enrolled and of unknown people")
    report: dict[str, Any] = {
        "known_trials": len(trials.known_scores),
        "unknown_trials": len(trials.unknown_scores),
        "dir_at_far": {},
        "threshold_at_far": {},
    }
    for target in FALSE_ALARM_TARGETS:
        at = _threshold_for_false_alarms(trials.unknown_scores, float(target))
        report["dir_at_far"][target] = _dir(trials, at)
        report["threshold_at_far"][target] = at
    report["at_default"] = {
        "threshold": threshold,
        "dir": _dir(trials, threshold),
        "false_alarm_rate": float(np.mean(trials.unknown_scores >= threshold)),
    }
    return report


def _dir(trials: Trials, threshold: float) -> float:
    accepted = trials.known_correct & (trials.known_scores >= threshold)
    return float(np.mean(accepted))


def _threshold_for_false_alarms(unknown: npt.NDArray[np.float64], rate: float) -> float:
    """The lowest threshold at which at most ``rate`` of the unknowns are accepted."""
    allowed = int(np.floor(rate * len(unknown)))
    ordered = np.sort(unknown)[::-1]
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


def _dir_curve_png(trials: Trials, path: Path) -> None:
    thresholds = np.unique(np.r_[trials.unknown_scores, trials.known_scores])[::-1]
    false_alarms = np.array([np.mean(trials.unknown_scores >= t) for t in thresholds])
    dirs = np.array([_dir(trials, t) for t in thresholds])
    curves_png(
        path,
        "open-set identification",
        Axis("false alarm rate", 1e-3, 1.0, log=True),
        Axis("detection and identification rate", 0.0, 1.0, log=False),
        [("jaga", false_alarms, dirs)],
        legend_at=(0.6, 0.3),
    )


def evaluate_identify(
    gallery_dir: Path,
    probes_dir: Path,
    out: Path,
    pipeline: FacePipeline,
    *,
    policy: NoFacePolicy = NoFacePolicy.FAIL,
    settings: MatchSettings | None = None,
    unknown_folds: int = 2,
) -> dict[str, Any]:
    """Describe both folders, measure closed- and open-set identification, write ``out``."""
    settings = settings or MatchSettings()
    gallery_paths, probe_paths = people(gallery_dir, "gallery"), people(probes_dir, "probes")
    described = describe_images(pipeline, gallery_paths | probe_paths, policy)
    gallery_names, probe_names = list(gallery_paths), list(probe_paths)
    gallery = _index(described, gallery_names, settings)
    report = closed_set(gallery, described, probe_names)
    trials = open_set_trials(described, gallery_names, probe_names, settings, unknown_folds)
    dir_path = out.with_name(out.stem + "_dir.png")
    report |= {
        "open_set": open_set_report(trials, settings.identify_threshold)
        | {"unknown_folds": unknown_folds},
        "gallery_identities": len(gallery.identities),
        "gallery_templates": len(gallery),
        "aggregate": settings.aggregate.value,
        "images": described.images,
        "failed_images": len(described.failed),
        "failed_image_names": list(described.failed),
        "no_face_images": len(described.no_face),
        "no_face_policy": policy.value,
        "seconds_per_image": described.wall_seconds / max(1, described.images),
        "cpu_seconds_per_image": described.cpu_seconds / max(1, described.images),
        "descriptor_model": pipeline.embedder.model.key,
        "plots": {"dir": dir_path.name},
    }
    _dir_curve_png(trials, dir_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def run_identify(args: argparse.Namespace) -> int:
    if args.unknown_folds < 2:
        print("error: --unknown-folds must be at least 2", file=sys.stderr)
        return 2
    try:
        people(args.gallery, "gallery")  # before the models load: a typo fails fast
        people(args.probes, "probes")
        pipeline = FacePipeline.from_pack(args.models_dir, args.threads)
        settings = MatchSettings(aggregate=Aggregate(args.aggregate))
        report = evaluate_identify(
            args.gallery,
            args.probes,
            args.out,
            pipeline,
            policy=NoFacePolicy(args.no_face),
            settings=settings,
            unknown_folds=args.unknown_folds,
        )
    except (InferenceError, OSError) as exc:  # OSError: an --out that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 1
    at_default = report["open_set"]["at_default"]
    print(
        f"rank1 {report['rank1']:.4f}, open set at the default threshold: DIR "
        f"{at_default['dir']:.4f}, false alarms {at_default['false_alarm_rate']:.4f}; "
        f"wrote {args.out}"
    )
    return 0
