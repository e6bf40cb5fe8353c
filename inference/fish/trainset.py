"""From a data folder to arrays: scan, screen, split by group, backbone features.

Shared by head training and by the fine-tune (which uses the split but not the features).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.fish.dataset import FishDataset, Sample, load_dataset, skipped_note
from inference.fish.errors import DatasetError, SpeciesMismatchError
from inference.fish.features import BackboneFeatures, screen
from inference.fish.images import DEFAULT_GATE, FloatArray, QualityGate
from inference.fish.metrics import IntArray
from inference.fish.split import join_identical, split_by_group
from inference.fish.types import Species


@dataclass(frozen=True)
class PreparedData:
    """A screened data set, its known/held-out species, and a group split of the known ones."""

    dataset: FishDataset  # only the images that decoded and passed the quality gate
    hashes: tuple[str, ...]  # content sha256 per sample of ``dataset``
    rejected: tuple[tuple[Path, str], ...]
    known: tuple[Species, ...]
    held_out: tuple[Species, ...]
    train: tuple[int, ...]
    validation: tuple[int, ...]
    unknown: tuple[int, ...]  # samples of held-out species
    validation_groups: frozenset[str]

    def labels(self, indices: Sequence[int]) -> IntArray:
        index = {s.id: i for i, s in enumerate(self.known)}
        return np.array([index[self.dataset.samples[i].species_id] for i in indices], np.int64)

    def paths(self, indices: Sequence[int]) -> list[Path]:
        return [self.dataset.samples[i].path for i in indices]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images and groups per known species on each side of the split."""
        result: dict[str, dict[str, int]] = {}
        for side, indices in (("train", self.train), ("val", self.validation)):
            images = Counter(self.dataset.samples[i].species_id for i in indices)
            groups = Counter(
                sid for sid, _ in {
                    (self.dataset.samples[i].species_id, self.dataset.samples[i].group)
                    for i in indices
                }
            )  # fmt: skip
            for s in self.known:
                row = result.setdefault(s.id, {})
                row[f"{side}_images"], row[f"{side}_groups"] = images[s.id], groups[s.id]
        return result

    def notes(self) -> list[str]:
        """What training says before it starts: each photo left out, and why (unreadable, or
        the quality gate's no-fish answer), then the species without a display name."""
        lines = [skipped_note(path, reason) for path, reason in self.rejected]
        if note := self.dataset.unnamed_note():
            lines.append(note)
        return lines


def prepare(
    root: Path,
    *,
    holdout: Sequence[str] = (),
    validation_fraction: float = 0.2,
    seed: int = 0,
    gate: QualityGate = DEFAULT_GATE,
) -> PreparedData:
    full = load_dataset(root)
    unknown_ids = sorted(set(holdout) - set(full.species_ids))
    if unknown_ids:
        raise SpeciesMismatchError(
            f"--holdout names species that are not folders of {root}: {', '.join(unknown_ids)}"
        )
    screened = screen([s.path for s in full.samples], gate)
    dataset = full.subset(screened.kept)
    lost = [s.id for s in full.species if s.id not in dataset.species_ids]
    if lost:  # a pack without them would never name them, and say nothing of it
        species_of = {sample.path: sample.species_id for sample in full.samples}
        first = next(r for r in screened.rejected if species_of[r[0]] == lost[0])
        raise DatasetError(
            f"every image of {', '.join(lost)} in {root} is unreadable or shows no fish "
            f"(the first: {first[0].name}: {first[1]}); fix or remove the folder"
        )
    known = tuple(s for s in full.species if s.id not in holdout)
    held_out = tuple(s for s in full.species if s.id in holdout)
    known_ids = {s.id for s in known}
    known_idx = [i for i, s in enumerate(dataset.samples) if s.species_id in known_ids]
    _refuse_one_photo_under_two_species(dataset, screened.hashes)
    groups = join_identical([s.group for s in dataset.samples], screened.hashes)
    split = split_by_group(
        [dataset.samples[i].species_id for i in known_idx],
        [groups[i] for i in known_idx],
        validation_fraction=validation_fraction,
        seed=seed,
    )
    if not split.validation or len(known) < 2:
        raise DatasetError(
            f"{root}: need two species or more, and at least one with two groups "
            "(tracks, trips) so that something can be validated"
        )
    train = tuple(known_idx[i] for i in split.train)
    validation = tuple(known_idx[i] for i in split.validation)
    _refuse_untrained(root, known, {dataset.samples[i].species_id for i in train})
    unknown = tuple(i for i, s in enumerate(dataset.samples) if s.species_id in holdout)
    return PreparedData(
        dataset, screened.hashes, screened.rejected, known, held_out, train, validation,
        unknown, frozenset(dataset.samples[i].group for i in validation),
    )  # fmt: skip


def _refuse_one_photo_under_two_species(dataset: FishDataset, hashes: Sequence[str]) -> None:
    """The same bytes filed under two species (a sorting slip) would teach, or test, two
    answers for one photo."""
    first: dict[str, Sample] = {}
    clashes = []
    for sample, digest in zip(dataset.samples, hashes, strict=True):
        seen = first.setdefault(digest, sample)
        if seen.species_id != sample.species_id:
            clashes.append(f"{seen.relative} and {sample.relative}")
    if clashes:
        raise DatasetError(
            f"the same photo is filed under two species in {dataset.root}: "
            f"{'; '.join(clashes[:5])}{' ...' if len(clashes) > 5 else ''}; "
            "keep each photo in its species' folder only"
        )


def _refuse_untrained(root: Path, known: Sequence[Species], trained: set[str]) -> None:
    """A species without a training image would be a class of the pack that it never saw."""
    untrained = [s.id for s in known if s.id not in trained]
    if untrained:
        raise DatasetError(
            f"no training image of {', '.join(untrained)} in {root}: every group holding "
            "them went to validation; add photos from another group (track, trip)"
        )


@dataclass(frozen=True)
class FeatureSets:
    train: tuple[FloatArray, IntArray]  # plain and augmented views, stacked
    validation: tuple[FloatArray, IntArray]
    unknown: FloatArray


def feature_sets(
    data: PreparedData,
    backbone: BackboneFeatures,
    views: int,
    progress: Callable[[str], None] = lambda line: None,
) -> FeatureSets:
    def of(indices: Sequence[int], view: int) -> FloatArray:
        hashes = [data.hashes[i] for i in indices]
        return backbone.of_files(data.paths(indices), hashes, view)

    progress(f"backbone features: {len(data.dataset.samples)} images, {views} augmented views")
    train_y = data.labels(data.train)
    train_x = [of(data.train, 0)] + [of(data.train, view) for view in range(1, views + 1)]
    return FeatureSets(
        train=(np.concatenate(train_x), np.tile(train_y, views + 1)),
        validation=(of(data.validation, 0), data.labels(data.validation)),
        unknown=of(data.unknown, 0),
    )
