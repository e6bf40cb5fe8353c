"""How a ``jaga store`` command finds its store, opens it, and names who ran it.

Shared by every module of the store's commands (:mod:`sync.store.cli_commands`,
:mod:`sync.store.cli_review`, :mod:`sync.store.people_cli`, :mod:`sync.store.cli_audit`) and
by ``jaga sync`` and the desktop, which import them through :mod:`sync.store.cli`. Its own
module, below the parser, so that the commands' modules need not import the parser that
imports them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

# The store's modules (SQLCipher, numpy, the wire models) are imported when a command opens
# the store, not with `jaga store`'s parser, which imports this module.
if TYPE_CHECKING:
    from sync.store.database import StoreConfig
    from sync.store.keys import KeySource
    from sync.store.store import Store

STORE_PATH_ENV = "JAGA_STORE_PATH"


def default_store_path() -> Path:
    configured = os.environ.get(STORE_PATH_ENV)
    return Path(configured) if configured else platformdirs.user_data_path("jaga") / "jaga.db"


def store_path_of(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db is not None else default_store_path()


def key_source_of(args: argparse.Namespace, *, confirm: bool = False) -> KeySource:
    from sync.store.key_sources import resolve_key_source

    return resolve_key_source(args.key_file, env=os.environ, confirm=confirm)


def open_store_of(args: argparse.Namespace, config: StoreConfig | None = None) -> Store:
    from sync.store.store import Store

    return Store.open(store_path_of(args), key_source_of(args), config=config)


def operator_name() -> str:
    """Who ran the command, for the audit trail. A login name that is not UTF-8 (Python
    gives its bytes as surrogates, which the chain's JSON cannot hold) is written as
    ``\\xNN``, as :func:`~sync.store.audit.file_subject` writes a file name, after
    ``bytes:``: it is no operator's to change, so it is not refused, and the mark (no
    login holds a colon) keeps it apart from a login typed as those characters."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "cli:bytes:" + os.fsencode(name).decode("utf-8", "backslashreplace")
    return "cli:" + name
