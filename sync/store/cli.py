"""``jaga store ...``: the store from a shell or a scheduler (``jaga audit ...``:
:mod:`sync.store.cli_audit`).

Exit codes: 0 done, 1 the store refused or a check failed (the message says why), 2 usage,
3 erased, but the erased data is still in the store's file (``people_cli.PURGE_PENDING``),
130 Ctrl-C at the passphrase prompt ("no store passphrase given").
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from sync import plural
from sync.cli_errors import (
    Handler,
    iso_moment,
    output_file,
    positive_count,
    reporting,
    whole_number,
)
from sync.corrections import CorrectionsExport
from sync.errors import KeySourceError, StoreError, SyncError
from sync.store.backups import backup, restore
from sync.store.clock import format_timestamp
from sync.store.corrections import export_corrections
from sync.store.database import StoreConfig
from sync.store.export import export_access_events, export_fish_observations
from sync.store.key_sources import (
    NEW_PASSPHRASE_ENV,
    REPLACED_PASSPHRASE_ENV,
    optional_key_source,
    resolve_key_source,
)
from sync.store.keys import KeySource, create_key_file
from sync.store.outbox_hub import destination_words
from sync.store.pending_catches import pending_count, spool_path
from sync.store.people_cli import (
    add_people_commands,
    add_purge_wait,
    delete_replaced_stores,
    purge_config,
    purge_status,
)
from sync.store.records import FishObservation, PredictionStatus
from sync.store.retention import DEFAULT_KEEP_DAYS, MAX_KEEP_DAYS
from sync.store.store import Store, check_free
from sync.store.store_info import describe

STORE_PATH_ENV = "JAGA_STORE_PATH"
# The species name ``store confirm`` stores for what was typed, and whether the officer said
# it is a new species. Sync knows no species pack: ``jaga`` (main.py) passes the namer
# ``jaga catch --confirm`` uses, the pack in use's display name, refusing one the pack does
# not list unless new (``desktop.catch_cli.pack_species_name``, raising
# ``UnknownSpeciesError``); without one, the name as typed, tidied.
SpeciesNamer = Callable[[Store, str, bool], str]
REVIEW_LIMIT = 50
SHOWN_PREDICTIONS = 3


def default_store_path() -> Path:
    configured = os.environ.get(STORE_PATH_ENV)
    return Path(configured) if configured else platformdirs.user_data_path("jaga") / "jaga.db"


def typed_species_name(_store: Store, typed: str, _new_species: bool) -> str:
    """The species as typed, its spacing tidied (``species_key`` then keeps case apart)."""
    return " ".join(typed.split())


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

    init = command("init", _init, "create a new, empty store")
    init.add_argument(
        "--create-key-file",
        action="store_true",
        help="write a new random key file at --key-file (mode 0600) and use it",
    )
    _add_kdf_cost(init)
    info = command("info", _info, "counts, key, schema, integrity")
    info.add_argument(
        "--full-check",
        action="store_true",
        help="run integrity_check (every page) instead of quick_check",
    )
    command("backup", _backup, "write an encrypted copy").add_argument(
        "destination", type=output_file
    )
    restore_parser = command("restore", _restore, "put a backup in place")
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
        " backup): they are lost",
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
    _add_export_options(command("export", _export, "CSV of access events or fish observations"))
    add_people_commands(command)
    purge = command("purge-expired", _purge_expired, "erase people past their retention date")
    purge.add_argument("--dry-run", action="store_true", help="list them, erase nothing")
    add_purge_wait(purge)
    retention = command(
        "retention", _retention, "how long old decisions the hub holds are kept on the device"
    )
    retention.add_argument(
        "--days",
        type=_keep_days,
        metavar="N",
        help="keep access events and audit entries N days, then delete them once the hub holds"
        f" them (0: for ever; default {DEFAULT_KEEP_DAYS}); the next sync applies it",
    )
    rekey = command("rekey", _rekey, "change the passphrase or key file")
    rekey.add_argument(
        "--new-key-file",
        type=Path,
        help=f"the new key file (else ${NEW_PASSPHRASE_ENV} or a prompt)",
    )
    _add_kdf_cost(rekey)
    _add_review_commands(command, species_name)


def _add_review_commands(
    command: Callable[[str, Handler, str], argparse.ArgumentParser], species_name: SpeciesNamer
) -> None:
    """The device's half of the fish review loop: review, confirm, export the corrections."""
    review = command(
        "review", _review, "fish observations recorded here flagged for review, newest first"
    )
    review.add_argument(
        "--limit",
        type=positive_count,
        default=REVIEW_LIMIT,
        metavar="N",
        help=f"show at most N (default {REVIEW_LIMIT})",
    )
    review.add_argument(
        "--site",
        action="store_true",
        help="the whole site's: the catches pulled from the hub (other boats') too",
    )
    confirm = command(
        "confirm",
        functools.partial(_confirm, species_name=species_name),
        "confirm the species of a fish observation (named as `jaga catch --confirm` names it),"
        " or answer that its photo shows no fish",
    )
    confirm.add_argument("observation_uid", metavar="OBSERVATION_UID", help="as `review` lists it")
    verdict = confirm.add_mutually_exclusive_group(required=True)
    verdict.add_argument("species", nargs="?", type=_required_text("species"), metavar="SPECIES")
    verdict.add_argument(
        "--not-a-fish",
        action="store_true",
        help="the photo shows no fish: resolved with no species, never used for training",
    )
    confirm.add_argument(
        "--new-species",
        action="store_true",
        help="SPECIES is one the species pack does not list: keep it as typed, to teach the"
        " next pack (else it is refused, naming close ones)",
    )
    confirm.add_argument(
        "--officer",
        required=True,
        type=_required_text("officer"),
        metavar="NAME",
        help="the reviewer, recorded with the confirmation and sent to the hub",
    )
    corrections = command(
        "export-corrections",
        _export_corrections,
        "confirmed fish photos and corrections.csv, for `jaga fish export-training-set`",
    )
    corrections.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new or empty folder"
    )


def _required_text(what: str) -> Callable[[str], str]:
    """An argument type that strips the text and refuses it empty, before the store is opened."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        return text.strip()

    return parse


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
        choices=range(10, 23),
        metavar="{10..22}",
        help="scrypt cost for a new passphrase: N = 2^this, memory = N KiB "
        "(default 17: 128 MiB; lower only for small devices or tests)",
    )


def _config(args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(scrypt_n=2 ** int(args.scrypt_log2n))


def store_path_of(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db is not None else default_store_path()


def key_source_of(args: argparse.Namespace, *, confirm: bool = False) -> KeySource:
    return resolve_key_source(args.key_file, env=os.environ, confirm=confirm)


def open_store_of(args: argparse.Namespace, config: StoreConfig | None = None) -> Store:
    return Store.open(store_path_of(args), key_source_of(args), config=config)


def _init(args: argparse.Namespace) -> int:
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


def _info(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        lines, ok = describe(store, full_check=args.full_check)
    print("\n".join(lines))
    return 0 if ok else 1


def _backup(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        size = backup(store, args.destination, operator=_operator())
        pending = pending_count(store.path, store.key, store.database.config)
    print(f"wrote {args.destination} ({size} bytes, encrypted, same key)")
    if pending != 0:  # refused by the store, so not in it: a backup of it lacks them
        what = "catches" if pending is None else plural.catches(pending)
        print(
            f"NOT IN THIS BACKUP: {what} the Catch panel keeps for Retry"
            f" ({spool_path(store.path).name}), not recorded yet: Retry them in the Catch"
            " panel, then back up again"
        )
    return 0


def _restore(args: argparse.Namespace) -> int:
    target = store_path_of(args)
    restored = restore(
        args.backup,
        target,
        key_source_of(args),
        operator=_operator(),
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


def _export(args: argparse.Namespace) -> int:
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
    print(f"wrote {plural.counted(rows, 'row')} to {args.out}")
    return 0


def _purge_expired(args: argparse.Namespace) -> int:
    with open_store_of(args, purge_config(args)) as store:
        if args.dry_run:
            expired = store.people.expired(store.clock.now())
            print(
                f"{plural.people(len(expired))} past their retention date (dry run, nothing erased)"
            )
        else:
            expired = store.people.purge_expired(operator=_operator())
            print(f"erased {plural.people(len(expired))} past their retention date")
        for person_uid in expired:
            print(f"  {person_uid}")
        if not args.dry_run:
            delete_replaced_stores(store)
        return 0 if args.dry_run else purge_status(store)


_keep_days = whole_number(
    0,
    MAX_KEEP_DAYS,
    expected=f"a whole number of days from 0 (for ever) to {MAX_KEEP_DAYS}",
)


def _retention(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        if args.days is not None:
            store.retention.set_keep_days(args.days, operator=_operator())
        days = store.retention.keep_days()
    if days == 0:
        print("access events and audit entries are kept for ever")
    else:
        print(
            f"access events and audit entries are kept {days} days, then deleted at a sync"
            " once the hub holds them (jaga store info shows since when)"
        )
    return 0


def _rekey(args: argparse.Namespace) -> int:
    with Store.open(store_path_of(args), key_source_of(args), config=_config(args)) as store:
        store.check_alone("key change")  # before the new passphrase is typed twice
        new_source = resolve_key_source(
            args.new_key_file,
            env=os.environ,
            env_name=NEW_PASSPHRASE_ENV,
            confirm=True,
            what="new store passphrase",
        )
        store.change_key(new_source, operator=_operator())
        print(f"re-encrypted {store.path} under the new {store.header.current.kind}")
    return 0


def _review(args: argparse.Namespace) -> int:
    """This device's own flagged catches (the fish its officers saw), newest first, so a
    busy site's pulled catches never hide them; ``--site``: every flagged catch here."""
    with open_store_of(args) as store:
        flagged = store.observations.review_queue(  # one more: are there more?
            args.limit + 1, include_pulled=args.site
        )
    where = "on this site" if args.site else "recorded here"
    hint = "" if args.site else "jaga store review --site: those pulled from the hub too"
    if not flagged:
        print(
            f"no fish observations {where} are flagged for review" + (f" ({hint})" if hint else "")
        )
        return 0
    shown = flagged[: args.limit]
    observations = plural.counted(len(shown), "fish observation")
    print(f"{observations} {where} flagged for review, newest first:")
    for observation in shown:
        print(_review_line(observation))
    if len(flagged) > len(shown):
        print(f"more are flagged than these {len(shown)}: raise --limit to see them")
    print(
        "confirm one with: jaga store confirm OBSERVATION_UID SPECIES --officer NAME"
        " (a photo with no fish: --not-a-fish in place of SPECIES)"
    )
    if hint:
        print(hint)
    return 0


def _review_line(observation: FishObservation) -> str:
    predictions = ", ".join(
        f"{_one_line(score.species)} {score.confidence:.2f}"
        for score in observation.predictions[:SHOWN_PREDICTIONS]
    )
    trip = f"{_one_line(observation.vessel)}/{_one_line(observation.trip)}"
    return "  ".join(
        (
            observation.observation_uid,
            observation.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            _verdict(observation, predictions),
            f"pack {_one_line(observation.pack_version)}",
            _box(observation),
            f"vessel/trip {trip}",
            f"officer {_one_line(observation.officer)}",
            *(() if observation.recorded_here else ("pulled from the hub",)),
        )
    )


def _box(observation: FishObservation) -> str:
    if observation.crop is not None:
        return f"box {observation.crop}"
    if observation.crop_known:
        return "whole photo"
    return "box not known here"  # pulled on protocol 2, which does not carry the box


def _verdict(observation: FishObservation, predictions: str) -> str:
    """The candidates, saying so where the pack named none of them (its status)."""
    if observation.status is PredictionStatus.NO_FISH:
        return f"no fish ({_one_line(observation.status_reason)})"
    if observation.status is PredictionStatus.UNKNOWN:
        return f"unknown species, candidates {predictions}"
    return predictions or "no prediction"


def _one_line(text: str | None) -> str:
    """Typed text on one line, so that each observation stays one line of output."""
    return " ".join(text.split()) if text and text.strip() else "-"


def _confirm(args: argparse.Namespace, *, species_name: SpeciesNamer) -> int:
    if args.not_a_fish and args.new_species:  # a slip: which of the two was meant is unknown
        raise SyncError("--new-species names a species; --not-a-fish gives none")
    if args.not_a_fish:
        return _answer_not_a_fish(args)
    with open_store_of(args) as store:
        species = species_name(store, args.species, args.new_species)
        confirmed = store.observations.confirm(
            args.observation_uid.strip(), species, officer=args.officer
        )
        sent = destination_words(store.outbox.held_for(confirmed.observation_uid))
    print(
        f"confirmed {confirmed.observation_uid} as {confirmed.confirmed_species}"
        f" (reviewed by {confirmed.reviewed_by}); {sent}"
    )
    return 0


def _answer_not_a_fish(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        answered = store.observations.answer_not_a_fish(
            args.observation_uid.strip(), officer=args.officer
        )
        sent = destination_words(store.outbox.held_for(answered.observation_uid))
    print(
        f"answered {answered.observation_uid}: not a fish (reviewed by {answered.reviewed_by});"
        f" it will not be used for training; {sent}"
    )
    return 0


def _export_corrections(args: argparse.Namespace) -> int:
    export = CorrectionsExport(args.out)  # a full folder is refused before the key is asked
    with open_store_of(args) as store:
        report = export_corrections(store.database, export, clock=store.clock)
    print("\n".join(report.lines()))
    return 0


def _operator() -> str:
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
