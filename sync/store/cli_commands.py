"""What the ``jaga store`` commands on the store itself run: ``init``, ``info``, ``backup``,
``restore``, ``export``, ``purge-expired``, ``retention`` and ``rekey``.

:mod:`sync.store.cli` builds their options; the fish review loop's commands are in
:mod:`sync.store.cli_review`, people's in :mod:`sync.store.people_cli`. Apart from the
parser, so that it reads as the commands' options and this module as what they do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sync import plural
from sync.errors import KeySourceError, StoreError
from sync.store.backups import backup, restore
from sync.store.cli_common import key_source_of, open_store_of, operator_name, store_path_of
from sync.store.clock import format_timestamp
from sync.store.database import StoreConfig
from sync.store.event_audit import mismatched_events
from sync.store.export import export_access_events, export_fish_observations
from sync.store.key_sources import (
    NEW_PASSPHRASE_ENV,
    REPLACED_PASSPHRASE_ENV,
    optional_key_source,
    resolve_key_source,
)
from sync.store.keys import create_key_file
from sync.store.kiosk_journal import waiting_path
from sync.store.kiosk_waiting import waiting_note
from sync.store.pending_catches import pending_count, spool_path
from sync.store.people_cli import delete_replaced_stores, purge_config, purge_status
from sync.store.store import Store, check_free
from sync.store.store_info import describe


def _config(args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(scrypt_n=2 ** int(args.scrypt_log2n))


def init_command(args: argparse.Namespace) -> int:
    """A new store; with ``--create-key-file``, under a new key file, written only once the
    store's path is known free and taken back when the store is not made (nothing was
    encrypted under it): a retry is never refused for the key file a failure left."""
    target = store_path_of(args)
    if args.create_key_file:
        if args.key_file is None:
            raise KeySourceError("--create-key-file needs --key-file PATH")
        check_free(target)
        create_key_file(args.key_file)
    try:
        with Store.create(target, key_source_of(args, confirm=True), config=_config(args)) as store:
            print(f"created {store.path} (key header {store.path.name}.kdf.json)")
    except BaseException:
        if args.create_key_file and not target.exists():
            args.key_file.unlink(missing_ok=True)
        raise
    return 0


def info_command(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        lines, ok = describe(store, full_check=args.full_check)
    print("\n".join(lines))
    return 0 if ok else 1


def backup_command(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        size = backup(store, args.destination, operator=operator_name())
        pending = pending_count(store.path, store.key, store.database.config)
        waiting = waiting_note(store.path, store.key, store.database.config, "kiosk decision")
    print(f"wrote {args.destination} ({size} bytes, encrypted, same key)")
    if waiting is not None:  # refused by the busy store, so not in it either
        print(f"NOT IN THIS BACKUP: {waiting}; then back up again")
    if pending != 0:  # refused by the store, so not in it: a backup of it lacks them
        what = "catches" if pending is None else plural.catches(pending)
        print(
            f"NOT IN THIS BACKUP: {what} the Catch panel keeps for Retry"
            f" ({spool_path(store.path).name}), not recorded yet: Retry them in the Catch"
            " panel, then back up again"
        )
    return 0


def restore_command(args: argparse.Namespace) -> int:
    target = store_path_of(args)
    restored = restore(
        args.backup,
        target,
        key_source_of(args),
        operator=operator_name(),
        force=args.force,
        carry_erasures=args.carry_erasures,
        discard_unsynced=args.discard_unsynced,
        replaced_source=optional_key_source(
            args.replaced_key_file, env=os.environ, env_name=REPLACED_PASSPHRASE_ENV
        ),
    )
    print(f"restored {args.backup} to {target}")
    if restored.replaced:
        print("the store it replaced was deleted")
    if restored.erasures_carried is None:
        print(
            "WARNING: people erased since the backup was taken may be back in it: erase them"
            " again, and sync with the hub, before the kiosk is used; whatever the replaced"
            " store held that the hub never acknowledged is lost"
        )
    elif restored.erasures_carried:
        carried = plural.people(restored.erasures_carried)
        print(f"erased again {carried} erased since the backup")
    if restored.pending_catches is None:
        print(
            f"the catches the Catch panel keeps for Retry ({spool_path(target).name}) are"
            " under an earlier key: they open with that passphrase or key file"
        )
    elif restored.pending_catches:
        print(
            f"kept {plural.catches(restored.pending_catches)} the Catch panel keeps for Retry: a"
            " Retry records each into the restored store, once"
        )
    _say_kiosk_decisions(restored.kiosk_decisions, target)
    if restored.unsynced_discarded:
        print(
            f"discarded {plural.counted(restored.unsynced_discarded, 'change')} the hub never"
            " acknowledged or photos it never received (they were only in the replaced store)"
        )
    if restored.registration is not None:
        print(restored.registration.words())
    if restored.unchecked_registration is not None:
        print(
            "WARNING: the restored store is registered as the backup was, as"
            f" {restored.unchecked_registration.words()}, unchecked (the replaced store was not"
            " read): if this device is not that one, register it anew (jaga sync register, with"
            " a new code of its own site) before it syncs, or two devices share one identity"
        )
    return 0


def _say_kiosk_decisions(waiting: int | None, target: Path) -> None:
    """The kiosk's decisions waiting beside the replaced store, which the restore left."""
    name = waiting_path(target).name
    if waiting is None:
        print(
            f"WARNING: the kiosk decisions kept in {name} are not under the restored store's"
            " key: its kiosk sets them aside at its next start, unrecorded"
        )
    elif waiting:
        decisions = plural.counted(waiting, "kiosk decision")
        print(
            f"{decisions} waiting in {name}, not in the store yet: the kiosk records"
            f" {'it' if waiting == 1 else 'them'} into the restored store at its next start"
        )


def export_command(args: argparse.Namespace) -> int:
    since, until = (format_timestamp(m) if m else None for m in (args.since, args.until))
    write = export_access_events if args.table == "access-events" else export_fish_observations
    with open_store_of(args) as store:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as error:  # a missing folder: the rest was checked when parsing
            raise StoreError(f"cannot write {args.out}: {error.strerror or error}") from error
        os.fchmod(fd, 0o600)  # the mode above is for a new file: names must not stay readable
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            rows = write(store.database, out, since, until)
        access = write is export_access_events
        mismatched = mismatched_events(store.database) if access else ()
        waiting = waiting_note(store.path, store.key, store.database.config, "kiosk decision")
    print(f"wrote {plural.counted(rows, 'row')} to {args.out}")
    if access and waiting is not None:  # decided at the door, not in the table yet
        print(f"WARNING: not in this export: {waiting}", file=sys.stderr)
    if mismatched:
        # Written as the table holds them: only the chain says which rows to distrust, and an
        # export refused would stop every attendance report until someone found out.
        events = plural.counted(len(mismatched), "access event")
        print(
            f"WARNING: {events} in the store not as the audit chain recorded them (edited or"
            " added outside Jaga): jaga audit verify names them",
            file=sys.stderr,
        )
    return 0


def purge_expired_command(args: argparse.Namespace) -> int:
    with open_store_of(args, purge_config(args)) as store:
        if args.dry_run:
            expired = store.people.expired(store.people.retention_now())
            print(
                f"{plural.people(len(expired))} past their retention date (dry run, nothing erased)"
            )
        else:
            expired = store.people.purge_expired(operator=operator_name())
            print(f"erased {plural.people(len(expired))} past their retention date")
        for person_uid in expired:
            print(f"  {person_uid}")
        if not args.dry_run:
            delete_replaced_stores(store)
        return 0 if args.dry_run else purge_status(store)


def retention_command(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        if args.days is not None:
            store.retention.set_keep_days(args.days, operator=operator_name())
        days = store.retention.keep_days()
    if days == 0:
        print("access events and audit entries are kept for ever")
    else:
        print(
            f"access events and audit entries are kept {days} days, then deleted at a sync"
            " once the hub holds them (jaga store info shows since when)"
        )
    return 0


def rekey_command(args: argparse.Namespace) -> int:
    with Store.open(store_path_of(args), key_source_of(args), config=_config(args)) as store:
        store.check_alone("key change")  # before the new passphrase is typed twice
        new_source = resolve_key_source(
            args.new_key_file,
            env=os.environ,
            env_name=NEW_PASSPHRASE_ENV,
            confirm=True,
            what="new store passphrase",
        )
        store.change_key(new_source, operator=operator_name())
        print(f"re-encrypted {store.path} under the new {store.header.current.kind}")
    return 0
