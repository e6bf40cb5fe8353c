"""A species typed on the device, named as the hub's admin names it (``sync.hub.species_names``).

A name or folder id the pack lists, in any case or spacing, is that species' display name (a
name first: a species named like another's folder id is that species). Anything else is
refused (``UnknownSpeciesError``, naming the pack's species closest to it), so that an old
folder id (``fish_4``) or a typo never becomes a species of its own, unless the officer says
it is a new species, to teach the next pack: then it is kept as typed, its spacing tidied.
With no pack to check against (none loads), a species is kept as typed, as the hub keeps one
when it knows no species list. A name holding a control character or a bidirectional
override (``sync.protocol.names``: shown as another name than the one stored) is refused
first, as typed, so the officer is never asked to keep it as a new species.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from desktop.catch_errors import CatchError
from inference.fish.types import Species, species_key
from sync.protocol.names import hidden_characters_problem

CLOSE_MATCHES = 3
_CLOSE_ENOUGH = 0.6  # difflib's own default: "fish_4" is close to "fish_04", not to "fish_17"


class UnknownSpeciesError(CatchError):
    """A typed species the pack lists neither by name nor by folder id; the message, one
    line, names the species of the pack closest to it. Nothing was written."""

    def __init__(self, typed: str, known: Sequence[Species]) -> None:
        self.typed = typed
        close = close_matches(typed, known)
        listed = f"close: {', '.join(close)}" if close else None
        listed = listed or f"none of its {len(known)} species is close"
        super().__init__(f"{typed!r} is not a species of the pack ({listed})")


def species_name(typed: str, known: Sequence[Species], *, new_species: bool = False) -> str:
    """The pack's display name for a species typed as its name or folder id; one the pack
    does not list is :class:`UnknownSpeciesError`, unless ``new_species`` (or no pack is
    known): then it is kept as typed, its spacing tidied. One that would show as another
    name is a plain :class:`CatchError`, whatever ``new_species`` says."""
    tidied = " ".join(typed.split())  # a tab or line break pasted in is spacing, tidied
    if problem := hidden_characters_problem(tidied, "a species name"):
        raise CatchError(problem)
    wanted = species_key(typed)
    by_name = (s.name for s in known if species_key(s.name) == wanted)
    by_id = (s.name for s in known if species_key(s.id) == wanted)
    name = next(by_name, None) or next(by_id, None)
    if name is not None:
        return name
    if new_species or not known:
        return tidied
    raise UnknownSpeciesError(tidied, known)


def close_matches(typed: str, known: Sequence[Species]) -> list[str]:
    """The pack's species closest to ``typed`` by name or folder id, best first, each once:
    its name, with its folder id where the id is what came close."""
    shown: dict[str, tuple[str, str]] = {}  # key -> (the species' name, how it is shown)
    for species in known:
        shown.setdefault(species_key(species.name), (species.name, species.name))
        shown.setdefault(species_key(species.id), (species.name, f"{species.name} ({species.id})"))
    keys = difflib.get_close_matches(species_key(typed), shown, CLOSE_MATCHES, _CLOSE_ENOUGH)
    first: dict[str, str] = {}
    for key in keys:
        name, text = shown[key]
        first.setdefault(name, text)
    return list(first.values())


def new_species_question(refused: UnknownSpeciesError) -> str:
    """What the app asks before it keeps a species the pack does not list."""
    return (
        f"{refused}. Is it a new species, to be kept as typed and taught to the next pack?"
        " (No: nothing is stored; type one of the pack's species instead.)"
    )
