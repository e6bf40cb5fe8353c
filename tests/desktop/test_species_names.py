"""A typed species on the device is named as the hub's admin names it: a name or folder id
the pack lists is its display name; anything else is refused, naming close matches, unless
the officer says it is a new species (``--new-species``, or Yes in the app)."""

from __future__ import annotations

import pytest

from desktop.catch_errors import CatchError
from desktop.species_names import UnknownSpeciesError, species_name
from inference.fish.types import Species

KNOWN = (
    Species("fish_01", "Dascyllus reticulatus"),
    Species("fish_03", "Chromis chrysura"),
    Species("fish_04", "Amphiprion clarkii"),
)


def test_a_name_or_folder_id_the_pack_lists_is_its_display_name() -> None:
    assert species_name("fish_04", KNOWN) == "Amphiprion clarkii"
    assert species_name("  amphiprion   CLARKII ", KNOWN) == "Amphiprion clarkii"
    assert species_name("FISH_01", KNOWN, new_species=True) == "Dascyllus reticulatus"


@pytest.mark.parametrize(
    ("typed", "close"),
    [("fish_4", "Amphiprion clarkii (fish_04)"), ("Amphiprion clarki", "Amphiprion clarkii")],
)
def test_a_species_the_pack_does_not_list_is_refused_in_one_line_naming_close_matches(
    typed: str, close: str
) -> None:
    """An old folder id or a typo became a species of its own on the device, which the
    hub's admin refuses unless "New species" is ticked."""
    with pytest.raises(UnknownSpeciesError) as refused:
        species_name(typed, KNOWN)
    message = str(refused.value)
    assert repr(typed) in message and close in message and "\n" not in message


def test_a_species_far_from_any_is_refused_saying_none_is_close() -> None:
    with pytest.raises(UnknownSpeciesError, match="none of its 3 species is close"):
        species_name("Lutjanus sebae", KNOWN)


def test_a_new_species_is_kept_as_typed_when_the_officer_says_so() -> None:
    assert species_name("  Lutjanus   sebae ", KNOWN, new_species=True) == "Lutjanus sebae"


def test_with_no_pack_to_check_against_a_species_is_kept_as_typed() -> None:
    """As the hub keeps one when it knows no species list."""
    assert species_name("  Lutjanus   sebae ", ()) == "Lutjanus sebae"


@pytest.mark.parametrize("known", [KNOWN, ()])
@pytest.mark.parametrize("hidden", ["\u202e", "\u2067", "\u200e", "\x1b"])
def test_a_species_that_would_show_as_another_is_refused_even_as_a_new_one(
    known: tuple[Species, ...], hidden: str
) -> None:
    """A bidirectional override shows the review queue and the exports another name than the
    one stored, and a control character is no part of a name: refused as typed, not as a
    species the pack does not list (which the officer could then keep as a new one)."""
    with pytest.raises(CatchError) as refused:
        species_name(f"Lutjanus {hidden}sebae", known, new_species=True)
    assert not isinstance(refused.value, UnknownSpeciesError)
    assert str(refused.value) == (
        f"a species name holds no control character or bidirectional override ({hidden!a})"
    )
