"""Enrolment with consent, the duplicate-identity warning, and gallery loading."""

from __future__ import annotations

import numpy as np
import pytest

from sync.errors import DuplicateIdentityError, RecordConflictError
from sync.store import ModelRef, Store, Template
from tests.sync.conftest import MODEL, OTHER_MODEL, FakeClock, consent, enrol, random_vector


def enrol_templates(
    store: Store, clock: FakeClock, badge: str, templates: list[Template], **options: bool
) -> str:
    return store.people.enrol(
        external_id=badge,
        display_name=f"Person {badge}",
        site="north-gate",
        consent=consent(clock),
        templates=templates,
        operator="officer-7",
        duplicate_threshold=0.6,
        accept_duplicates=options.get("accept_duplicates", False),
    ).person.person_uid


def near(vector: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    """A second capture of the same face: the vector plus a little noise."""
    jitter = np.random.default_rng(seed).normal(scale=noise * np.linalg.norm(vector) / 11, size=128)
    return (vector + jitter).astype(np.float32)


def test_enrolment_stores_the_person_with_consent(store: Store, clock: FakeClock) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    person = store.people.get(person_uid)
    assert person.external_id == "B-1"
    assert person.consent == consent(clock)
    assert store.audit.entries()[-1].action == "person.enrolled"


def test_the_same_face_under_a_new_badge_raises_the_duplicate_warning(
    store: Store, clock: FakeClock
) -> None:
    first = enrol(store, clock, "B-1", seed=1)
    again = Template(MODEL, near(random_vector(1), seed=99), 0.9, "camera")
    with pytest.raises(DuplicateIdentityError) as raised:
        enrol_templates(store, clock, "B-2", [again])
    assert [m.person_uid for m in raised.value.matches] == [first]
    assert raised.value.matches[0].similarity > 0.9
    assert store.people.count() == 1  # nothing was written


def test_an_accepted_duplicate_is_enrolled_and_audited(store: Store, clock: FakeClock) -> None:
    first = enrol(store, clock, "B-1", seed=1)
    twin = Template(MODEL, near(random_vector(1), seed=5), 0.9, "camera")
    enrol_templates(store, clock, "B-2", [twin], accept_duplicates=True)
    assert store.people.count() == 2
    assert first in store.audit.entries()[-1].details_json


def test_different_faces_raise_no_warning(store: Store, clock: FakeClock) -> None:
    for seed in range(10):
        enrol(store, clock, f"B-{seed}", seed=seed)
    assert store.people.count() == 10


def test_templates_of_another_model_are_not_compared(store: Store, clock: FakeClock) -> None:
    enrol(store, clock, "B-1", seed=1)
    same_numbers = Template(OTHER_MODEL, random_vector(1), 0.9, "camera")
    enrol_templates(store, clock, "B-2", [same_numbers])
    assert store.people.count() == 2


def test_the_duplicate_threshold_is_the_callers(store: Store, clock: FakeClock) -> None:
    enrol(store, clock, "B-1", seed=1)
    loose = Template(MODEL, near(random_vector(1), seed=3, noise=5.0), 0.9, "camera")
    store.people.enrol(
        external_id="B-2",
        display_name="Two",
        site="s",
        consent=consent(clock),
        templates=[loose],
        operator="o",
        duplicate_threshold=0.99,
    )
    assert store.people.count() == 2


def test_a_badge_enrolled_twice_is_a_conflict(store: Store, clock: FakeClock) -> None:
    enrol(store, clock, "B-1", seed=1)
    with pytest.raises(RecordConflictError):
        enrol(store, clock, "B-1", seed=2)


def test_a_template_of_the_wrong_length_for_its_model_is_refused(
    store: Store, clock: FakeClock
) -> None:
    enrol(store, clock, "B-1", seed=1)
    short = Template(MODEL, random_vector(2, dim=64), 0.9, "camera")
    with pytest.raises(ValueError, match="128 dimensions"):
        enrol_templates(store, clock, "B-2", [short])
    assert store.people.count() == 1


def test_the_gallery_returns_each_models_vectors_exactly_and_only_them(
    store: Store, clock: FakeClock
) -> None:
    enrol_templates(store, clock, "B-1", [Template(MODEL, random_vector(1), 0.9, "camera")])
    enrol_templates(store, clock, "B-2", [Template(OTHER_MODEL, random_vector(2, 512), 0.8, "c")])
    enrol_templates(store, clock, "B-3", [Template(MODEL, random_vector(3), 0.9, "camera")])
    galleries = store.galleries()
    assert set(galleries) == {MODEL, OTHER_MODEL}
    dlib = galleries[MODEL]
    assert dlib.vectors.dtype == np.float32
    np.testing.assert_array_equal(dlib.vectors, np.stack([random_vector(1), random_vector(3)]))
    people = store.people.by_local_ids(dlib.person_ids.tolist())
    assert [people[int(i)].external_id for i in dlib.person_ids] == ["B-1", "B-3"]
    assert galleries[OTHER_MODEL].vectors.shape == (1, 512)


def test_an_unknown_model_gives_an_empty_gallery(store: Store) -> None:
    assert len(store.gallery(ModelRef("none", "0"))) == 0


def insert_bulk_templates(store: Store, count: int, dim: int = 128) -> np.ndarray:
    """Fill the store fast with SQL (enrolment's duplicate check is not what is timed here)."""
    vectors = np.random.default_rng(0).normal(size=(count, dim)).astype(np.float32)
    with store.database.write() as connection:
        connection.execute(
            "INSERT INTO people (person_uid, external_id, display_name, site,"
            " consent_text_version, consent_given_at, consent_operator, retain_until, created_at)"
            " VALUES ('p', 'bulk', 'Bulk', 's', 'v', 't', 'o', 't', 't')"
        )
        connection.executemany(
            "INSERT INTO face_templates (template_uid, person_id, model_id, model_version, dim,"
            " vector, quality, source, created_at) VALUES (?, 1, ?, ?, ?, ?, 0.9, 'bulk', 't')",
            (
                (f"bulk-{index:08d}", MODEL.model_id, MODEL.model_version, dim, row.tobytes())
                for index, row in enumerate(vectors)
            ),
        )
    return vectors


@pytest.mark.slow
def test_100k_templates_load_whole_and_in_order(store: Store) -> None:
    # Speed is measured by `python -m sync.store.bench`, not asserted here: this machine's
    # cores are shared and a timed assertion would flake.
    vectors = insert_bulk_templates(store, 100_000)
    store.database.checkpoint()
    gallery = store.gallery(MODEL)
    np.testing.assert_array_equal(gallery.vectors, vectors)
