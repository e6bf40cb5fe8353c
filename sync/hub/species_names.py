"""The species a hub reviewer may type: those of the species pack the sites' devices run.

A device stores a confirmed species by its pack's display name, whether the officer typed
the name or the folder id, in any case or spacing (``desktop.catch.species_name``). The hub
names it the same way, or corrections.csv holds both ``fish_04`` and "Amphiprion clarkii"
and a training export without ``--species-from`` makes two folders of one species. The
species list is the newest published pack's (every site is told of it); before any is
published, or where that pack's archive lists none, the default pack's, which the
composition root installs in ``sync.hub.pack_loader`` (``main.py``: sync may not read the
classifier's assets), the list the first publication is checked against too.
Unlike a device, the hub refuses a species the pack does not know: the reviewer sees the
list and what was typed, and a typo never becomes a species of its own.

Imports no Django at module level: ``jaga`` installs the default list on a kiosk too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sync.corrections import species_key
from sync.hub.pack_loader import installed_default_species
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
        """The display name of ``typed``, a name or folder id in any case and spacing;
        ``UnknownSpeciesError`` for one the pack does not list."""
        wanted = species_key(typed)
        for species_id, name in self.species.items():
            if wanted in (species_key(name), species_key(species_id)):
                return name
        listed = ", ".join(sorted(self.species.values()))
        raise UnknownSpeciesError(
            f"{' '.join(typed.split())!r} is not a species of {self.pack}; type one of its"
            f" species (a name or folder id): {listed}"
        )


def current_species() -> SpeciesList | None:
    """The newest published pack's species, else the default pack's; None when neither is
    known (a hub process not started by ``jaga``, with no pack published)."""
    from sync.hub.models import NEWEST_PACK_FIRST, SpeciesPack

    newest = SpeciesPack.objects.order_by(*NEWEST_PACK_FIRST).first()
    if newest is not None:
        listed = archive_species(bytes(newest.data))
        if listed:
            return SpeciesList(f"species pack {newest.version}", listed)
    default = _default_species()
    return SpeciesList("the default species pack", default) if default else None


def _default_species() -> dict[str, str]:
    """The default pack's species; empty when none is installed or it cannot be read (the
    species is then kept as typed, as a device keeps one its pack does not list)."""
    source = installed_default_species()
    if source is None:
        return {}
    try:
        return source()[1]
    except Exception as error:  # the default pack's reader's own errors: sync cannot name them
        _log.warning("cannot read the default species pack's species: %s", error)
        return {}


def species_name(typed: str) -> str:
    """What the hub stores for a typed species: the current pack's display name (see the
    module); the text as typed, its spacing tidied, when no species list is known."""
    known = current_species()
    if known is None:
        return " ".join(typed.split())
    return known.name_of(typed)
