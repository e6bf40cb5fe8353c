"""GalleryIndex: exact top-k against brute force, open set, model identity, 1:1, scale."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from inference.errors import InputError
from inference.face.embed import DescriptorModel, Embeddings
from inference.face.match import (
    GalleryIndex,
    MatchSettings,
    ModelMismatchError,
    Overlaps,
    UnknownIdentityError,
    verify,
)
from inference.face.types import Aggregate

MODEL = DescriptorModel("dlib_resnet", "1", 128)
FloatArray = npt.NDArray[np.float32]


def unit_rows(rng: np.random.Generator, count: int, dimension: int = 128) -> FloatArray:
    rows = rng.standard_normal((count, dimension)).astype(np.float32)
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), np.float32)


def gallery(
    rng: np.random.Generator, people: int, per_person: int, settings: MatchSettings | None = None
) -> tuple[GalleryIndex, FloatArray, list[str]]:
    """A shuffled gallery: identity i's templates are noisy copies of a centre."""
    centres = unit_rows(rng, people)
    vectors = np.repeat(centres, per_person, axis=0) + 0.05 * unit_rows(rng, people * per_person)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    names = [f"p{i:04d}" for i in range(people) for _ in range(per_person)]
    order = rng.permutation(len(names))
    shuffled, labels = vectors[order], [names[i] for i in order]
    return GalleryIndex.from_arrays(shuffled, labels, MODEL, settings), shuffled, labels


def probe_of(vector: FloatArray, model: DescriptorModel = MODEL) -> Embeddings:
    return Embeddings.normalised(vector[None, :], model)


def brute_force_top_k(
    probe: FloatArray, vectors: FloatArray, labels: list[str], k: int
) -> list[tuple[str, float]]:
    """Per-identity maximum by scattering (np.maximum.at), independent of the index's
    sorted blocks."""
    names, inverse = np.unique(np.array(labels), return_inverse=True)
    best = np.full(len(names), -2.0, np.float32)
    np.maximum.at(best, inverse, vectors @ probe)
    order = np.lexsort((names, -best))[:k]
    return [(str(names[i]), float(best[i])) for i in order]


def test_top_k_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    index, vectors, labels = gallery(rng, people=60, per_person=3)
    for probe in unit_rows(rng, 20):
        answer = index.identify(probe_of(probe), k=7)
        expected = brute_force_top_k(probe, vectors, labels, 7)
        assert [c.identity for c in answer.candidates] == [name for name, _ in expected]
        got = [c.similarity for c in answer.candidates]
        np.testing.assert_allclose(got, [s for _, s in expected], atol=1e-5)


def test_identify_many_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    index, _, _ = gallery(rng, people=30, per_person=2)
    probes = Embeddings(unit_rows(rng, 5), MODEL)
    many = index.identify_many(probes, k=3)
    one = [index.identify(probes.take([i]), k=3) for i in range(5)]
    for a, b in zip(many, one, strict=True):  # one BLAS call or several: equal to rounding
        assert [c.identity for c in a.candidates] == [c.identity for c in b.candidates]
        np.testing.assert_allclose(
            [c.similarity for c in a.candidates], [c.similarity for c in b.candidates], atol=1e-6
        )


def test_known_probe_is_identified_and_stranger_is_unknown() -> None:
    rng = np.random.default_rng(2)
    index, vectors, labels = gallery(rng, people=50, per_person=2)
    known = index.identify(probe_of(vectors[0]))
    assert known.identity == labels[0]
    assert known.candidates[0].similarity == pytest.approx(1.0, abs=1e-5)
    stranger = index.identify(probe_of(unit_rows(rng, 1)[0]))
    assert stranger.identity is None  # random 128-D directions are nearly orthogonal
    assert stranger.candidates  # the candidates are still there, for an operator to see


def test_verify_uses_max_or_mean_of_the_claimed_templates() -> None:
    templates = np.eye(4, 128, dtype=np.float32)
    probe_vector = np.zeros(128, np.float32)
    probe_vector[:2] = (0.8, 0.6)
    probe = probe_of(probe_vector)
    for aggregate, expected in ((Aggregate.MAX, 0.8), (Aggregate.MEAN, (0.8 + 0.6) / 4)):
        settings = MatchSettings(aggregate=aggregate)
        index = GalleryIndex.from_arrays(templates, ["ann"] * 4, MODEL, settings)
        assert index.verify(probe, "ann").similarity == pytest.approx(expected, abs=1e-6)
        assert index.identify(probe).candidates[0].similarity == pytest.approx(expected, abs=1e-6)
    single = verify(probe, "ann", Embeddings(templates[:1], MODEL), MatchSettings())
    assert single.similarity == pytest.approx(0.8) and single.templates == 1


def test_verification_threshold_decides() -> None:
    templates = Embeddings(np.eye(1, 128, dtype=np.float32), MODEL)
    probe_vector = np.zeros(128, np.float32)
    probe_vector[:2] = (0.9, np.sqrt(1 - 0.81))
    settings = MatchSettings(verify_threshold=0.85)
    assert verify(probe_of(probe_vector), "ann", templates, settings).matched
    strict = MatchSettings(verify_threshold=0.95)
    assert not verify(probe_of(probe_vector), "ann", templates, strict).matched


def test_other_model_is_refused() -> None:
    rng = np.random.default_rng(3)
    index, vectors, _ = gallery(rng, people=5, per_person=1)
    for other in (
        DescriptorModel("dlib_resnet", "2", 128),
        DescriptorModel("dlib_resnet", "1", 128, recipe="chip+mirror"),
    ):
        with pytest.raises(ModelMismatchError):
            index.identify(probe_of(vectors[0], other))
        with pytest.raises(ModelMismatchError):
            index.verify(probe_of(vectors[0], other), "p0000")


def test_unknown_claim_and_bad_input_are_clear_errors() -> None:
    rng = np.random.default_rng(4)
    index, vectors, _ = gallery(rng, people=3, per_person=1)
    with pytest.raises(UnknownIdentityError):
        index.verify(probe_of(vectors[0]), "nobody")
    with pytest.raises(InputError):
        index.identify(Embeddings(vectors[:2].copy(), MODEL))
    with pytest.raises(InputError):
        GalleryIndex.from_arrays(vectors, ["a"], MODEL)
    with pytest.raises(ValueError, match="L2-normalised"):
        GalleryIndex.from_arrays(vectors * 2, ["a", "b", "c"], MODEL)


def test_empty_gallery_answers_unknown() -> None:
    index = GalleryIndex.from_arrays(np.zeros((0, 128), np.float32), [], MODEL)
    answer = index.identify(probe_of(unit_rows(np.random.default_rng(5), 1)[0]))
    assert answer.identity is None and answer.candidates == ()
    assert len(index) == 0 and "anyone" not in index


def test_index_of_100k_templates_is_built_and_queried_exactly() -> None:
    rng = np.random.default_rng(6)
    people, per_person = 25_000, 4
    index, vectors, labels = gallery(rng, people, per_person)
    assert len(index) == 100_000 and len(index.identities) == people
    for row in rng.integers(0, len(labels), 3):
        answer = index.identify(probe_of(vectors[row]), k=5)
        assert answer.identity == labels[row]
        expected = brute_force_top_k(vectors[row], vectors, labels, 5)
        assert [c.identity for c in answer.candidates] == [name for name, _ in expected]
    assert index.templates_of(labels[0]).vectors.shape == (per_person, 128)


def test_the_closest_identities_are_found_across_blocks_and_never_oneself() -> None:
    """Brute force over every pair of templates of different identities; each identity's
    own templates are closer to each other than to anyone, and must not count."""
    rng = np.random.default_rng(7)
    vectors = unit_rows(rng, 40)
    names = [f"p{i % 9}" for i in range(40)]
    vectors[1] = vectors[0]  # p0 and p1 share a template, so they are the closest pair
    index = GalleryIndex.from_arrays(vectors, names, MODEL)
    similarities = vectors @ vectors.T
    expected = max(float(similarities[i, j]) for i in range(40) for j in range(40)
                   if names[i] != names[j])  # fmt: skip
    for block in (1, 7, 1024):
        similarity, first, second = index.closest_identities(block) or (0.0, "", "")
        assert similarity == pytest.approx(expected, abs=1e-5)
        assert (first, second) == ("p0", "p1")


def brute_force_pairs(vectors: FloatArray, labels: list[str]) -> list[tuple[float, str, str]]:
    """Each pair of different identities with the similarity of its closest templates,
    closest first, from every pair of templates one at a time."""
    similarities = vectors @ vectors.T
    best: dict[tuple[str, str], float] = {}
    for i, j in zip(*np.triu_indices(len(labels), 1), strict=True):
        if labels[i] != labels[j]:
            first, second = sorted((labels[i], labels[j]))
            best[first, second] = max(best.get((first, second), -2.0), float(similarities[i, j]))
    return sorted(((s, a, b) for (a, b), s in best.items()), key=lambda p: (-p[0], p[1], p[2]))


def test_every_pair_of_identities_reaching_a_threshold_is_counted_once_closest_first() -> None:
    """Blocks of one row split each identity's templates across blocks: a pair must still
    count once, with its closest templates' similarity."""
    rng = np.random.default_rng(8)
    vectors = unit_rows(rng, 60)
    names = [f"p{i % 12:02d}" for i in range(60)]
    expected = brute_force_pairs(vectors, names)
    threshold = (expected[9][0] + expected[10][0]) / 2  # ten of the 66 pairs reach it
    index = GalleryIndex.from_arrays(vectors, names, MODEL)
    for block in (1, 7, 1024):
        overlaps = index.overlaps(threshold, most=4, rows_per_block=block)
        assert overlaps.count == 10
        assert [(p.first, p.second) for p in overlaps.closest] == [p[1:] for p in expected[:4]]
        np.testing.assert_allclose(
            [p.similarity for p in overlaps.closest], [p[0] for p in expected[:4]], atol=1e-5
        )
    closest = index.overlaps(threshold, most=1).closest[0]
    assert index.overlaps(closest.similarity, most=1).count == 1  # at the threshold counts
    assert index.overlaps(closest.similarity + 1e-4, most=1) == Overlaps(0, ())
    assert len(index.overlaps(-1.0, most=100).closest) == 66


def test_a_gallery_of_one_identity_has_no_closest_pair() -> None:
    vectors = unit_rows(np.random.default_rng(1), 3)
    assert GalleryIndex.from_arrays(vectors, ["a", "a", "a"], MODEL).closest_identities() is None
