"""``jaga store ...``: the store from a shell or a scheduler (``jaga audit ...``:
:mod:`sync.store.cli_audit`).

Exit codes: 0 done, 1 the store refused or a check failed (the message says why), 2 usage,
3 erased, but the erased data is still in the store's file (``people_cli.PURGE_PENDING``),
130 Ctrl-C at the passphrase prompt ("no store passphrase given").

This module builds the ``jaga store`` parser and is where the other commands' modules, the
desktop and the tests import the store's command-line parts from. What each command runs is
in :mod:`sync.store.cli_commands` (the store itself), :mod:`sync.store.cli_review` (the fish
review loop, with its options) and :mod:`sync.store.people_cli` (people and erasures); how a
command finds and opens its store, in :mod:`sync.store.cli_common`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sync.cli_errors import Handler, deferred, iso_moment, output_file, reporting, whole_number
from sync.limits import DEFAULT_KEEP_DAYS, MAX_KEEP_DAYS
from sync.store.cli_common import (
    STORE_PATH_ENV,
    default_store_path,
    key_source_of,
    open_store_of,
    store_path_of,
)
from sync.store.cli_review import SpeciesNamer, add_review_commands, typed_species_name
from sync.store.key_sources import NEW_PASSPHRASE_ENV, REPLACED_PASSPHRASE_ENV
from sync.store.people_cli import add_people_commands, add_purge_wait
from sync.store.scrypt_cost import MAX_SCRYPT_LOG2N

# What other modules import from here.
__all__ = [
    "STORE_PATH_ENV",
    "SpeciesNamer",
    "common_options",
    "default_store_path",
    "key_source_of",
    "open_store_of",
    "register_store",
    "store_path_of",
    "typed_species_name",
]


def _in_commands(name: str) -> Handler:
    """``sync.store.cli_commands``' handler ``name``, imported when its command runs (that
    module opens stores: SQLCipher, numpy and the wire models, which the parser needs none of)."""
    return deferred("sync.store.cli_commands", name)


def register_store(
    subparsers: argparse._SubParsersAction[Any], *, species_name: SpeciesNamer = typed_species_name
) -> None:
    store = subparsers.add_parser("store", help="the encrypted local store")
    commands = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    common = common_options()

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=help_text
        )
        parser.set_defaults(handler=reporting(handler))
        return parser

    init = command("init", _in_commands("init_command"), "create a new, empty store")
    init.add_argument(
        "--create-key-file",
        action="store_true",
        help="write a new random key file at --key-file (mode 0600) and use it",
    )
    _add_kdf_cost(init)
    info = command("info", _in_commands("info_command"), "counts, key, schema, integrity")
    info.add_argument(
        "--full-check",
        action="store_true",
        help="run integrity_check (every page) instead of quick_check",
    )
    command("backup", _in_commands("backup_command"), "write an encrypted copy").add_argument(
        "destination", type=output_file
    )
    restore_parser = command("restore", _in_commands("restore_command"), "put a backup in place")
    restore_parser.add_argument("backup", type=Path)
    restore_parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing store: its erasures are carried into the restored copy,"
        " then it is deleted (copy it elsewhere first if you need what it holds); refused"
        " while it holds changes the hub never acknowledged that the backup lacks",
    )
    restore_parser.add_argument(
        "--discard-unsynced",
        action="store_true",
        help="with --force: replace the store even though changes it holds never reached the"
        " hub (catches, access decisions, enrolments, photo bytes never uploaded, made since the"
        " backup): they are lost. Not the kiosk's decisions waiting beside it for the store"
        " (<store>.kiosk-waiting, in no store yet): they stay, re-encrypted with the store"
        " when the backup's key is another, and are recorded into the restored store at the"
        " kiosk's next start",
    )
    restore_parser.add_argument(
        "--no-carry-erasures",
        dest="carry_erasures",
        action="store_false",
        help="restore over a store whose erasures cannot be read (people erased since the"
        " backup come back: erase them again, and sync, before use)",
    )
    restore_parser.add_argument(
        "--replaced-key-file",
        type=Path,
        help="the key file of the store being replaced, when its key changed since the backup"
        f" (a passphrase: set {REPLACED_PASSPHRASE_ENV})",
    )
    _add_export_options(
        command(
            "export", _in_commands("export_command"), "CSV of access events or fish observations"
        )
    )
    add_people_commands(command)
    purge = command(
        "purge-expired",
        _in_commands("purge_expired_command"),
        "erase people past their retention date",
    )
    purge.add_argument("--dry-run", action="store_true", help="list them, erase nothing")
    add_purge_wait(purge)
    retention = command(
        "retention",
        _in_commands("retention_command"),
        "how long old decisions the hub holds are kept on the device",
    )
    retention.add_argument(
        "--days",
        type=_keep_days,
        metavar="N",
        help="keep access events and audit entries N days, then delete them once the hub holds"
        f" them (0: for ever; default {DEFAULT_KEEP_DAYS}); the next sync applies it",
    )
    rekey = command("rekey", _in_commands("rekey_command"), "change the passphrase or key file")
    rekey.add_argument(
        "--new-key-file",
        type=Path,
        help=f"the new key file (else ${NEW_PASSPHRASE_ENV} or a prompt)",
    )
    _add_kdf_cost(rekey)
    add_review_commands(command, species_name)


def _add_export_options(export: argparse.ArgumentParser) -> None:
    export.add_argument("table", choices=("access-events", "fish-observations"))
    export.add_argument(
        "--out", type=output_file, required=True, help="CSV file to write (mode 0600)"
    )
    export.add_argument(
        "--since", type=iso_moment, help="ISO date or time (UTC unless an offset is given)"
    )
    export.add_argument("--until", type=iso_moment, help="ISO date or time, exclusive")


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"store file (default: ${STORE_PATH_ENV} or {default_store_path()})",
    )
    common.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="key file (default: passphrase from $JAGA_STORE_PASSPHRASE or a prompt)",
    )
    return common


def _add_kdf_cost(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scrypt-log2n",
        type=int,
        default=17,
        # Up to the costliest that Python's hashlib.scrypt can run (20: 1 GiB).
        choices=range(10, MAX_SCRYPT_LOG2N + 1),
        metavar=f"{{10..{MAX_SCRYPT_LOG2N}}}",
        help="scrypt cost for a new passphrase: N = 2^this, memory = N KiB "
        "(default 17: 128 MiB; lower only for small devices or tests)",
    )


_keep_days = whole_number(
    0,
    MAX_KEEP_DAYS,
    expected=f"a whole number of days from 0 (for ever) to {MAX_KEEP_DAYS}",
)
