"""Loading face templates into numpy for the 1:N index, one gallery per model.

A gallery holds the templates of exactly one ``ModelRef``: embeddings of two models live in
different spaces, and comparing them gives confident nonsense. Loading is one query, one
``bytes.join`` and one ``np.frombuffer``: no per-row numpy work, so 100k templates cost about
what SQLCipher needs to decrypt them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sync.errors import StoreCorruptError
from sync.store.records import ModelRef

_FLOAT32_LE = np.dtype("<f4")
_CHUNK_ROWS = 16_384


@dataclass(frozen=True, eq=False)
class Gallery:
    """Templates of one model: ``vectors[i]`` belongs to local person id ``person_ids[i]``."""

    model: ModelRef
    vectors: NDArray[np.float32]
    person_ids: NDArray[np.int64]
    template_ids: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def normalized(self) -> NDArray[np.float32]:
        """Unit-length rows (a copy), ready for cosine similarity as a dot product."""
        return normalize_rows(self.vectors)


def normalize_rows(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def gallery_models(connection: Any) -> list[ModelRef]:
    rows = connection.execute(
        "SELECT DISTINCT model_id, model_version FROM face_templates ORDER BY 1, 2"
    ).fetchall()
    return [ModelRef(model_id, version) for model_id, version in rows]


def model_dim(connection: Any, model: ModelRef) -> int | None:
    """The vector length already used by this model in the store, if any."""
    row = connection.execute(
        "SELECT dim FROM face_templates WHERE model_id = ? AND model_version = ? LIMIT 1",
        (model.model_id, model.model_version),
    ).fetchone()
    return None if row is None else int(row[0])


def load_gallery(connection: Any, model: ModelRef) -> Gallery:
    """All templates of ``model``, in enrolment order.

    Call inside a transaction (``Store.gallery`` does): the count and the rows must come
    from one snapshot. Rows stream in chunks into preallocated arrays, so the peak memory is
    the gallery itself plus one chunk, not a Python object per template.
    """
    where = "WHERE model_id = ? AND model_version = ?"
    parameters = (model.model_id, model.model_version)
    dim = model_dim(connection, model)
    count = int(
        connection.execute(f"SELECT count(*) FROM face_templates {where}", parameters).fetchone()[0]
    )
    if dim is None or count == 0:
        return _empty(model, dim or 0)
    vectors = np.empty((count, dim), dtype=np.float32)
    person_ids = np.empty(count, dtype=np.int64)
    template_ids = np.empty(count, dtype=np.int64)
    cursor = connection.execute(
        f"SELECT id, person_id, vector FROM face_templates {where} ORDER BY id", parameters
    )
    filled = 0
    while rows := cursor.fetchmany(_CHUNK_ROWS):
        end = filled + len(rows)
        if end > count:
            raise StoreCorruptError(f"templates of {model} changed while loading")
        ids, people, blobs = zip(*rows, strict=True)
        vectors[filled:end] = _as_matrix(b"".join(blobs), len(rows), dim, model)
        template_ids[filled:end] = ids
        person_ids[filled:end] = people
        filled = end
    if filled != count:
        raise StoreCorruptError(f"templates of {model} changed while loading")
    vectors.setflags(write=False)
    return Gallery(model, vectors, person_ids, template_ids)


def _as_matrix(buffer: bytes, rows: int, dim: int, model: ModelRef) -> NDArray[np.float32]:
    if len(buffer) != rows * dim * _FLOAT32_LE.itemsize:
        raise StoreCorruptError(f"templates of {model} do not all have {dim} dimensions")
    return np.frombuffer(buffer, dtype=_FLOAT32_LE).reshape(rows, dim)


def best_match_per_person(
    gallery: Gallery, probes: Sequence[NDArray[np.float32]], threshold: float
) -> dict[int, float]:
    """Local person id -> highest cosine similarity of any probe to any of their templates,
    for the persons at or above ``threshold``."""
    if not len(gallery) or not probes:
        return {}
    similarities = normalize_rows(np.stack(probes)) @ gallery.normalized().T
    best_per_template = similarities.max(axis=0)
    hits = np.flatnonzero(best_per_template >= threshold)
    best: dict[int, float] = {}
    for index in hits:
        person = int(gallery.person_ids[index])
        best[person] = max(best.get(person, -1.0), float(best_per_template[index]))
    return best


def _empty(model: ModelRef, dim: int) -> Gallery:
    return Gallery(
        model=model,
        vectors=np.empty((0, dim), dtype=np.float32),
        person_ids=np.empty(0, dtype=np.int64),
        template_ids=np.empty(0, dtype=np.int64),
    )
