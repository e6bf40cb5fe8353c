"""``jaga eval pairs``: 1:1 verification measured on labelled image pairs.

    jaga eval pairs --pairs PAIRS.csv --images DIR --out R.json

``PAIRS.csv`` has the columns ``image_a,image_b,same`` (names relative to ``DIR``; ``same``
is 1 or 0; other columns are ignored, except ``fold``: when present, the k-fold
cross-validated accuracy is reported too, each fold judged at the threshold that is best on
the others). Every image is described once (detect, largest face, align, descriptor) and
each pair scored by the cosine similarity of its two descriptors. The pairs file and the
image folder are checked before the models load: a bad file is said at once.

``R.json`` holds ``accuracy_at_default`` (the shipped :class:`MatchSettings` threshold,
which this data never touches), ``best_accuracy`` (with the threshold that reaches it, an
optimistic figure), ``auc``, ``tar_at_far`` at 1e-2 and 1e-3, ``failed_images``,
``seconds_per_image`` (wall) and ``cpu_seconds_per_image``; ROC and DET curves are written
beside it as ``<name>_roc.png`` and ``<name>_det.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import InferenceError, InputError
from inference.face.cli_options import NoFacePolicy
from inference.face.eval_common import (
    FAILED_SCORE,
    BoolArray,
    DescribedImages,
    FacePipeline,
    FloatArray,
    Roc,
    accuracy_at,
    auc,
    best_threshold,
    cross_validate,
    describe_images,
    roc,
    roc_and_det_png,
    tar_at_far,
)
from inference.face.match import MatchSettings
from inference.regular_file import open_text_file

FAR_TARGETS = ("0.01", "0.001")


@dataclass(frozen=True)
class Pair:
    image_a: str
    image_b: str
    same: bool
    fold: int | None


def read_pairs(path: Path) -> list[Pair]:
    """The pairs of a CSV with ``image_a,image_b,same`` (and optionally ``fold``) columns."""
    try:
        with open_text_file(path, "a pairs file", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path} is not a UTF-8 CSV: {exc}") from exc
    if not rows or not {"image_a", "image_b", "same"} <= set(rows[0]):
        raise InputError(f"{path} needs a header with image_a,image_b,same and some rows")
    try:
        return [
            Pair(
                _field(row, "image_a"),
                _field(row, "image_b"),
                _flag(_field(row, "same")),
                int(row["fold"]) if row.get("fold") else None,
            )
            for row in rows
        ]
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc


def _field(row: dict[str, str | None], name: str) -> str:
    """A cell a short row lacks is None to ``csv``: an error naming it, not a crash."""
    value = row.get(name)
    if not value:
        raise ValueError(f"a row has no {name}: {row}")
    return value


def _flag(value: str) -> bool:
    if value.strip().lower() in {"1", "true", "yes"}:
        return True
    if value.strip().lower() in {"0", "false", "no"}:
        return False
    raise ValueError(f"'same' must be 1 or 0, got {value!r}")


def pair_scores(described: DescribedImages, pairs: list[Pair]) -> tuple[FloatArray, int]:
    """Each pair's cosine similarity, and how many pairs had a failed image (those score
    :data:`FAILED_SCORE`: never accepted)."""
    scores = np.full(len(pairs), FAILED_SCORE, np.float64)
    failed = 0
    for index, pair in enumerate(pairs):
        a, b = described.vector(pair.image_a), described.vector(pair.image_b)
        if a is None or b is None:
            failed += 1
        else:
            scores[index] = float(a @ b)
    return scores, failed


def verification_report(
    scores: FloatArray,
    same: BoolArray,
    folds: np.ndarray[Any, np.dtype[np.int64]] | None,
    default_threshold: float,
) -> tuple[dict[str, Any], Roc]:
    """The verification measures of scored pairs ("accept when score >= threshold")."""
    curve = roc(scores, same)
    best_at, best = best_threshold(scores, same)
    report: dict[str, Any] = {
        "pairs": len(scores),
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "default_threshold": default_threshold,
        "accuracy_at_default": accuracy_at(scores, same, default_threshold),
        "best_accuracy": best,
        "best_threshold": best_at,
        "auc": auc(curve),
        "tar_at_far": {},
        "threshold_at_far": {},
    }
    for target in FAR_TARGETS:
        tar, threshold = tar_at_far(curve, float(target))
        report["tar_at_far"][target] = tar
        report["threshold_at_far"][target] = threshold
    if folds is not None:
        report["cross_validation"] = cross_validate(scores, same, folds)
    return report, curve


def evaluate_pairs(
    pairs_csv: Path,
    images: Path,
    out: Path,
    pipeline: FacePipeline,
    *,
    policy: NoFacePolicy = NoFacePolicy.FAIL,
    settings: MatchSettings | None = None,
) -> dict[str, Any]:
    """Describe the images, score the pairs, write ``out`` and its two curves."""
    return report_pairs(checked_pairs(pairs_csv, images), images, out, pipeline,
                        policy=policy, settings=settings)  # fmt: skip


def checked_pairs(pairs_csv: Path, images: Path) -> list[Pair]:
    """The pairs of ``pairs_csv``, or an :class:`InputError` when they and ``images`` cannot
    make a measurement: checked before any model loads, so that a bad file costs no load."""
    if not images.is_dir():  # else every image fails and the report reads as a measurement
        raise InputError(f"{images} is not a folder of images")
    pairs = read_pairs(pairs_csv)
    if len({pair.same for pair in pairs}) < 2:
        raise InputError(f"{pairs_csv} needs both same-person and different-person pairs")
    names = {pair.image_a for pair in pairs} | {pair.image_b for pair in pairs}
    if not any((images / name).exists() for name in names):  # a wrong folder: each would fail
        raise InputError(f"{images} holds none of the {len(names)} images {pairs_csv} names "
                         f"(all {len(names)} missing, such as {min(names)})")  # fmt: skip
    return pairs


def report_pairs(
    pairs: list[Pair],
    images: Path,
    out: Path,
    pipeline: FacePipeline,
    *,
    policy: NoFacePolicy = NoFacePolicy.FAIL,
    settings: MatchSettings | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_pairs` on pairs already checked (:func:`checked_pairs`)."""
    settings = settings or MatchSettings()
    names = sorted({pair.image_a for pair in pairs} | {pair.image_b for pair in pairs})
    described = describe_images(pipeline, {name: images / name for name in names}, policy)
    scores, failed_pairs = pair_scores(described, pairs)
    same = np.array([pair.same for pair in pairs])
    has_folds = all(pair.fold is not None for pair in pairs)
    folds = np.array([pair.fold for pair in pairs], np.int64) if has_folds else None
    report, curve = verification_report(scores, same, folds, settings.verify_threshold)
    roc_path, det_path = out.with_name(out.stem + "_roc.png"), out.with_name(out.stem + "_det.png")
    report |= {
        "images": described.images,
        "failed_images": len(described.failed),
        "failed_image_names": list(described.failed),
        "no_face_images": len(described.no_face),
        "unreadable_images": len(described.unreadable),
        "no_face_policy": policy.value,
        "pairs_with_failed_image": failed_pairs,
        "seconds_per_image": described.wall_seconds / max(1, described.images),
        "cpu_seconds_per_image": described.cpu_seconds / max(1, described.images),
        "descriptor_model": pipeline.embedder.model.key,
        "chip_template": pipeline.aligner.template.name,
        "providers": {
            "detector": pipeline.detector.provider,
            "descriptor": pipeline.embedder.provider,
        },
        "plots": {"roc": roc_path.name, "det": det_path.name},
    }
    roc_and_det_png([("jaga", curve)], roc_path, det_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def run_pairs(args: argparse.Namespace) -> int:
    try:
        pairs = checked_pairs(args.pairs, args.images)  # before the models load
        pipeline = FacePipeline.from_pack(args.models_dir, args.threads)
        report = report_pairs(
            pairs, args.images, args.out, pipeline, policy=NoFacePolicy(args.no_face)
        )
    except (InferenceError, OSError) as exc:  # OSError: an --out that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"accuracy at default {report['accuracy_at_default']:.4f}, best "
        f"{report['best_accuracy']:.4f}, AUC {report['auc']:.4f}, failed images "
        f"{report['failed_images']}, {1000 * report['seconds_per_image']:.1f} ms/image; "
        f"wrote {args.out}"
    )
    return 0
