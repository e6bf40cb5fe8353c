"""Subcommands of the inference package (models, bench)."""

from __future__ import annotations

import argparse
from typing import Any

from inference import bench_cli
from inference.face import cli as face_cli
from inference.fish import cli as fish_cli
from inference.pack import cli as pack_cli


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the inference package's subcommands to the ``jaga`` parser."""
    pack_cli.register(subparsers)
    bench_cli.register(subparsers)
    fish_cli.register(subparsers)
    face_cli.register(subparsers)
