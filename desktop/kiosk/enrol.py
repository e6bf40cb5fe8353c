"""Enrolment: an operator's photos of one person -> templates -> a person with consent.

Every photo is read, checked and described before the store is written, so a photo with no
face, two faces, a blurred face or a corrupt file refuses the whole enrolment and writes
nothing: a gallery with a bad template verifies the wrong people for years. The photos
themselves are kept with the person (they are what a later model's templates are made from)
and erased with them.

The photos are taken by an operator who sees the person, so liveness is not asked of them:
an ID photo or a print would fail it, and the operator is the check here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from desktop.catch_errors import CatchError
from desktop.catch_photo import read_catch_photo
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import template_model
from inference.face.decide import quality_weight
from inference.face.quality import QualityGate
from inference.face.settings import FaceSettings
from inference.face.stages import Detector, Recogniser, Stages
from inference.face.types import FaceBox
from inference.fish.images import UInt8Image
from sync.store import Consent, Enrolment, Photo, Store, Template

TEMPLATE_SOURCE = "enrolment photo"
MAX_RETAIN_DAYS = 36_500  # a century: past it, dates overflow and no consent runs that long


# Each field a new person needs, as the refusal of a blank one names it (its article too).
_REQUIRED = {"external_id": "an external id", "display_name": "a display name", "site": "a site",
             "consent_version": "a consent version", "operator": "an operator"}  # fmt: skip


@dataclass(frozen=True)
class NewPerson:
    """Who is enrolled, under which consent text, by whom, and for how long."""

    external_id: str
    display_name: str
    site: str
    consent_version: str
    operator: str
    retain_days: int

    def __post_init__(self) -> None:
        for name, words in _REQUIRED.items():
            if not getattr(self, name).strip():
                raise KioskError(f"enrolment needs {words}")
        if not 1 <= self.retain_days <= MAX_RETAIN_DAYS:
            raise KioskError(f"consent is kept from 1 to {MAX_RETAIN_DAYS} days (--retain-days)")

    def consent(self, now: datetime) -> Consent:
        until = now + timedelta(days=self.retain_days)
        return Consent(self.consent_version, now, self.operator, until)


@dataclass(frozen=True, eq=False)
class EnrolmentPhoto:
    """One photo as read: its bytes untouched, their type, and the image (BGR)."""

    path: Path
    data: bytes = field(repr=False)
    media_type: str
    image: UInt8Image = field(repr=False)


def read_enrolment_photo(path: Path, store: Store) -> EnrolmentPhoto:
    """A JPEG, PNG or WebP photo the store can keep; a clear error for anything else."""
    try:
        photo = read_catch_photo(path, store.database.config)
    except CatchError as error:
        raise KioskError(str(error)) from error
    bgr = photo.image[:, :, ::-1].copy()  # the catch reader gives RGB; faces want BGR
    return EnrolmentPhoto(path, photo.data, photo.media_type, bgr)


def enrol_person(
    store: Store,
    stages: Stages,
    settings: FaceSettings,
    person: NewPerson,
    paths: Sequence[Path],
    *,
    accept_duplicates: bool = False,
) -> Enrolment:
    """Enrol ``person`` from ``paths``; every photo must give one good template."""
    if stages.recogniser is None:
        raise KioskError("enrolment needs a recogniser")
    if not paths:
        raise KioskError("enrolment needs at least one photo")
    now = store.clock.now()
    photos = [read_enrolment_photo(path, store) for path in paths]
    kept = [Photo(p.data, p.media_type, now) for p in photos]
    templates = [face_template(p, stages.detector, stages.recogniser, settings) for p in photos]
    return store.people.enrol(
        external_id=person.external_id,
        display_name=person.display_name,
        site=person.site,
        consent=person.consent(now),
        templates=templates,
        operator=person.operator,
        duplicate_threshold=duplicate_threshold(stages, settings),
        accept_duplicates=accept_duplicates,
        photos=kept,
    )


def duplicate_threshold(stages: Stages, settings: FaceSettings) -> float:
    """A new face that would pass 1:1 as someone enrolled is a duplicate: their badge would
    open for it. A bring-your-own recogniser brings its own 1:1 threshold."""
    own = stages.similarity_threshold
    return settings.match.verify_threshold if own is None else own


def face_template(
    photo: EnrolmentPhoto, detector: Detector, recogniser: Recogniser, settings: FaceSettings
) -> Template:
    """The template of the one face in ``photo``, if the quality gate accepts it."""
    face = _only_face(photo, detector.detect(photo.image), settings)
    # A tight passport-style crop is fine here: the closeness rule guards liveness only.
    gate = QualityGate(dataclasses.replace(settings.quality, max_frame_share=math.inf))
    verdict = gate.assess(photo.image, face)
    if not verdict.ok or verdict.measures is None:
        reasons = ", ".join(str(reason) for reason in verdict.reasons)
        raise KioskError(f"{photo.path}: the face is not good enough to enrol ({reasons}); "
                         "take the photo again")  # fmt: skip
    vector = recogniser.describe(photo.image, [face]).vectors[0]
    weight = quality_weight(verdict.measures, settings.weights, settings.quality)
    return Template(template_model(recogniser.model), vector, weight, TEMPLATE_SOURCE)


def _only_face(photo: EnrolmentPhoto, faces: Sequence[FaceBox], settings: FaceSettings) -> FaceBox:
    """The person's face; a second comparable face makes it unclear who consented."""
    if not faces:
        raise KioskError(f"{photo.path}: no face found")
    if settings.frames.comparable([face.inter_ocular_px for face in faces]) > 1:
        raise KioskError(f"{photo.path}: more than one face; crop the photo to the person "
                         "being enrolled")  # fmt: skip
    return max(faces, key=lambda face: face.inter_ocular_px)
