"""Putting a :class:`~inference.face.pipeline.DecisionPipeline` together from a model pack.

The default pack gives YuNet, the fused MiniFASNets and dlib's descriptor; a bring-your-own
pack replaces the detector and/or the recogniser (liveness always comes from the default
pack: InsightFace packs have none). A gallery for 1:N is built in memory from a folder
with one sub-folder per person, each image enrolled by its largest face; storing galleries
is the encrypted store's business, not this package's.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.errors import InferenceError, InputError
from inference.face.align import FaceAligner, LandmarkDetector
from inference.face.byo import ArcFaceRecogniser, ByoPack, ScrfdDetector, load_byo_pack
from inference.face.challenge import ChallengeSession, ChallengeSettings
from inference.face.decide import ChallengePolicy
from inference.face.detect import FaceDetector, read_image
from inference.face.embed import DescriptorModel, Embeddings, FaceEmbedder
from inference.face.eval_common import IMAGE_SUFFIXES
from inference.face.landmarks import FaceMeshRunner
from inference.face.liveness import PassiveLiveness
from inference.face.match import GalleryIndex
from inference.face.pipeline import Challenge, DecisionPipeline, Detector, Recogniser, Stages
from inference.face.settings import FaceSettings, load_settings
from inference.face.types import FaceBox
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import parse_preference

log = logging.getLogger(__name__)
MESH_ID = "facemesh"  # the pack's model for active challenges


class AlignedRecogniser:
    """The default recogniser: the pack's chip template, then its descriptor network."""

    def __init__(self, aligner: FaceAligner, embedder: FaceEmbedder) -> None:
        self.aligner = aligner
        self.embedder = embedder

    @property
    def model(self) -> DescriptorModel:
        return self.embedder.model

    @property
    def provider(self) -> str:
        return self.embedder.provider

    def describe(self, image: npt.NDArray[np.generic], faces: Sequence[FaceBox]) -> Embeddings:
        return self.embedder.embed([self.aligner.align(image, face).chip for face in faces])


@dataclass(frozen=True)
class StageChoice:
    """Which stages to build: a BYO pack folder, and whether liveness and matching run."""

    byo_pack: Path | None = None
    liveness: bool = True
    recogniser: bool = True


def build_stages(
    runtime: Runtime,
    settings: FaceSettings,
    choice: StageChoice,
    gallery: GalleryIndex | None = None,
) -> Stages:
    """The stages ``choice`` asks for, on ``runtime``'s providers."""
    pack = load_byo_pack(choice.byo_pack) if choice.byo_pack is not None else None
    for note in pack.notes if pack else ():
        log.warning("%s", note)
    detector = _detector(runtime, settings, pack)
    liveness = PassiveLiveness.from_runtime(runtime, settings.liveness) if choice.liveness else None
    recogniser, threshold = (
        _recogniser(runtime, settings, pack, detector) if choice.recogniser else (None, None)
    )
    identify = pack.recogniser.identify_threshold if pack and pack.recogniser else None
    challenges = _challenges(runtime, settings)
    return Stages(detector, liveness, recogniser, gallery, threshold, challenges, identify)


def _detector(runtime: Runtime, settings: FaceSettings, pack: ByoPack | None) -> Detector:
    """The pack's detector, or YuNet."""
    if pack is not None and pack.detector is not None:
        return ScrfdDetector.from_pack(runtime, pack)
    return FaceDetector.from_runtime(runtime, "yunet_n", settings.detector)


def _recogniser(
    runtime: Runtime, settings: FaceSettings, pack: ByoPack | None, detector: Detector
) -> tuple[Recogniser, float | None]:
    """The pack's recogniser and its own threshold, or the default descriptor (None: the
    match settings' thresholds apply). The default aligner takes YuNet for its second,
    upright look at the landmarks: the chip template was fitted on refined landmarks. It
    is the detector's session where YuNet detects; only a pack's detector needs one of its
    own (YuNet is loaded nowhere else: a pack with both models never runs it)."""
    if pack is None or pack.recogniser is None:
        yunet = (
            detector
            if isinstance(detector, FaceDetector)
            else FaceDetector.from_runtime(runtime, "yunet_n", settings.detector)
        )
        aligner = FaceAligner(detector=yunet)
        return AlignedRecogniser(aligner, FaceEmbedder.from_runtime(runtime)), None
    threshold = pack.recogniser.similarity_threshold
    if threshold is None:
        raise InputError(f"{pack.root}: decisions need the recogniser's similarity_threshold "
                         "in jaga-pack.toml (calibrate it with jaga eval pairs)")  # fmt: skip
    return ArcFaceRecogniser.from_pack(runtime, pack), threshold


@dataclass(frozen=True)
class MeshChallenges:
    """A new challenge for each track that needs one, all on one FaceMesh session."""

    mesh: FaceMeshRunner
    settings: ChallengeSettings

    def __call__(self) -> Challenge:
        return ChallengeSession(self.mesh, self.settings)

    @property
    def providers(self) -> dict[str, str]:
        return {MESH_ID: self.mesh.session.provider}


def _challenges(runtime: Runtime, settings: FaceSettings) -> MeshChallenges | None:
    """Active challenges on FaceMesh, when the site's policy ever asks for one."""
    if settings.decision.challenge is ChallengePolicy.NEVER:
        return None
    return MeshChallenges(FaceMeshRunner.from_runtime(runtime, MESH_ID), settings.challenge)


@dataclass(frozen=True)
class Enrolment:
    """A gallery built from a folder, and the images that gave no template."""

    gallery: GalleryIndex
    people: int
    templates: int
    failed: tuple[str, ...]


def enrol_folder(
    folder: Path, detector: Detector, recogniser: Recogniser, settings: FaceSettings
) -> Enrolment:
    """One template per image of ``folder/<person>/``, from each image's largest face."""
    if not folder.is_dir():
        raise InputError(f"gallery {folder} is not a folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    if not people:
        raise InputError(f"gallery {folder} has no sub-folders (one per person)")
    parts: list[Embeddings] = []
    names: list[str] = []
    failed: list[str] = []
    for person in people:
        for path in sorted(p for p in person.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            template = _template(path, detector, recogniser)
            if template is None:
                failed.append(str(path.relative_to(folder)))
                continue
            parts.append(template)
            names.append(person.name)
    model = recogniser.model
    empty = Embeddings(np.zeros((0, model.dimension), np.float32), model)
    templates = Embeddings.concatenate(parts) if parts else empty
    gallery = GalleryIndex(templates, names, settings.match)
    return Enrolment(gallery, len(gallery.identities), len(names), tuple(failed))


def _template(path: Path, detector: Detector, recogniser: Recogniser) -> Embeddings | None:
    try:
        image = read_image(path)
        faces = detector.detect(image)
    except InferenceError as exc:
        log.warning("gallery: %s", exc)
        return None
    if not faces:
        log.warning("gallery: no face in %s", path)
        return None
    return recogniser.describe(image, [max(faces, key=lambda face: face.area)])


# --- the command line's way in -------------------------------------------------------------


def runtime_from_args(args: argparse.Namespace) -> Runtime:
    try:
        preference = parse_preference(args.providers)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    threads = ThreadBudget(args.threads) if args.threads else None
    return Runtime(ModelPack(args.models_dir), preference=preference, threads=threads)


def pipeline_from_args(
    args: argparse.Namespace, *, still: bool = False, recogniser: bool = False
) -> tuple[DecisionPipeline, dict[str, object]]:
    """The pipeline the options ask for, and what to report about it; ``recogniser`` builds
    one even without a gallery folder (verification makes its own gallery)."""
    settings = load_settings(args.settings)
    if getattr(args, "single_subject", False):
        settings = dataclasses.replace(
            settings, frames=dataclasses.replace(settings.frames, single_subject=True)
        )
    if still:
        settings = settings.for_still_images()
    folder: Path | None = getattr(args, "gallery", None)
    describe = recogniser or folder is not None
    choice = StageChoice(args.pack, liveness=not args.no_liveness, recogniser=describe)
    runtime = runtime_from_args(args)
    stages = build_stages(runtime, settings, choice)
    if still:  # one image cannot take a challenge: its answer stays challenge_required
        stages = dataclasses.replace(stages, challenges=None)
    meta: dict[str, object] = {"providers": providers(stages), "pack": str(args.pack or "default")}
    if folder is not None and stages.recogniser is not None:
        enrolment = enrol_folder(folder, stages.detector, stages.recogniser, settings)
        stages = dataclasses.replace(stages, gallery=enrolment.gallery)
        meta["gallery"] = {"people": enrolment.people, "templates": enrolment.templates,
                           "failed": list(enrolment.failed)}  # fmt: skip
    pipeline = DecisionPipeline(stages, settings, getattr(args, "claim", None))
    if folder is not None:
        meta["mode"] = str(pipeline.mode)
        meta["thresholds"] = dataclasses.asdict(pipeline.thresholds)
    return pipeline, meta


def providers(stages: Stages) -> dict[str, object]:
    """The provider each stage's sessions actually run on (a mapping model -> provider for a
    stage of several models); ``aligner`` where the default recogniser's YuNet refines the
    landmarks of another detector (with YuNet as the detector it is the same session)."""
    found: dict[str, object] = {}
    for name in ("detector", "liveness", "recogniser", "challenges"):
        stage = getattr(stages, name)
        for attribute in ("provider", "providers"):
            if stage is not None and hasattr(stage, attribute):
                found[name] = getattr(stage, attribute)
    refiner = _landmark_refiner(stages)
    if refiner is not None and refiner is not stages.detector and hasattr(refiner, "provider"):
        found["aligner"] = refiner.provider
    return found


def _landmark_refiner(stages: Stages) -> LandmarkDetector | None:
    """The detector the recogniser's aligner looks at each face with again, if any."""
    aligner = getattr(stages.recogniser, "aligner", None)
    if not isinstance(aligner, FaceAligner) or not aligner.refine.looks:
        return None
    return aligner.detector
