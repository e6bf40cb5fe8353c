"""``jaga eval liveness --live DIR --attack DIR --out R.json``: passive liveness, measured.

Every image under ``--live`` is a bona fide presentation, every image under ``--attack``
an attack (both searched recursively). The attack folder's first-level sub-folders name
the attack types (``print/``, ``replay/``, ...), each with its own APCER; images directly
in it form the type ``attack``. ``--attack-type NAME`` makes every attack one type, for
folders whose sub-folders are something else (NUAA's are subjects). Each image is judged
on its largest face (the one nearest the camera) at the *shipped* threshold, untouched by
this data.

R.json holds the ISO/IEC 30107-3 figures (``apcer``: the worst type; ``apcer_per_type``;
``bpcer``; ``acer``), the equal-error rate as a calibration hint, ``no_face`` (images
where no face was found: no liveness decision was made, so they are outside APCER and
BPCER, and counted here), ``too_small`` (faces too small to judge: rejected, and counted
in the rates), ``unreadable`` files, ``seconds_per_image`` (wall clock of detection and
liveness per image, files read outside it), one row per image, and the names of the two
PNGs written beside it: a DET curve and a score histogram.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.errors import InferenceError
from inference.face.detect import FaceDetector, read_image
from inference.face.eval_common import image_files
from inference.face.liveness import LivenessStatus, PassiveLiveness
from inference.face.liveness_metrics import det_curve, equal_error, iso_errors
from inference.face.liveness_plots import det_png, histogram_png
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget

FloatArray = npt.NDArray[np.float64]
LIVE, ATTACK = "live", "attack"
DIRECT_ATTACK_TYPE = "attack"  # images directly in the attack folder


@dataclass(frozen=True)
class Presentation:
    """One image to judge: where it is, and what it is."""

    path: Path
    name: str  # relative to its class folder, for the report
    label: str  # LIVE or ATTACK
    attack_type: str | None


@dataclass(frozen=True)
class Judged:
    """The verdict on one presentation; ``score`` is None when no face was found."""

    name: str
    label: str
    attack_type: str | None
    score: float | None
    model_score: float | None
    moire_peak: float | None
    status: str  # a LivenessStatus value, "no_face" or "unreadable"


def presentations(
    live_dir: Path, attack_dir: Path, attack_type: str | None = None
) -> list[Presentation]:
    """Every image of both folders, labelled; attack types from first-level sub-folders,
    or all ``attack_type`` when it is given."""
    found = [Presentation(p, p.relative_to(live_dir).as_posix(), LIVE, None)
             for p in image_files(live_dir)]  # fmt: skip
    for path in image_files(attack_dir):
        relative = path.relative_to(attack_dir)
        kind = relative.parts[0] if len(relative.parts) > 1 else DIRECT_ATTACK_TYPE
        kind = attack_type or kind
        found.append(Presentation(path, relative.as_posix(), ATTACK, kind))
    return found


class LivenessJudge:
    """Detect -> largest face -> passive liveness, timed."""

    def __init__(self, detector: FaceDetector, liveness: PassiveLiveness) -> None:
        self.detector, self.liveness = detector, liveness
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0

    @classmethod
    def from_pack(cls, models_dir: Path | None, threads: int | None = None) -> LivenessJudge:
        budget = ThreadBudget(threads) if threads else None
        runtime = Runtime(ModelPack(models_dir), threads=budget)
        return cls(FaceDetector.from_runtime(runtime), PassiveLiveness.from_runtime(runtime))

    def judge(self, item: Presentation) -> Judged:
        try:
            image = read_image(item.path)
        except InferenceError:
            return Judged(item.name, item.label, item.attack_type, None, None, None, "unreadable")
        wall, cpu = time.perf_counter(), time.process_time()
        faces = self.detector.detect(image)
        verdict = self.liveness.score(image, max(faces, key=lambda f: f.area)) if faces else None
        self.wall_seconds += time.perf_counter() - wall
        self.cpu_seconds += time.process_time() - cpu
        if verdict is None:
            return Judged(item.name, item.label, item.attack_type, None, None, None, "no_face")
        return Judged(
            item.name,
            item.label,
            item.attack_type,
            verdict.score,
            verdict.model_score,
            verdict.cues.moire_peak,
            verdict.status.value,
        )


def decided_score(judged: Judged) -> float:
    """The score the rates are computed on: a too-small face counts as rejected."""
    if judged.score is None:
        raise ValueError(f"{judged.name} has no liveness decision")
    return -1.0 if judged.status == LivenessStatus.TOO_SMALL.value else judged.score


def report(judged: list[Judged], threshold: float, timing: tuple[float, float]) -> dict[str, Any]:
    """R.json's content (without the plot names) from the verdicts."""
    decided = [j for j in judged if j.score is not None]
    live = np.array([decided_score(j) for j in decided if j.label == LIVE], np.float64)
    types = sorted({j.attack_type for j in decided if j.attack_type is not None})
    attacks = {kind: np.array([decided_score(j) for j in decided if j.attack_type == kind],
                              np.float64) for kind in types}  # fmt: skip
    errors = iso_errors(live, attacks, threshold)
    processed = [j for j in judged if j.status != "unreadable"]
    body: dict[str, Any] = {
        "threshold": threshold,
        "apcer": errors.apcer,
        "bpcer": errors.bpcer,
        "acer": errors.acer,
        "apcer_per_type": {
            kind: {"apcer": e.apcer, "attacks": e.attacks, "accepted": e.accepted}
            for kind, e in errors.per_type.items()
        },
        "apcer_pooled": errors.apcer_pooled,
        "live_decided": errors.live,
        "live_rejected": errors.rejected,
        "no_face": _no_face(judged),
        "too_small": sum(j.status == LivenessStatus.TOO_SMALL.value for j in judged),
        "unreadable": [j.name for j in judged if j.status == "unreadable"],
        "seconds_per_image": timing[0] / max(len(processed), 1),
        "cpu_seconds_per_image": timing[1] / max(len(processed), 1),
        "images": [asdict(j) for j in judged],
    }
    if len(live) and attacks:
        rate, at = equal_error(det_curve(live, np.concatenate(list(attacks.values()))))
        body["eer"] = {"rate": rate, "threshold": at}
    return body


def _no_face(judged: list[Judged]) -> dict[str, Any]:
    counts = {}
    for label in (LIVE, ATTACK):
        of_label = [j for j in judged if j.label == label and j.status != "unreadable"]
        missing = sum(j.status == "no_face" for j in of_label)
        counts[label] = {"count": missing, "ratio": missing / len(of_label) if of_label else 0.0}
    total = sum(c["count"] for c in counts.values())
    images = sum(j.status != "unreadable" for j in judged)
    return {**counts, "count": total, "ratio": total / images if images else 0.0}


def evaluate_liveness(
    live_dir: Path,
    attack_dir: Path,
    out: Path,
    judge: LivenessJudge,
    *,
    progress: Callable[[str], None] | None = None,
    attack_type: str | None = None,
) -> dict[str, Any]:
    """Judge every image, write R.json and its PNGs, and return the report."""
    _check_folders(live_dir, attack_dir)
    items = presentations(live_dir, attack_dir, attack_type)
    judged = []
    for index, item in enumerate(items):
        judged.append(judge.judge(item))
        if progress and (index + 1) % 200 == 0:
            progress(f"{index + 1}/{len(items)} images")
    threshold = judge.liveness.settings.threshold
    body = report(judged, threshold, (judge.wall_seconds, judge.cpu_seconds))
    body["providers"] = {"detector": judge.detector.provider, **judge.liveness.providers}
    body["plots"] = _plots(out, judged, threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=2) + "\n")
    return body


def _check_folders(*folders: Path) -> None:
    """Each a folder holding images: an empty attack folder would report APCER 0."""
    for folder in folders:
        if not folder.is_dir():
            raise InferenceError(f"{folder} is not a folder")
        if not image_files(folder):
            raise InferenceError(f"{folder} holds no images: nothing to measure on")


def _plots(out: Path, judged: list[Judged], threshold: float) -> dict[str, str]:
    decided = [j for j in judged if j.score is not None]
    live = np.array([decided_score(j) for j in decided if j.label == LIVE], np.float64)
    attacks: dict[str, list[float]] = {}
    for j in decided:
        if j.attack_type is not None:
            attacks.setdefault(j.attack_type, []).append(decided_score(j))
    if not len(live) or not attacks:
        return {}
    det_path, histogram_path = out.with_suffix(".det.png"), out.with_suffix(".histogram.png")
    typed = {kind: np.array(scores, np.float64) for kind, scores in sorted(attacks.items())}
    det_png(det_path, live, typed)
    histogram_png(histogram_path, live, np.concatenate(list(typed.values())), threshold)
    return {"det": det_path.name, "histogram": histogram_path.name}


def run_liveness(args: argparse.Namespace) -> int:
    try:
        _check_folders(args.live, args.attack)  # before the models load: a typo fails fast
        judge = LivenessJudge.from_pack(args.models_dir, args.threads)
        body = evaluate_liveness(
            args.live, args.attack, args.out, judge, progress=print, attack_type=args.attack_type
        )
    except (InferenceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"threshold {body['threshold']:g}: APCER {body['apcer']:.4f} (worst type), BPCER "
          f"{body['bpcer']:.4f}, ACER {body['acer']:.4f}; no face in {body['no_face']['count']} "
          f"images; {1000 * body['seconds_per_image']:.1f} ms/image; wrote {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":  # python -m inference.face.eval_liveness ..., before the CLI wiring
    import sys

    from inference.face.cli_options import add_eval_liveness_parser

    root = argparse.ArgumentParser(prog="jaga eval")
    add_eval_liveness_parser(root.add_subparsers(required=True))
    arguments = root.parse_args(["liveness", *sys.argv[1:]])
    sys.exit(arguments.handler(arguments))
