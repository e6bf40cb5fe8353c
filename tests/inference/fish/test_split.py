"""The split is by group: no track is ever on both sides, every species is validated if it can."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from inference.fish.dataset import load_dataset
from inference.fish.split import join_identical, split_by_group


def _check_disjoint(groups: list[str], train: tuple[int, ...], validation: tuple[int, ...]) -> None:
    assert not {groups[i] for i in train} & {groups[i] for i in validation}
    assert sorted(train + validation) == list(range(len(groups)))


def test_no_group_is_on_both_sides_and_every_species_with_two_groups_is_validated() -> None:
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 3 + ["d"] * 2
    groups = [f"a{i // 2}" for i in range(10)] + [f"b{i // 3}" for i in range(6)]
    groups += ["c0", "c0", "c0", "d0", "d1"]
    split = split_by_group(labels, groups, validation_fraction=0.2, seed=3)
    _check_disjoint(groups, split.train, split.validation)
    validated = {labels[i] for i in split.validation}
    trained = {labels[i] for i in split.train}
    assert validated == {"a", "b", "d"}  # c has one group: it can only be trained on
    assert trained == {"a", "b", "c", "d"}


def test_the_seed_decides_and_repeats() -> None:
    labels = ["a"] * 40
    groups = [str(i) for i in range(40)]
    first = split_by_group(labels, groups, seed=1)
    assert first == split_by_group(labels, groups, seed=1)
    assert first.validation != split_by_group(labels, groups, seed=2).validation


def test_a_group_shared_by_two_species_stays_whole() -> None:
    labels = ["a", "a", "b", "a", "b", "b"]
    groups = ["g1", "g2", "g2", "g3", "g4", "g5"]
    for seed in range(10):
        split = split_by_group(labels, groups, seed=seed)
        _check_disjoint(groups, split.train, split.validation)


def test_fish4knowledge_tracks_never_straddle_the_split(f4k: Path) -> None:
    dataset = load_dataset(f4k)
    groups = [sample.group for sample in dataset.samples]
    labels = [sample.species_id for sample in dataset.samples]
    assert dataset.group_source == "fish_<track>_<frame> names"
    split = split_by_group(labels, groups, seed=0)
    _check_disjoint(groups, split.train, split.validation)
    tracks: dict[str, set[str]] = defaultdict(set)
    for label, group in zip(labels, groups, strict=True):
        tracks[label].add(group)
    validated = {labels[i] for i in split.validation}
    assert validated == {label for label, seen in tracks.items() if len(seen) >= 2}


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_a_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        split_by_group(["a"], ["g"], validation_fraction=fraction)


def test_a_species_whose_groups_another_species_leads_still_keeps_one_to_train_on() -> None:
    """Trips hold several species (the hub's export groups by trip): a trip goes where its
    most common species sends it, and a minority species whose every trip went to
    validation would be a class the pack never saw a photo of."""
    labels = ["a"] * 12 + ["b", "b"]
    groups = [f"t{1 + i // 3}" for i in range(12)] + ["t1", "t2"]
    for seed in range(100):
        split = split_by_group(labels, groups, validation_fraction=0.5, seed=seed)
        _check_disjoint(groups, split.train, split.validation)
        assert {labels[i] for i in split.train} == {"a", "b"}, seed
        assert "a" in {labels[i] for i in split.validation}, seed


def test_a_species_with_one_group_inside_another_species_group_is_all_in_training() -> None:
    labels = ["a", "a", "b", "a", "a"]
    groups = ["t1", "t1", "t1", "t2", "t3"]
    for seed in range(20):
        split = split_by_group(labels, groups, validation_fraction=0.5, seed=seed)
        _check_disjoint(groups, split.train, split.validation)
        assert 2 in split.train, seed
        assert {labels[i] for i in split.validation} == {"a"}, seed


def test_identical_photos_share_a_group() -> None:
    """The same bytes saved twice (IMG.png and IMG copy.png) are one photo, whatever group
    each file's name gives it: the two copies go to the same side."""
    groups = ["file:a/1.png", "file:a/1 copy.png", "file:a/2.png", "file:a/3.png"]
    joined = join_identical(groups, ["h1", "h1", "h2", "h1"])
    assert joined == ["file:a/1 copy.png"] * 2 + ["file:a/2.png", "file:a/1 copy.png"]
    assert join_identical(["g1", "g2"], ["h1", "h2"]) == ["g1", "g2"]
