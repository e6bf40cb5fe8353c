"""Stratified group split: every group lies wholly in train or in validation.

Groups are assigned per species (a group's species is the most common among its images), so
each species keeps roughly the same share of its *groups* in validation. A group can hold
several species (the hub's export groups by trip), so the shares are then repaired: every
species keeps at least one group in training (a species with a single group is trained on
and never validated), and every species with two groups or more gets one in validation
where that takes no species' last training group.

Byte-identical photos are one photo: :func:`join_identical` puts them in one group before
the split, so a copy can never validate the photo it was copied from.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]  # sample indices
    validation: tuple[int, ...]
    validation_groups: frozenset[str]


def split_by_group(
    labels: Sequence[str],
    groups: Sequence[str],
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = 0,
) -> Split:
    """Split sample indices so that no group is on both sides."""
    if len(labels) != len(groups):
        raise ValueError("labels and groups must have one entry per sample")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation fraction {validation_fraction} is not in (0, 1)")
    rng = random.Random(seed)
    chosen: set[str] = set()
    for species_groups in _groups_by_species(labels, groups).values():
        rng.shuffle(species_groups)
        chosen.update(species_groups[: _validation_count(len(species_groups), validation_fraction)])
    _repair(_groups_of(labels, groups), chosen)
    validation = tuple(i for i, group in enumerate(groups) if group in chosen)
    train = tuple(i for i, group in enumerate(groups) if group not in chosen)
    return Split(train, validation, frozenset(chosen))


def join_identical(groups: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Each sample's group, joined with the groups of every sample of the same ``key`` (the
    content sha256): a joined group is named by the first of its groups in sorted order."""
    parent = {group: group for group in groups}

    def root(group: str) -> str:
        while parent[group] != group:
            group = parent[group]
        return group

    first_of: dict[str, str] = {}
    for group, key in zip(groups, keys, strict=True):
        a, b = sorted((root(group), root(first_of.setdefault(key, group))))
        parent[b] = a
    return [root(group) for group in groups]


def _groups_by_species(labels: Sequence[str], groups: Sequence[str]) -> dict[str, list[str]]:
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for label, group in zip(labels, groups, strict=True):
        votes[group][label] += 1
    by_species: dict[str, list[str]] = defaultdict(list)
    for group in sorted(votes):  # sorted first, so the shuffle alone decides, by the seed
        label = min(votes[group].items(), key=lambda item: (-item[1], item[0]))[0]
        by_species[label].append(group)
    return dict(sorted(by_species.items()))


def _validation_count(n_groups: int, fraction: float) -> int:
    if n_groups < 2:
        return 0  # the only group must teach the species; it cannot also test it
    return min(n_groups - 1, max(1, round(fraction * n_groups)))


def _groups_of(labels: Sequence[str], groups: Sequence[str]) -> dict[str, set[str]]:
    """Species -> every group holding an image of it (not only the groups it leads)."""
    found: dict[str, set[str]] = defaultdict(set)
    for label, group in zip(labels, groups, strict=True):
        found[label].add(group)
    return dict(sorted(found.items()))


def _repair(groups_of: dict[str, set[str]], chosen: set[str]) -> None:
    """Give back to training one group of each species left with none, the group whose move
    costs the fewest species their validation; then validate each species left with none,
    on a group whose every species keeps another group in training."""
    species_in: dict[str, set[str]] = defaultdict(set)
    for species, its_groups in groups_of.items():
        for group in its_groups:
            species_in[group].add(species)

    def unvalidated_by_moving(group: str) -> int:
        return sum(groups_of[s] & chosen == {group} for s in species_in[group])

    for its_groups in groups_of.values():
        if its_groups <= chosen:
            chosen.discard(min(sorted(its_groups), key=unvalidated_by_moving))
    for its_groups in groups_of.values():
        if len(its_groups) < 2 or its_groups & chosen:
            continue
        for group in sorted(its_groups):
            if all(groups_of[s] - chosen - {group} for s in species_in[group]):
                chosen.add(group)
                break
