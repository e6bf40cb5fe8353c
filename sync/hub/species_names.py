"""The species a hub reviewer may type: those of the species pack the sites' devices run.

A device stores a confirmed species by its pack's display name, whether the officer typed
the name or the folder id, in any case or spacing (``desktop.species_names.species_name``).
The hub names it the same way, or corrections.csv holds both ``fish_04`` and "Amphiprion clarkii"
and a training export without ``--species-from`` makes two folders of one species. The
species list is the one a new publication is checked against (``devices_species``): the
newest published pack's (every site is told of it), before any is published the default
pack's, which the composition root installs in ``sync.hub.pack_loader`` (``main.py``: sync
may not read the classifier's assets).
The hub refuses a species the pack does not know, as a device does: the reviewer sees the
list and what was typed, and a typo never becomes a species of its own.

Imports no Django at module level: ``sync.hub.review`` imports it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from sync.corrections import species_key
from sync.hub.pack_loader import installed_default_species
from sync.protocol import names
from sync.species_packs import archive_species

_log = logging.getLogger(__name__)


class UnknownSpeciesError(ValueError):
    """A typed species the current species pack does not list; the message names the pack
    and its species."""


@dataclass(frozen=True)
class SpeciesList:
    """The species a reviewer may confirm, and the pack they come from (for messages)."""

    pack: str
    species: dict[str, str]  # folder id -> display name

    def name_of(self, typed: str) -> str:
        """The display name of ``typed``, a name or folder id in any case and spacing (a
        name first: a species named like another's folder id is that species);
        ``UnknownSpeciesError`` for one the pack does not list."""
        if (name := self.named(typed)) is not None:
            return name
        wanted = species_key(typed)
        for species_id, name in self.species.items():
            if wanted == species_key(species_id):
                return name
        listed = ", ".join(sorted(self.species.values()))
        raise UnknownSpeciesError(
            f"{' '.join(typed.split())!r} is not a species of {self.pack}; type one of its"
            f" species (a name or folder id): {listed}"
        )

    def named(self, name: str) -> str | None:
        """The pack's display name for ``name``, a display name in any case and spacing, or
        None: what a top-k species named by an older pack is now, never matched with a
        folder id (an old "Chromis" is not the species whose folder is ``chromis``)."""
        wanted = species_key(name)
        for listed in self.species.values():
            if wanted == species_key(listed):
                return listed
        return None


class DefaultSpeciesError(Exception):
    """The default pack's species cannot be read (its reader's own words)."""


def devices_species() -> tuple[str, dict[str, str]]:
    """The pack the devices run now, in words, and its species (id -> display name): the
    last published pack, else the default pack every device installed; ``("no pack", {})``
    in a process that installed no default pack (a hub not started by ``jaga``).
    ``DefaultSpeciesError`` when the default pack's species cannot be read. What a new
    publication is checked against, and what a reviewer's typed species is named by."""
    from sync.hub.models import NEWEST_PACK_FIRST, SpeciesPack

    last = SpeciesPack.objects.defer("data").order_by(*NEWEST_PACK_FIRST).first()
    if last is not None:
        return f"{last.version}, the last published pack", _published_species(last.pk, last.sha256)
    source = installed_default_species()
    if source is None:
        return "no pack", {}
    try:
        named, species = source()
    except Exception as error:  # the default pack's reader's own errors: sync cannot name them
        raise DefaultSpeciesError(str(error)) from error
    return f"{named}, the default pack every device runs until a pack is published", species


@functools.lru_cache(maxsize=4)
def _species_of_pack(pk: int, sha256: str) -> tuple[tuple[str, str], ...]:
    """A published pack's species, read from its archive (tens of MB) once per process and
    pack, not at each reviewer's correction; ``sha256`` keys the cache to the bytes."""
    from sync.hub.models import SpeciesPack

    data = SpeciesPack.objects.values_list("data", flat=True).get(pk=pk)
    return tuple(archive_species(bytes(data)).items())


def _published_species(pk: int, sha256: str) -> dict[str, str]:
    return dict(_species_of_pack(pk, sha256))


def current_species() -> SpeciesList | None:
    """The species a reviewer may confirm (``devices_species``); None when none is known or
    the default pack's cannot be read (said in the log): the species is then kept as typed,
    as a device keeps one its pack does not list."""
    try:
        named, species = devices_species()
    except DefaultSpeciesError as error:
        _log.warning("cannot read the default species pack's species: %s", error)
        return None
    return SpeciesList(named, species) if species else None


def hidden_characters_problem(name: str) -> str | None:
    """Why ``name`` cannot be a species name a hub reviewer gives (it reaches every device
    of the site, and the training exports), or None: the rule every name of the protocol
    keeps (``sync.protocol.names``), said of a species name."""
    return names.hidden_characters_problem(name, "a species name")


def species_name(typed: str) -> str:
    """What the hub stores for a typed species: the current pack's display name (see the
    module); the text as typed, its spacing tidied, when no species list is known."""
    return name_by(current_species(), typed)


def name_by(known: SpeciesList | None, typed: str) -> str:
    """``species_name`` by a species list read once (``current_species``), for a page that
    names many (the review queue's top-k buttons)."""
    if known is None:
        return " ".join(typed.split())
    return known.name_of(typed)
