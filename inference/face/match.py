"""Matching descriptors: 1:1 verification and 1:N open-set identification, in memory.

:class:`GalleryIndex` holds every template of a gallery in one contiguous float32 matrix,
sorted so that each identity's templates are one block. A 1:N query is one matrix-vector
product over all templates followed by a per-block maximum (``np.maximum.reduceat``), so
its cost is linear in the templates with no Python loop: at 100k templates (25k people) a
query takes a median 6 ms on one core of the development machine (``tools/bench_gallery.py``).
Building the index from arrays is all it does: where the templates come from (the encrypted
store) is the caller's business.

Similarity is the cosine of unit descriptors, in [-1, 1]. dlib's Euclidean tolerance on its
raw descriptors maps to it by ``distance = norm * sqrt(2 - 2 * cosine)`` with the raw norm
about 1.41, so dlib's 0.6 is a cosine of about 0.909
(:func:`inference.face.embed.cosine_to_dlib_distance`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.errors import InputError
from inference.face.embed import DescriptorModel, Embeddings
from inference.face.types import Aggregate

FloatArray = npt.NDArray[np.float32]


class ModelMismatchError(InputError):
    """Descriptors of different models (or recipes) were about to be compared."""


class UnknownIdentityError(InputError):
    """A verification claimed an identity that has no template in the gallery."""


@dataclass(frozen=True)
class MatchSettings:
    """Matching thresholds (cosine similarity of unit descriptors of the default recipe,
    ``dlib_resnet@1/chip+mirror`` on ``yunet5-dlib150-v1`` chips) and policies.

    Measured on ``../shared/data/faces`` by ``tools/compare_face_recognition.py`` and
    ``tools/identify_benchmarks.py``; a deployer re-calibrates with ``jaga eval pairs`` and
    ``jaga eval identify`` on their own faces and cameras.
    """

    verify_threshold: float = 0.911
    """1:1 accept at or above this similarity. The mean of the five thresholds that maximise
    accuracy on four LFW folds each (0.908-0.911), which gives 98.43 % cross-validated
    accuracy on the held-out folds; on LFW it accepts about 1 % of impostor pairs (FAR 1e-2
    is at 0.913, FAR 1e-3 at 0.923: sites that fear false accepts more raise it).

    **It does not carry over to every population.** On NUAA's webcam frames (9 East Asian
    people, every 6th live frame) and the shared phone photo of a tenth person, 3,243 of
    4,551 impostor pairs (71 %) reach 0.911 and 250 (5.5 %) reach 0.947; there FAR 1e-2 is
    at 0.955, which keeps 99.1 % of the genuine cross-session pairs
    (``python -m tools.measure_face_impostors``). LFW's people are mostly of European
    descent. So a site calibrates on its own people before relying on the default
    descriptor (``jaga eval pairs``), and a kiosk warns when two enrolled people already
    pass as each other (:meth:`GalleryIndex.overlaps`)."""
    identify_threshold: float = 0.947
    """1:N: the best identity is reported only at or above this; below it the answer is
    "unknown". Open-set LFW (205 people with 4+ images, 3 enrolled each, half the people
    withheld in turn as unknowns): 1 % of unknown probes are taken for someone at 0.947,
    while 86.6 % of enrolled people are identified. A higher bar than 1:1 because an unknown
    face meets every identity of the gallery: larger galleries need it higher still.

    No margin between the first two candidates is asked for: at 0.947 no enrolled probe was
    taken for someone else (0 of 561, and of 1,683 with 4 groups withheld), the error a
    margin is for. A margin of 0.02 would cut false alarms from 5 of 561 to 1, at 3.7
    points of identification; too few events to choose a number on
    (``python -m tools.measure_identify_margin``)."""
    top_k: int = 5
    """Candidates a 1:N query returns."""
    aggregate: Aggregate = Aggregate.MAX
    """How several templates of one identity combine. Max: on LFW (3 enrolled, 561 probes)
    rank-1 97.9 % against 97.3 % for the mean, identification at 1 % false alarms 86.6 %
    against 85.0 %; on ORL both reach rank-1 100 %. One good enrolment outweighs a poor
    one, and the caller can still enrol carefully; mean is cheaper (one row per person)."""

    def __post_init__(self) -> None:
        if not (-1.0 <= self.verify_threshold <= 1.0 and -1.0 <= self.identify_threshold <= 1.0):
            raise ValueError("thresholds are cosine similarities in [-1, 1]")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")


@dataclass(frozen=True)
class IdentityPair:
    """Two different identities (``first`` before ``second``) and the similarity of their
    closest templates."""

    similarity: float
    first: str
    second: str


@dataclass(frozen=True)
class Overlaps:
    """How many pairs of identities reach a threshold, and the closest few, closest first."""

    count: int
    closest: tuple[IdentityPair, ...]


@dataclass(frozen=True)
class Verification:
    """A 1:1 answer: the probe's similarity to the claimed identity's templates."""

    claimed: str
    similarity: float
    threshold: float
    templates: int

    @property
    def matched(self) -> bool:
        return self.similarity >= self.threshold


@dataclass(frozen=True)
class Candidate:
    identity: str
    similarity: float


@dataclass(frozen=True)
class Identification:
    """A 1:N answer: the best candidates, best first, and the open-set threshold."""

    candidates: tuple[Candidate, ...]
    threshold: float

    @property
    def identity(self) -> str | None:
        """The best candidate at or above the threshold; None means "unknown"."""
        if self.candidates and self.candidates[0].similarity >= self.threshold:
            return self.candidates[0].identity
        return None


def aggregate_similarity(
    probe: Embeddings, templates: Embeddings, aggregate: Aggregate = Aggregate.MAX
) -> float:
    """One probe's similarity to a set of templates of one identity."""
    _check_same_model(probe.model, templates.model)
    if len(probe) != 1 or len(templates) == 0:
        raise InputError(f"need one probe and some templates, got {len(probe)}, {len(templates)}")
    similarities = templates.vectors @ probe.vectors[0]
    return float(similarities.max() if aggregate is Aggregate.MAX else similarities.mean())


def verify(
    probe: Embeddings, claimed: str, templates: Embeddings, settings: MatchSettings | None = None
) -> Verification:
    """1:1 verification against the claimed identity's templates (no index needed)."""
    settings = settings or MatchSettings()
    similarity = aggregate_similarity(probe, templates, settings.aggregate)
    return Verification(claimed, similarity, settings.verify_threshold, len(templates))


class GalleryIndex:
    """Every template of a gallery, searchable 1:1 and 1:N."""

    def __init__(
        self,
        templates: Embeddings,
        identities: Sequence[str],
        settings: MatchSettings | None = None,
    ) -> None:
        if len(identities) != len(templates):
            raise InputError(f"{len(templates)} templates but {len(identities)} identities")
        self.model = templates.model
        self.settings = settings or MatchSettings()
        order, names, self._starts = _identity_blocks(identities)
        self.identities: tuple[str, ...] = names
        self._ends = np.append(self._starts[1:], len(order)).astype(np.intp)
        self._position = {name: i for i, name in enumerate(self.identities)}
        self._matrix: FloatArray = np.ascontiguousarray(templates.vectors[order], np.float32)
        self._means = self._block_means() if self.settings.aggregate is Aggregate.MEAN else None

    @classmethod
    def from_arrays(
        cls,
        vectors: npt.NDArray[np.floating],
        identities: Sequence[str],
        model: DescriptorModel,
        settings: MatchSettings | None = None,
    ) -> GalleryIndex:
        """An index over stored unit vectors (n x dimension) and their identities."""
        return cls(
            Embeddings(np.ascontiguousarray(vectors, np.float32), model), identities, settings
        )

    def __len__(self) -> int:
        """The number of templates."""
        return len(self._matrix)

    def __contains__(self, identity: object) -> bool:
        return identity in self._position

    def templates_of(self, identity: str) -> Embeddings:
        block = self._block(identity)
        return Embeddings(self._matrix[block], self.model)

    def verify(self, probe: Embeddings, claimed: str) -> Verification:
        """1:1: the probe against the claimed identity's templates only."""
        return verify(probe, claimed, self.templates_of(claimed), self.settings)

    def identify(self, probe: Embeddings, k: int | None = None) -> Identification:
        """1:N: the top-k identities for one probe; "unknown" below the threshold."""
        if len(probe) != 1:
            raise InputError(f"identify takes one probe, got {len(probe)}; use identify_many")
        return self.identify_many(probe, k)[0]

    def identify_many(self, probes: Embeddings, k: int | None = None) -> list[Identification]:
        """1:N for each probe (one matrix product for all of them)."""
        scores = self.scores(probes)
        count = min(k or self.settings.top_k, len(self.identities))
        threshold = self.settings.identify_threshold
        if count == 0:
            return [Identification((), threshold) for _ in range(len(probes))]
        top = np.argpartition(-scores, count - 1, axis=1)[:, :count]
        answers = []
        for row, columns in zip(scores, top, strict=True):
            best_first = columns[np.argsort(-row[columns], kind="stable")]
            answers.append(
                Identification(
                    tuple(Candidate(self.identities[c], float(row[c])) for c in best_first),
                    threshold,
                )
            )
        return answers

    def closest_identities(
        self, rows_per_block: int | None = None
    ) -> tuple[float, str, str] | None:
        """The two different identities whose templates come closest, and their similarity
        (None with fewer than two), as :meth:`overlaps` finds them."""
        closest = self.overlaps(-math.inf, 1, rows_per_block).closest
        return (closest[0].similarity, closest[0].first, closest[0].second) if closest else None

    def overlaps(self, threshold: float, most: int, rows_per_block: int | None = None) -> Overlaps:
        """The pairs of different identities whose closest templates reach ``threshold``,
        each counted once, and the ``most`` closest of them. At or above a 1:1 or 1:N
        threshold one enrolled person passes as the other there: the threshold is too low
        for these people, and often for more than one pair. Every pair of templates is
        compared once, in blocks of whole identities of up to about 32 MiB of similarities
        each, so the time grows with the square of the templates: callers bound it."""
        count, found = 0, list[tuple[float, int, int]]()
        for first, last in self._identity_row_blocks(rows_per_block):
            pairs = self._pairs_onwards(first, last)
            # Never an identity with itself, and the threshold as the float it is (a float32
            # comparison would round it).
            later = np.arange(len(pairs))[:, None] < np.arange(pairs.shape[1])[None, :]
            rows, columns = np.nonzero((pairs >= np.float64(threshold)) & later)
            similarities = pairs[rows, columns]
            count += len(similarities)
            keep = _largest(similarities, most)
            found += zip(similarities[keep].tolist(), (rows[keep] + first).tolist(),
                         (columns[keep] + first).tolist(), strict=True)  # fmt: skip
        closest = sorted(found, key=lambda pair: (-pair[0], pair[1], pair[2]))[:most]
        return Overlaps(count, tuple(IdentityPair(min(1.0, similarity), self.identities[i],
                                                  self.identities[j])
                                     for similarity, i, j in closest))  # fmt: skip

    def _identity_row_blocks(self, rows_per_block: int | None) -> list[tuple[int, int]]:
        """Runs of whole identities (first, past the last) of about ``rows_per_block``
        templates: a pair is then judged on all of its first identity's templates at once."""
        if not self.identities:
            return []
        if rows_per_block is None:
            rows_per_block = max(1, (32 << 20) // (4 * len(self._matrix)))
        cuts = np.flatnonzero(np.diff(self._starts // rows_per_block)) + 1
        bounds = [0, *cuts.tolist(), len(self.identities)]
        return list(itertools.pairwise(bounds))

    def _pairs_onwards(self, first: int, last: int) -> FloatArray:
        """(identities first..last-1, identities first..): the similarity of each pair's
        closest templates. Pairs with an earlier identity were judged from its block."""
        offset = self._starts[first]
        similarities = self._matrix[offset : self._ends[last - 1]] @ self._matrix[offset:].T
        by_row = np.empty((last - first, similarities.shape[1]), np.float32)
        # One reduction per identity: np.maximum.reduceat along the rows of a matrix this
        # wide takes as long as the product itself (numpy 2.4), a loop a tenth of it.
        bounds = zip(
            self._starts[first:last] - offset, self._ends[first:last] - offset, strict=True
        )
        for row, (start, end) in enumerate(bounds):
            np.max(similarities[start:end], axis=0, out=by_row[row])
        return np.asarray(np.maximum.reduceat(by_row, self._starts[first:] - offset, axis=1))

    def scores(self, probes: Embeddings) -> FloatArray:
        """Each probe's similarity to every identity, (probes, identities), in the order of
        :attr:`identities`."""
        _check_same_model(probes.model, self.model)
        if not self.identities:
            return np.zeros((len(probes), 0), np.float32)
        if self._means is not None:
            return np.asarray(probes.vectors @ self._means.T, np.float32)
        if len(probes) == 1:  # matrix @ vector is BLAS gemv, measurably faster than a 1-row gemm
            similarities = (self._matrix @ probes.vectors[0])[None, :]
        else:
            similarities = probes.vectors @ self._matrix.T
        return np.asarray(np.maximum.reduceat(similarities, self._starts, axis=1), np.float32)

    def _block(self, identity: str) -> slice:
        position = self._position.get(identity)
        if position is None:
            raise UnknownIdentityError(f"no templates for {identity!r} in the gallery")
        return slice(int(self._starts[position]), int(self._ends[position]))

    def _block_means(self) -> FloatArray:
        sums = np.add.reduceat(self._matrix, self._starts, axis=0) if len(self._matrix) else None
        if sums is None:
            return np.zeros((0, self.model.dimension), np.float32)
        counts = (self._ends - self._starts).astype(np.float32)[:, None]
        return np.ascontiguousarray(sums / counts, np.float32)


def _identity_blocks(
    identities: Sequence[str],
) -> tuple[npt.NDArray[np.intp], tuple[str, ...], npt.NDArray[np.intp]]:
    """The order that groups templates by identity (stable, identities sorted), the sorted
    identities, and where each identity's block starts in that order."""
    if not identities:
        return np.zeros(0, np.intp), (), np.zeros(0, np.intp)
    labels = np.asarray(identities, dtype=str)
    order = np.argsort(labels, kind="stable")
    names, starts = np.unique(labels[order], return_index=True)
    return order, tuple(str(name) for name in names), np.asarray(starts, np.intp)


def _largest(values: FloatArray, most: int) -> npt.NDArray[np.intp]:
    """Where the ``most`` largest of ``values`` are, in no order."""
    if len(values) <= most:
        return np.arange(len(values))
    return np.argpartition(-values, most)[:most]


def _check_same_model(probe: DescriptorModel, gallery: DescriptorModel) -> None:
    if probe != gallery:
        raise ModelMismatchError(
            f"probe made by {probe.key}, templates by {gallery.key}: re-enrol with one model"
        )
