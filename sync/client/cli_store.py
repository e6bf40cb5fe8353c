"""How every ``jaga sync`` command finds and opens the store, and names who ran it.

The store is opened as ``jaga store`` opens it: ``--db`` (or ``$JAGA_STORE_PATH``'s default),
``--key-file`` or ``$JAGA_STORE_PASSPHRASE``. Each import waits for the command that needs it:
``jaga --help`` loads no store.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.store import KeySource, Store


def store_options() -> argparse.ArgumentParser:
    """``--db`` and ``--key-file``, the parent parser of every ``jaga sync`` command: the
    ``jaga store`` commands' own."""
    from sync.store.cli import common_options

    return common_options()


def store_path(args: argparse.Namespace) -> Path:
    from sync.store.cli import default_store_path

    return Path(args.db) if args.db is not None else default_store_path()


def key_source(args: argparse.Namespace) -> KeySource:
    from sync.store.key_sources import resolve_key_source

    return resolve_key_source(args.key_file, env=os.environ)


def open_store(args: argparse.Namespace) -> Store:
    from sync.store import Store

    return Store.open(store_path(args), key_source(args))


def operator_name() -> str:
    """Who ran the command, for the audit trail, as ``jaga store`` names its operator."""
    from sync.store import cli_common

    return cli_common.operator_name()
