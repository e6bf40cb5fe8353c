"""Subcommands of the sync package (store, audit, sync, hub)."""

from __future__ import annotations

import argparse
from typing import Any

from sync.client.cli import register as register_sync
from sync.hub.cli import register as register_hub
from sync.store.cli import register_audit, register_store


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the sync package's subcommands to the ``jaga`` parser."""
    register_store(subparsers)
    register_audit(subparsers)
    register_sync(subparsers)
    register_hub(subparsers)  # sync.hub.cli imports Django only when a hub command runs
