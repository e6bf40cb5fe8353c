"""The store's templates as the face pipeline's index, keyed by person uid.

A template is stored with the :class:`~sync.store.ModelRef` of the descriptor that made it,
and the descriptor's recipe (one pass, or the mean with the mirror image) is part of that
identity: the two give different vectors for one face. So the ref's version carries the
recipe, ``dlib_resnet`` ``1/chip+mirror``, and a pipeline only ever loads the templates its
own recogniser makes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from desktop.kiosk.errors import KioskError
from inference.face.embed import DescriptorModel
from inference.face.match import GalleryIndex, MatchSettings
from sync.store import ModelRef, Person, Store


def template_model(model: DescriptorModel) -> ModelRef:
    """The store's name for templates of ``model``."""
    return ModelRef(model.model_id, f"{model.version}/{model.recipe}")


def gallery_index(store: Store, model: DescriptorModel, settings: MatchSettings) -> GalleryIndex:
    """Every enrolled person's templates of ``model``, identities being person uids.

    A person erased between the two reads below has no row left: their templates are left
    out, as the erasure wants.
    """
    stored = store.gallery(template_model(model))
    if len(stored) and stored.dim != model.dimension:
        raise KioskError(f"the store's {template_model(model)} templates have {stored.dim} "
                         f"dimensions; the recogniser makes {model.dimension}")  # fmt: skip
    people = store.people.by_local_ids(np.unique(stored.person_ids).tolist())
    keep = np.array([int(p) in people for p in stored.person_ids], dtype=bool)
    identities = [people[int(p)].person_uid for p in stored.person_ids[keep]]
    vectors = stored.normalized()[keep] if len(stored) else np.zeros((0, model.dimension))
    return GalleryIndex.from_arrays(vectors, identities, model, settings)


def overlap_warning(store: Store, index: GalleryIndex, threshold: float) -> str | None:
    """A warning when two people enrolled here already pass as each other at ``threshold``:
    the default threshold was set on LFW, and on some populations most pairs of different
    people reach it (``tools.measure_face_impostors``). Names the two by external id, for
    the operator; the caller decides where that may be shown."""
    closest = index.closest_identities()
    if closest is None or closest[0] < threshold:
        return None
    similarity, first, second = closest
    ids = sorted(store.people.get(uid).external_id for uid in (first, second))
    return (f"people enrolled here pass as each other: {ids[0]} and {ids[1]} reach "
            f"{similarity:.3f}, at or above this kiosk's threshold {threshold:.3f}; calibrate it "
            "on your own people (jaga eval pairs) before relying on this kiosk")  # fmt: skip


def claimed_person(store: Store, external_id: str) -> Person:
    """The person a badge (their external id) names; a clear error when nobody has it."""
    person = store.people.by_external_id(external_id)
    if person is None:
        raise KioskError(f"nobody enrolled here has the id {external_id!r}")
    return person


class GalleryWatch:
    """Notices when the store's gallery changed under a running kiosk, and reloads it.

    An erasure must stop a kiosk from verifying the person at once, not at its next start,
    and a sync (its own connection) or ``jaga store`` (another process) may make it. A
    template's count and highest row id change with every enrolment and every erasure, and
    cost one indexed query to read, so they are read at most every ``every_s`` seconds.
    """

    def __init__(
        self,
        store: Store,
        model: DescriptorModel,
        settings: MatchSettings,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._model, self._settings = store, model, settings
        self._every_s, self._clock = every_s, clock
        self._checked_at = clock()
        self._version = self._read_version()

    def changed(self) -> GalleryIndex | None:
        """The reloaded index when the gallery changed since the last look, else None."""
        now = self._clock()
        if now - self._checked_at < self._every_s:
            return None
        self._checked_at = now
        version = self._read_version()
        if version == self._version:
            return None
        self._version = version
        return gallery_index(self._store, self._model, self._settings)

    def _read_version(self) -> tuple[int, int]:
        ref = template_model(self._model)
        (count, highest), *_ = self._store.database.query(
            "SELECT count(*), coalesce(max(id), 0) FROM face_templates"
            " WHERE model_id = ? AND model_version = ?",
            (ref.model_id, ref.model_version),
        )
        return int(count), int(highest)
