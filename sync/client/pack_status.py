"""The species pack's part of ``jaga sync status``: announced, installed, in use, and what is wrong.

Apart from ``sync.client.status`` because a pack's status has its own sources (the packs
folder beside the store, the pack records the sync keeps) and its own question, which sync
alone cannot answer: which pack catches are classified with (``PackInUse``), given by
``jaga``'s entry point, since sync loads no model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sync.client.kept_pack import KEPT_ERROR_NAME
from sync.client.packs import (
    ERROR_NAME,
    announced_pack,
    installed_record,
    installed_species_packs,
    pack_damage,
    packs_dir_for,
    same_pack,
)
from sync.client.state import WITHDRAWN_PACK_NAME
from sync.store import Store


@dataclass(frozen=True)
class PackStatus:
    """The species pack the hub announced last, and the one this device has installed."""

    announced: str | None = None
    installed: str | None = None
    folder: str | None = None
    error: str | None = None
    kept_error: str | None = None  # what is wrong with the pack kept to fall back on
    withdrawn: str | None = None  # a pack announced, which the hub no longer offers
    damage: str | None = None  # why the installed pack's files do not verify (when checked)
    in_use: str | None = None  # then: the pack catches go on with (None: the default)
    # Whether a sync downloads the installed pack again: only while the hub announces it.
    repairable: bool = False

    def lines(self) -> list[str]:
        if self.announced is None and self.installed is None and self.withdrawn is None:
            return []
        lines = [
            f"species pack announced {self.announced or '-'}, installed {self.installed or '-'}"
            + (f" ({self.folder})" if self.folder else "")
        ]
        if self.damage:
            lines.append(
                f"pack damaged installed species pack {self.installed} does not verify "
                f"({self.damage}); in use: {self.in_use or 'the default pack'}"
                + self._repair_words()
            )
        if self.error and self.announced != self.installed:
            lines.append(f"pack error   {self.error}")
        if self.kept_error:
            lines.append(f"kept pack    {self.kept_error}")
        if self.withdrawn:
            lines.append(
                f"pack note    the hub no longer offers species pack {self.withdrawn}, which it"
                " announced: not fetched any more; this device goes on with the pack it has"
            )
        return lines

    def _repair_words(self) -> str:
        if self.repairable:
            return f", until a sync downloads {self.installed} again"
        return (
            f"; no sync downloads {self.installed} again (the hub announces"
            f" {self.announced or 'no pack'} now)"
        )


PackInUse = Callable[[Store, Mapping[str, str]], Path | None]
"""The folder of the installed pack ``jaga catch`` and the app classify with, None for the
default pack: ``desktop.catch_packs.pack_in_use``, which loads each (the choice itself), given by
``jaga``'s entry point; sync loads no model, so alone it can only guess (``verified_pack``)."""


def verified_pack(store: Store, env: Mapping[str, str]) -> Path | None:
    """The newest installed pack whose files verify: the one in use if its model loads,
    which sync, loading no model, cannot tell (``PackInUse``)."""
    kept = installed_species_packs(store, packs_dir_for(store.path, env))
    return next((folder for folder in kept if pack_damage(folder) is None), None)


def read_pack_status(
    store: Store,
    env: Mapping[str, str],
    stored: Mapping[str, str],
    check: bool,
    pack_in_use: PackInUse,
) -> PackStatus:
    """The species pack's part of the status; ``check`` verifies the installed pack's files."""
    announced, installed = announced_pack(stored), installed_record(stored)
    folder = packs_dir_for(store.path, env) / installed.version if installed else None
    damage = pack_damage(folder) if check and folder is not None and folder.is_dir() else None
    in_use = pack_in_use(store, env) if damage else None
    return PackStatus(
        damage=damage,
        in_use=in_use.name if in_use is not None else None,
        repairable=installed is not None
        and announced is not None
        and same_pack(installed, announced),
        announced=announced.version if announced else None,
        installed=installed.version if installed else None,
        folder=None if folder is None else str(folder) if folder.is_dir() else f"missing: {folder}",
        error=stored.get(ERROR_NAME) or None,
        kept_error=stored.get(KEPT_ERROR_NAME) or None,
        withdrawn=stored.get(WITHDRAWN_PACK_NAME) or None,
    )
