"""Enrolment: an operator's photos of one person -> templates -> a person with consent.

Every photo is read, checked and described before the store is written, so a photo with no
face, two faces, a blurred face or a corrupt file refuses the whole enrolment and writes
nothing: a gallery with a bad template verifies the wrong people for years. So do photos of
two people: every two of an enrolment's templates must pass the kiosk's 1:1 as each other
(the similarity and threshold a badge is verified with), or one badge would open for both.
Faces that the 1:1 threshold cannot tell apart pass this check, as they would pass at the
door: on NUAA's people most pairs do at the default 0.911, which is why a site calibrates
it. The photos themselves are kept with the person (they are what a later model's templates
are made from) and erased with them, as their pixels and orientation only: the GPS position,
serial numbers, names and thumbnails a phone writes are removed first, without re-encoding
(:mod:`sync.photo_metadata`).

The photos are taken by an operator who sees the person, so liveness is not asked of them:
an ID photo or a print would fail it, and the operator is the check here.

The badge is checked as the store checks it (``sync.store.badges``) when the ``NewPerson`` is
made, before any photo is read: a control character, spaces around it, or letters of two
scripts refuse it. So is a display name, consent version or operator holding a control
character or a bidirectional override, which would show as another name than the one
stored. A badge that reads as one already enrolled is refused by the store, naming its
holder, before faces are compared.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from desktop.catch_errors import CatchError
from desktop.catch_photo import media_type_of, read_photo_file
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import template_model
from inference.errors import ImageError
from inference.face.decide import Mode, quality_weight
from inference.face.embed import DescriptorModel, Embeddings
from inference.face.match import MatchSettings, Verification, verify
from inference.face.quality import QualityGate
from inference.face.settings import FaceSettings
from inference.face.stages import Detector, Recogniser, Stages
from inference.face.types import FaceBox
from inference.fish.images import UInt8Image, decode_image
from sync.errors import UnreadablePhotoError
from sync.photo_metadata import strip_metadata
from sync.protocol.names import hidden_characters_problem
from sync.store import Consent, Enrolment, Photo, Store, Template
from sync.store.badges import badge_problem
from sync.store.clock import released_on
from sync.store.edit_clock import clock_warning
from sync.store.records import MAX_CONSENT_DAYS

TEMPLATE_SOURCE = "enrolment photo"
STRANGERS_NAMED = 3  # pairs of photos a refusal names: a mixed-up folder makes many


# Each field a new person needs, as the refusal of a blank one names it (its article too).
_REQUIRED = {"external_id": "an external id", "display_name": "a display name", "site": "a site",
             "consent_version": "a consent version", "operator": "an operator"}  # fmt: skip
# The fields shown as names (the badge has its own, stricter rule: sync.badges).
_NAMES = ("display_name", "consent_version", "operator")


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
        if problem := badge_problem(self.external_id):  # the store refuses it too; said early
            raise KioskError(problem)
        for name in _NAMES:  # the hub would refuse them, after every photo was read
            if problem := hidden_characters_problem(getattr(self, name), _REQUIRED[name]):
                raise KioskError(problem)
        if not 1 <= self.retain_days <= MAX_CONSENT_DAYS:
            raise KioskError(f"consent is kept from 1 to {MAX_CONSENT_DAYS} days (--retain-days)")

    def consent(self, now: datetime) -> Consent:
        until = now + timedelta(days=self.retain_days)
        return Consent(self.consent_version, now, self.operator, until)


@dataclass(frozen=True, eq=False)
class EnrolmentPhoto:
    """One photo as kept: its bytes without metadata, their type, and the image (BGR)."""

    path: Path
    data: bytes = field(repr=False)
    media_type: str
    image: UInt8Image = field(repr=False)


def read_enrolment_photo(path: Path, store: Store) -> EnrolmentPhoto:
    """A JPEG, PNG or WebP photo the store can keep, without its metadata (GPS, serial
    numbers, names, thumbnails: :mod:`sync.photo_metadata`); a clear error for anything
    else. The template is made from the bytes kept, so a later model's matches them."""
    config = store.database.config
    try:
        data = read_photo_file(path, config)
        media_type = media_type_of(data, path)
        kept = strip_metadata(data, str(path))
        image = decode_image(kept, str(path))
    except (CatchError, ImageError, UnreadablePhotoError) as error:
        raise KioskError(str(error)) from error
    bgr = image[:, :, ::-1].copy()  # the decoder gives RGB; faces want BGR
    return EnrolmentPhoto(path, kept, media_type, bgr)


def enrol_person(
    store: Store,
    stages: Stages,
    settings: FaceSettings,
    person: NewPerson,
    paths: Sequence[Path],
    *,
    accept_duplicates: bool = False,
) -> Enrolment:
    """Enrol ``person`` from ``paths``; every photo must give one good template, and every
    two templates must pass the kiosk's 1:1 as each other."""
    if stages.recogniser is None:
        raise KioskError("enrolment needs a recogniser")
    if not paths:
        raise KioskError("enrolment needs at least one photo")
    now = store.clock.now()
    refuse_on_a_wrong_clock(store, now)
    photos = [read_enrolment_photo(path, store) for path in paths]
    kept = [Photo(p.data, p.media_type, now) for p in photos]
    templates = [face_template(p, stages.detector, stages.recogniser, settings) for p in photos]
    one_to_one = one_to_one_settings(stages, settings)
    check_one_person(photos, templates, stages.recogniser.model, one_to_one)
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


def refuse_on_a_wrong_clock(store: Store, now: datetime) -> None:
    """A clock behind the floor (the release date, the hub time seen: a flat RTC battery
    reset it to 2000) would date the consent then and end it then: the hub would erase the
    person at once, and the kiosk never match them (it judges a consent's end against the
    floor). The consent's date is evidence, not to be guessed: nobody is enrolled until the
    clock is set right."""
    with store.database.read() as connection:
        wrong = clock_warning(connection, now, released_on(store.clock))
    if wrong is not None:
        raise KioskError(f"{wrong}; nobody is enrolled until it is: a consent is dated, and"
                         " kept, by this clock")  # fmt: skip


def one_to_one_settings(stages: Stages, settings: FaceSettings) -> MatchSettings:
    """The match settings a badge is verified with: the kiosk's 1:1 threshold, a
    bring-your-own recogniser's own where it brings one (as the pipeline takes it). A new
    face that passes them as someone enrolled is a duplicate (their badge would open for
    it); two photos of one enrolment that do not pass them as each other are two people."""
    threshold = settings.thresholds(Mode.VERIFY, stages.similarity_threshold).similarity
    return dataclasses.replace(settings.match, verify_threshold=threshold)


def duplicate_threshold(stages: Stages, settings: FaceSettings) -> float:
    """The similarity from which a new face passes as someone enrolled at this kiosk: the
    lower of its 1:1 and 1:N thresholds. A site may set its 1:N below its 1:1; the 1:N kiosk
    would then let a newcomer in as the enrolled person they pass as."""
    return min(settings.thresholds(mode, stages.similarity_threshold).similarity for mode in Mode)


def check_one_person(
    photos: Sequence[EnrolmentPhoto],
    templates: Sequence[Template],
    model: DescriptorModel,
    one_to_one: MatchSettings,
) -> None:
    """Refuse an enrolment two of whose photos the kiosk's 1:1 would not take for each other:
    each template verifies its own face at the badge, so the badge would open for both."""
    described = [
        (photo, _as_embeddings(t, model)) for photo, t in zip(photos, templates, strict=True)
    ]
    unmatched = [
        (first, second, answer)
        for (first, one), (second, other) in itertools.combinations(described, 2)
        if not (answer := verify(one, str(second.path), other, one_to_one)).matched
    ]
    if unmatched:
        unmatched.sort(key=lambda pair: pair[2].similarity)  # the least alike first
        raise KioskError(_strangers_message(unmatched, one_to_one.verify_threshold))


def _as_embeddings(template: Template, model: DescriptorModel) -> Embeddings:
    return Embeddings(template.vector[np.newaxis, :], model)


def _strangers_message(
    unmatched: Sequence[tuple[EnrolmentPhoto, EnrolmentPhoto, Verification]], threshold: float
) -> str:
    """``a.jpg and b.jpg (similarity 0.41) do not show the same person (the kiosk's 1:1 needs
    0.911): ...``, naming a few pairs of a mixed-up folder and counting the rest."""
    said = [_pair_said(*pair) for pair in unmatched[:STRANGERS_NAMED]]
    more = len(unmatched) - len(said)
    said += [f"and {more} more pair{'s' if more > 1 else ''}"] if more else []
    return (f"{', '.join(said)} do not show the same person (the kiosk's 1:1 needs "
            f"{threshold:g}): enrol one person at a time")  # fmt: skip


def _pair_said(first: EnrolmentPhoto, second: EnrolmentPhoto, answer: Verification) -> str:
    # Rounded down: a similarity just short of the threshold never reads as reaching it.
    similarity = math.floor(answer.similarity * 1000) / 1000
    return f"{first.path} and {second.path} (similarity {similarity:.3f})"


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
