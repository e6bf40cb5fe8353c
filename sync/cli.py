"""Subcommands of the sync package (store, audit, sync, hub)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the sync package's subcommands to the ``jaga`` parser."""
    del subparsers  # the store, audit, sync and hub commands register here as they land
