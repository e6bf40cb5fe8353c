"""Who among the enrolled a new person's face already matches: the check before enrolment.

Apart from ``sync.store.people`` because it is a search of the gallery, not a write: it loads
each model's templates (``sync.store.gallery``) and names the best match per person, for
``People.enrol`` to refuse with ``DuplicateIdentityError`` unless the operator accepts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.store.gallery import best_match_per_person, load_gallery
from sync.store.records import DuplicateMatch, ModelRef, Template


def find_duplicates(
    connection: Any, templates: Sequence[Template], threshold: float
) -> list[DuplicateMatch]:
    """Enrolled people whose templates of the same model match any of ``templates``."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"a cosine threshold lies in [-1, 1], got {threshold}")
    best: dict[int, tuple[float, ModelRef]] = {}
    for model in sorted({t.model for t in templates}, key=str):
        probes = [t.vector for t in templates if t.model == model]
        gallery = load_gallery(connection, model)
        if len(gallery) and gallery.dim != probes[0].size:
            continue  # a dimension mismatch is reported by the insert, with a clear message
        for person_id, similarity in best_match_per_person(gallery, probes, threshold).items():
            if similarity > best.get(person_id, (-2.0, model))[0]:
                best[person_id] = (similarity, model)
    matches = [_duplicate(connection, pid, sim, model) for pid, (sim, model) in best.items()]
    return sorted(matches, key=lambda match: -match.similarity)


def _duplicate(
    connection: Any, person_id: int, similarity: float, model: ModelRef
) -> DuplicateMatch:
    uid, external_id, name = connection.execute(
        "SELECT person_uid, external_id, display_name FROM people WHERE id = ?", (person_id,)
    ).fetchone()
    return DuplicateMatch(uid, external_id, name, similarity, model)
