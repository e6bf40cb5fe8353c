"""Jaga's face verification next to the ``face_recognition`` library on LFW pairs.

Same pairs (all folds of ``pairs.csv``), same measures for every system: accuracy at the
system's default threshold (ours: :class:`MatchSettings`; face_recognition: tolerance 0.6),
accuracy cross-validated over the folds, ROC AUC, TAR at FAR 1e-2 and 1e-3, the share of
images without a face, and the CPU time per image on one thread (``time.process_time``)::

    .venv/bin/python -m tools.compare_face_recognition \\
        --lfw ../shared/data/faces/lfw --models-dir .cache/models --out .cache/face_eval/compare

Systems: ``jaga`` as shipped (YuNet, landmarks refined by a second look, our template chip,
dlib ResNet through ONNX Runtime with the chip's and its mirror image's descriptors averaged;
no face = failed pair), the same with face_recognition's whole-image fallback, the same
without the second look and/or the mirrored descriptor (what each costs and brings),
``dlib chips`` (dlib's own HOG + 5-point chips, ``dlib.get_face_chip``, through the same
ONNX network: the alignment comparison) and ``face_recognition`` itself. Expensive runs are
cached as ``.npz`` beside the report; delete them to measure again.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread everywhere: the comparison is per core

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from inference.face.align import RefineSettings  # noqa: E402
from inference.face.detect import read_image  # noqa: E402
from inference.face.embed import EmbedderSettings, FaceEmbedder  # noqa: E402
from inference.face.eval_common import (  # noqa: E402
    DescribedImages,
    FacePipeline,
    NoFacePolicy,
    Roc,
    describe_images,
    roc_and_det_png,
)
from inference.face.eval_pairs import Pair, read_pairs, verification_report  # noqa: E402
from inference.face.match import MatchSettings  # noqa: E402
from tools.dlib_reference import dlib_chip, face_from_points  # noqa: E402
from tools.face_recognition_run import (  # noqa: E402
    FaceRecognitionRun,
    run_face_recognition,
)
from tools.face_recognition_run import describe as fr_describe  # noqa: E402
from tools.face_recognition_run import load as fr_load  # noqa: E402

Vectors = npt.NDArray[np.float64]
FR_TOLERANCE = 0.6  # face_recognition's default: same person at distance <= 0.6


@dataclass(frozen=True)
class Variant:
    """One configuration of our pipeline."""

    label: str
    refine: bool  # the aligner's second look at the landmarks
    mirror: bool  # descriptors averaged with the mirror image's
    policy: NoFacePolicy

    @property
    def cache_name(self) -> str:
        looks = "refined" if self.refine else "raw"
        return f"{looks}_{'mirror' if self.mirror else 'chip'}_{self.policy.value}"


PLOTTED = ("jaga", "dlib chips, mirrored descriptors", "face_recognition")
VARIANTS = (
    Variant("jaga", refine=True, mirror=True, policy=NoFacePolicy.FAIL),
    Variant("jaga, whole image when no face", True, True, NoFacePolicy.WHOLE_IMAGE),
    Variant("jaga, no second look", refine=False, mirror=True, policy=NoFacePolicy.FAIL),
    Variant("jaga, single descriptor", refine=True, mirror=False, policy=NoFacePolicy.FAIL),
    Variant("jaga, neither", refine=False, mirror=False, policy=NoFacePolicy.FAIL),
)


def cached_ours(
    cache: Path, pipeline: FacePipeline, images: Path, names: list[str], policy: NoFacePolicy
) -> tuple[dict[str, Vectors], dict[str, Any]]:
    """Our descriptors of every image (and the run's counts and times), cached."""
    if not cache.exists():
        described = describe_images(
            pipeline, {n: images / n for n in names}, policy, progress=print
        )
        _save_described(cache, described)
    data = np.load(cache)
    vectors = dict(zip((str(n) for n in data["names"]), data["vectors"], strict=True))
    facts = {key: float(data[key]) for key in ("cpu_seconds", "wall_seconds", "images")}
    facts["no_face_images"] = len(data["no_face"])
    facts["failed_images"] = len(data["failed"])
    return vectors, facts


def _save_described(cache: Path, described: DescribedImages) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(described.rows, key=described.rows.__getitem__)
    np.savez(
        cache,
        names=np.array(names),
        vectors=described.embeddings.vectors,
        no_face=np.array(described.no_face),
        failed=np.array(described.failed),
        cpu_seconds=described.cpu_seconds,
        wall_seconds=described.wall_seconds,
        images=described.images,
    )


def cached_face_recognition(cache: Path, images: Path, names: list[str]) -> FaceRecognitionRun:
    if not cache.exists():
        run_face_recognition(images, names).save(cache)
    return FaceRecognitionRun.load(cache)


def dlib_chip_vectors(
    cache: Path, embedder: FaceEmbedder, images: Path, run: FaceRecognitionRun
) -> dict[str, Vectors]:
    """Our network on dlib's own chips (the HOG box and 5 points face_recognition used)."""
    if not cache.exists():
        chips = []
        for name, box, points in zip(run.names, run.boxes, run.points, strict=True):
            rgb = np.asarray(cv2.cvtColor(read_image(images / name), cv2.COLOR_BGR2RGB), np.uint8)
            chip = dlib_chip(rgb, face_from_points(tuple(box), points))
            chips.append(np.ascontiguousarray(chip[:, :, ::-1]))  # the embedder takes BGR
        vectors = embedder.embed(chips).vectors
        np.savez(cache, names=np.array(run.names), vectors=vectors)
    data = np.load(cache)
    return dict(zip((str(n) for n in data["names"]), data["vectors"], strict=True))


def interleaved_cpu_ms(pipeline: FacePipeline, images: Path, names: list[str]) -> dict[str, Any]:
    """CPU ms per image of both pipelines on the same images, taken turn about image by image
    so that both meet the same machine (other processes, caches, clock)."""
    ours = theirs = 0.0
    for name in names:
        image, rgb = read_image(images / name), fr_load(images / name)
        started = time.process_time()
        pipeline.describe(image, NoFacePolicy.FAIL)
        ours += time.process_time() - started
        _, _, _, _, detect_s, encode_s = fr_describe(rgb)
        theirs += detect_s + encode_s
    return {
        "images": len(names),
        "jaga_cpu_ms": round(1000 * ours / len(names), 2),
        "face_recognition_cpu_ms": round(1000 * theirs / len(names), 2),
        "ratio": round(theirs / ours, 2),
    }


def cosine_scores(vectors: dict[str, Vectors], pairs: list[Pair]) -> Vectors:
    failed = -2.0  # as eval_pairs: a pair with a failed image is never accepted
    return np.array(
        [
            float(vectors[p.image_a] @ vectors[p.image_b])
            if p.image_a in vectors and p.image_b in vectors
            else failed
            for p in pairs
        ]
    )


def face_recognition_scores(run: FaceRecognitionRun, pairs: list[Pair]) -> Vectors:
    """Minus face_recognition's distance, so that "accept when score >= threshold" holds."""
    row = {name: i for i, name in enumerate(run.names)}
    encodings = run.encodings
    return np.array(
        [
            -float(np.linalg.norm(encodings[row[p.image_a]] - encodings[row[p.image_b]]))
            for p in pairs
        ]
    )


def summary(report: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    cv = report["cross_validation"]
    return {
        "accuracy_at_default": round(report["accuracy_at_default"], 4),
        "default_threshold": report["default_threshold"],
        "cv_accuracy": round(cv["accuracy_mean"], 4),
        "cv_accuracy_std": round(cv["accuracy_std"], 4),
        "cv_thresholds": cv["fold_thresholds"],
        "auc": round(report["auc"], 5),
        "tar_at_far": {k: round(v, 4) for k, v in report["tar_at_far"].items()},
        "threshold_at_far": {k: round(v, 4) for k, v in report["threshold_at_far"].items()},
    } | extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, required=True, help="folder with pairs.csv, images/")
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the report + caches")
    parser.add_argument(
        "--timing-every",
        type=int,
        default=0,
        help="also time both pipelines turn about on every n-th image (0: skip)",
    )
    args = parser.parse_args()
    pairs = read_pairs(args.lfw / "pairs.csv")
    images = args.lfw / "images"
    names = sorted({p.image_a for p in pairs} | {p.image_b for p in pairs})
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs], np.int64)
    default = MatchSettings().verify_threshold
    results: dict[str, Any] = {"pairs": len(pairs), "images": len(names)}
    curves: list[tuple[str, Roc]] = []

    def add(label: str, scores: Vectors, threshold: float, extra: dict[str, Any]) -> None:
        report, curve = verification_report(scores, same, folds, threshold)
        results[label] = summary(report, extra)
        curves.append((label, curve))

    for variant in VARIANTS:
        pipeline = FacePipeline.from_pack(
            args.models_dir,
            1,
            EmbedderSettings(mirror=variant.mirror),
            RefineSettings(looks=variant.refine),
        )
        cache = args.out / f"ours_{variant.cache_name}.npz"
        vectors, facts = cached_ours(cache, pipeline, images, names, variant.policy)
        add(variant.label, cosine_scores(vectors, pairs), default, _ours_facts(facts))
    run = cached_face_recognition(args.out / "lfw_face_recognition.npz", images, names)
    for mirror in (False, True):
        embedder = FacePipeline.from_pack(args.models_dir, 1, EmbedderSettings(mirror=mirror))
        cache = args.out / f"dlib_chips_{'mirror' if mirror else 'chip'}.npz"
        dlib_vectors = dlib_chip_vectors(cache, embedder.embedder, images, run)
        label = f"dlib chips{', mirrored descriptors' if mirror else ''}"
        facts = {"no_face_rate": round(float(np.mean(~run.found)), 5)}
        add(label, cosine_scores(dlib_vectors, pairs), default, facts)
    add("face_recognition", face_recognition_scores(run, pairs), -FR_TOLERANCE, _fr_facts(run))
    results["raw_dlib_descriptor_norm"] = _norms(run)
    if args.timing_every:
        pipeline = FacePipeline.from_pack(args.models_dir, 1)
        results["interleaved_timing"] = interleaved_cpu_ms(
            pipeline, images, names[:: args.timing_every]
        )
    args.out.mkdir(parents=True, exist_ok=True)
    shown = [(label, curve) for label, curve in curves if label in PLOTTED]
    roc_and_det_png(shown, args.out / "compare_roc.png", args.out / "compare_det.png")
    (args.out / "compare.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


def _ours_facts(facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "no_face_rate": round(facts["no_face_images"] / facts["images"], 5),
        "failed_images": facts["failed_images"],
        "cpu_ms_per_image": round(1000 * facts["cpu_seconds"] / facts["images"], 2),
        "wall_ms_per_image": round(1000 * facts["wall_seconds"] / facts["images"], 2),
    }


def _fr_facts(run: FaceRecognitionRun) -> dict[str, Any]:
    detect, encode = 1000 * run.detect_cpu_s.mean(), 1000 * run.encode_cpu_s.mean()
    return {
        "no_face_rate": round(float(np.mean(~run.found)), 5),
        "cpu_ms_per_image": round(detect + encode, 2),
        "cpu_ms_detect": round(detect, 2),
        "cpu_ms_landmarks_and_descriptor": round(encode, 2),
        "note": "default threshold is minus the distance tolerance: scores are -distance",
    }


def _norms(run: FaceRecognitionRun) -> dict[str, float]:
    norms = np.linalg.norm(run.encodings, axis=1)
    return {
        q: round(float(np.percentile(norms, p)), 4)
        for q, p in (("p1", 1), ("median", 50), ("p99", 99))
    }


if __name__ == "__main__":
    main()
