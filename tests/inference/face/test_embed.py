"""Descriptors: unit vectors tagged with their model, batched like one at a time, and on
real chips (dlib's ``johns``) the same person is nearer than anyone else."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.errors import InputError
from inference.face.embed import (
    DescriptorModel,
    EmbedderSettings,
    Embeddings,
    FaceEmbedder,
    cosine_to_dlib_distance,
    dlib_distance_to_cosine,
)
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

Chips = list[np.ndarray]


@pytest.fixture(scope="module")
def runtime(model_pack: ModelPack) -> Runtime:
    return Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))


@pytest.fixture(scope="module")
def embedder(runtime: Runtime) -> FaceEmbedder:
    return FaceEmbedder.from_runtime(runtime)


@pytest.fixture(scope="module")
def johns() -> tuple[Chips, list[str]]:
    """dlib's 55 aligned 150x150 chips of five people, BGR, with each chip's person."""
    root = shared_path("data", "faces", "johns")
    paths = sorted(root.glob("*/*.jpg"))
    chips = [np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), np.uint8) for path in paths]
    return chips, [path.parent.name for path in paths]


@pytest.mark.needs_shared
def test_descriptors_are_unit_vectors_of_the_named_model(
    embedder: FaceEmbedder, johns: tuple[Chips, list[str]]
) -> None:
    chips, _ = johns
    embeddings = embedder.embed(chips)
    assert embeddings.vectors.shape == (55, 128) and embeddings.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings.vectors, axis=1), 1.0, atol=1e-5)
    assert embeddings.model.key == "dlib_resnet@1/chip+mirror"  # the default recipe
    assert not embeddings.vectors.flags.writeable


@pytest.mark.needs_shared
def test_same_person_is_nearer_than_anyone_else(
    embedder: FaceEmbedder, johns: tuple[Chips, list[str]]
) -> None:
    chips, people = johns
    vectors = embedder.embed(chips).vectors
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    labels = np.array(people)
    nearest_is_same = labels[np.argmax(similarity, axis=1)] == labels
    assert nearest_is_same.mean() >= 0.95
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None, :]
    assert similarity[same].mean() > similarity[different].mean() + 0.1


@pytest.mark.needs_shared
def test_a_batch_equals_one_at_a_time(runtime: Runtime, johns: tuple[Chips, list[str]]) -> None:
    chips, _ = johns
    batched = FaceEmbedder.from_runtime(runtime, settings=EmbedderSettings(batch_size=4))
    together = batched.embed(chips[:6]).vectors
    alone = np.concatenate([batched.embed_one(chip).vectors for chip in chips[:6]])
    np.testing.assert_allclose(together, alone, atol=1e-5)


@pytest.mark.needs_shared
def test_mirror_recipe_is_another_model(runtime: Runtime, johns: tuple[Chips, list[str]]) -> None:
    chips, _ = johns
    single = FaceEmbedder.from_runtime(runtime, settings=EmbedderSettings(mirror=False))
    plain = single.embed(chips[:3])
    both = FaceEmbedder.from_runtime(runtime).embed(chips[:3])
    assert plain.model.key == "dlib_resnet@1/chip" and both.model != plain.model
    assert np.all(np.sum(both.vectors * plain.vectors, axis=1) > 0.9)


def test_bad_chips_are_input_errors(embedder: FaceEmbedder) -> None:
    with pytest.raises(InputError):
        embedder.embed([np.zeros((112, 112, 3), np.uint8)])
    with pytest.raises(InputError):
        embedder.embed([np.zeros((150, 150, 3), np.float32)])
    assert len(embedder.embed([])) == 0


def test_embeddings_are_validated() -> None:
    model = DescriptorModel("dlib_resnet", "1", 4)
    with pytest.raises(ValueError, match="L2-normalised"):
        Embeddings(np.ones((2, 4), np.float32), model)
    with pytest.raises(ValueError, match="4-D"):
        Embeddings(np.eye(3, dtype=np.float32), model)
    with pytest.raises(ValueError):
        Embeddings(np.eye(4), model)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        Embeddings.normalised(np.zeros((1, 4)), model)
    one = Embeddings.normalised(np.array([[3.0, 4.0, 0.0, 0.0]]), model)
    np.testing.assert_allclose(one.vectors, [[0.6, 0.8, 0.0, 0.0]], atol=1e-7)
    other = DescriptorModel("dlib_resnet", "2", 4)
    with pytest.raises(ValueError, match="cannot mix"):
        Embeddings.concatenate([one, Embeddings(one.vectors.copy(), other)])


def test_dlib_distance_mapping_round_trips() -> None:
    for cosine in (-1.0, 0.0, 0.82, 1.0):
        assert dlib_distance_to_cosine(cosine_to_dlib_distance(cosine)) == pytest.approx(cosine)
    assert cosine_to_dlib_distance(0.82, norm=1.0) == pytest.approx(0.6, abs=1e-9)
    assert cosine_to_dlib_distance(0.909) == pytest.approx(0.6, abs=0.002)  # raw norm 1.408


def test_taking_no_rows_is_an_empty_set_not_an_index_error() -> None:
    """``jaga eval identify`` when no gallery image had a face, or every probe failed."""
    model = DescriptorModel("dlib_resnet", "1", 4)
    four = Embeddings(np.eye(4, dtype=np.float32), model)
    assert len(four.take([])) == 0 and len(four.take([2, 0])) == 2
