"""The species pack ``jaga catch`` and the app classify with: the newest pack a sync
installed that loads, else the default pack; and the pack whose names ``jaga store confirm``
uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sync.client.packs import installed_species_packs, packs_dir_for, record_pack_in_use
from sync.store import Store

if TYPE_CHECKING:  # ONNX Runtime loads with the classifier, not with this module
    from inference.fish.classify import SpeciesClassifier
    from inference.fish.pack import SpeciesPack

_log = logging.getLogger(__name__)


def species_classifier_for(store: Store, env: Mapping[str, str] | None = None) -> SpeciesClassifier:
    """The classifier ``jaga catch`` uses with this store, chosen as the app chooses at
    start-up (``SpeciesPacks.load_first``): the newest pack a sync installed that loads (its
    files verify *and* its model takes the input its manifest declares), else the default
    pack that ``jaga models install`` built. Only a pack that loaded is noted as in use, so
    that sync keeps it while newer packs arrive (``record_pack_in_use``): a pack noted on
    its files alone could be one the classifier refuses, and the last one that worked would
    be removed at the next install."""
    classifier, kept = _first_that_loads(store, env)
    if kept is not None:
        record_pack_in_use(store, kept)
    return classifier


def species_pack_for(store: Store, env: Mapping[str, str] | None = None) -> SpeciesPack:
    """The pack whose species names ``jaga store confirm`` uses: the one ``jaga catch`` and
    the app classify with (:func:`species_classifier_for`), so its model is loaded too; a
    newer pack whose files verify but whose model is refused names nothing. It is not noted
    as in use: confirming a species is no use of the pack for sync to protect."""
    return _first_that_loads(store, env)[0].pack


def pack_in_use(store: Store, env: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the installed pack ``jaga catch`` and the app classify with, chosen as
    they choose it (the newest that loads); None: the default pack. What ``jaga sync
    status`` names as in use when the newest pack is damaged
    (``sync.client.pack_status.PackInUse``), which a check of the files alone would not tell:
    a pack whose files verify may still be refused. It notes nothing."""
    loaded = _installed_that_loads(store, env)
    return None if loaded is None else loaded[1]


def _first_that_loads(
    store: Store, env: Mapping[str, str] | None
) -> tuple[SpeciesClassifier, Path | None]:
    """The classifier of the newest installed pack that loads, and that pack's folder; else
    the default pack's, and None."""
    from inference.fish.classify import SpeciesClassifier
    from inference.fish.installed import installed_default_pack

    loaded = _installed_that_loads(store, env)
    if loaded is not None:
        return loaded
    return SpeciesClassifier.from_path(installed_default_pack()), None


def _installed_that_loads(
    store: Store, env: Mapping[str, str] | None
) -> tuple[SpeciesClassifier, Path] | None:
    """The classifier of the newest installed pack that loads, and its folder; None when
    none does (or none is installed)."""
    from inference.errors import InferenceError
    from inference.fish.classify import SpeciesClassifier

    for kept in installed_species_packs(store, packs_dir_for(store.path, env)):
        try:
            return SpeciesClassifier.from_path(kept), kept
        except (InferenceError, OSError) as error:  # a failing card's OSError too: the next
            _log.warning("species pack %s refused, trying the next: %s", kept, error)
    return None
