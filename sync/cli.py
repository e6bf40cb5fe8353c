"""Subcommands of the sync package (store, audit, sync, hub)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sync.client.cli import register as register_sync
from sync.hub.cli import register as register_hub
from sync.store.cli import SpeciesNamer, register_store, typed_species_name
from sync.store.cli_audit import register_audit

if TYPE_CHECKING:
    from sync.client.pack_status import PackInUse


def register(
    subparsers: argparse._SubParsersAction[Any],
    *,
    species_name: SpeciesNamer = typed_species_name,
    pack_in_use: PackInUse | None = None,
) -> None:
    """Add the sync package's subcommands to the ``jaga`` parser; ``species_name`` names the
    species ``jaga store confirm`` stores, ``pack_in_use`` the pack ``jaga sync status``
    says is in use (``sync.client.pack_status.PackInUse``)."""
    register_store(subparsers, species_name=species_name)
    register_audit(subparsers)
    register_sync(subparsers, pack_in_use=pack_in_use)
    # sync.hub.cli imports Django only when a hub command runs
    register_hub(subparsers)
