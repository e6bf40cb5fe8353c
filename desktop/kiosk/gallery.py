"""The store's templates as the face pipeline's index, keyed by person uid.

A template is stored with the :class:`~sync.store.ModelRef` of the descriptor that made it,
and the descriptor's recipe (one pass, or the mean with the mirror image) is part of that
identity: the two give different vectors for one face. So the ref's version carries the
recipe, ``dlib_resnet`` ``1/chip+mirror``, and a pipeline only ever loads the templates its
own recogniser makes.
"""

from __future__ import annotations

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


def claimed_person(store: Store, external_id: str) -> Person:
    """The person a badge (their external id) names; a clear error when nobody has it."""
    person = store.people.by_external_id(external_id)
    if person is None:
        raise KioskError(f"nobody enrolled here has the id {external_id!r}")
    return person
