"""``jaga sync now | status | register | requeue | retry-uploads``: the sync client from a
shell or a timer.

The store is opened as ``jaga store`` opens it (``--db``, ``--key-file`` or
``$JAGA_STORE_PASSPHRASE``: ``sync.client.cli_store``). The hub's URL and the device's identity
come from the environment or from what ``register`` kept in the encrypted store
(``sync.client.config``). The token is never printed, and never taken from the command line;
a registration code is read from ``$JAGA_SYNC_CODE`` or a prompt (in a terminal only), for
the same reason, its groups apart with dashes or spaces (``sync.client.cli_register``). A
species pack the hub announced is unpacked into ``<store folder>/species-packs/<version>``
(or under ``$JAGA_SPECIES_PACKS_DIR``); ``now`` says when one was installed or why not, and
``status`` shows the announced and installed versions. A sync that reaches its per-sync limits is
followed by another at once, one summary line each, until the device is caught up. Each
first erases the people past their consent's retention date (``sync.client.client``).
``requeue`` sends quarantined entries again once
their cause is fixed, named by the ``#SEQUENCE`` that ``status`` shows or ``--all``;
``retry-uploads`` does the same for photos whose upload the hub refused for good, named by
the uid ``status`` shows (``sync.client.failed_uploads``): their metadata goes again, then
their bytes. Both are in the store's audit trail, with the login that ran them.

Exit codes: 0 done, 1 the sync failed or was paused (the message says why and what to do),
130 Ctrl-C at the passphrase or code prompt.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sync import plural
from sync.cli_errors import output_file, positive_count, reporting
from sync.client.cli_register import add_register_command
from sync.client.cli_store import key_source, open_store, operator_name, store_options, store_path
from sync.client.cli_usage import with_environment

if TYPE_CHECKING:  # the modules themselves load only when a sync command runs
    from sync.client.client import SyncClient
    from sync.client.pack_status import PackInUse
    from sync.client.report import SyncReport
    from sync.store import KeySource

# Syncs one ``now`` runs back to back while each reaches its limits and moves something: at
# the default limits, 2,500 photos or 2,000,000 outbox entries; the timer's next run goes on.
MAX_ROUNDS = 50


def register(
    subparsers: argparse._SubParsersAction[Any], *, pack_in_use: PackInUse | None = None
) -> None:
    """Add ``jaga sync`` and its subcommands; ``pack_in_use``: see ``read_status``."""
    sync = with_environment(
        subparsers.add_parser("sync", help="sync this device's store with the hub")
    )
    commands = sync.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    common = store_options()
    now = with_environment(
        commands.add_parser("now", parents=[common], help="push, pull and upload until caught up")
    )
    now.add_argument(
        "--retries",
        type=positive_count,
        default=3,
        metavar="N",
        help="attempts while the hub is unreachable, from 1 (3)",
    )
    now.add_argument(
        "--retry-pack",
        action="store_true",
        help="download a species pack that failed to install, or one damaged on disk that"
        " was repaired lately, now, not after its back-off",
    )
    now.set_defaults(handler=reporting(_now))
    status = with_environment(
        commands.add_parser("status", parents=[common], help="what waits, what failed")
    )
    status.add_argument(
        "--prometheus",
        type=_prometheus_file,
        metavar="FILE",
        help="write the figures as Prometheus text to FILE instead (for node_exporter's "
        "textfile collector on a device that syncs without the app; `-` for stdout)",
    )
    status.set_defaults(handler=reporting(functools.partial(_status, pack_in_use=pack_in_use)))
    requeue = with_environment(
        commands.add_parser(
            "requeue", parents=[common], help="send quarantined entries again once fixed"
        )
    )
    requeue.add_argument(
        "sequences",
        nargs="*",
        type=_sequence,
        metavar="SEQUENCE",
        help="entries as `jaga sync status` lists them (#12 or 12)",
    )
    requeue.add_argument("--all", action="store_true", help="every quarantined entry")
    requeue.set_defaults(handler=reporting(_requeue))
    retry_uploads = with_environment(
        commands.add_parser(
            "retry-uploads",
            parents=[common],
            help="upload again photos the hub refused, once the cause is fixed",
        )
    )
    retry_uploads.add_argument(
        "photos", nargs="*", type=_photo_uid, metavar="PHOTO", help="photo uids as `status` lists"
    )
    retry_uploads.add_argument("--all", action="store_true", help="every failed upload")
    retry_uploads.set_defaults(handler=reporting(_retry_uploads))
    add_register_command(commands, common)


def _now(args: argparse.Namespace) -> int:
    """Sync until the device is caught up: a sync that reached its per-sync limits is
    followed by another at once, as the app's service does, while each moves something
    (and for at most ``MAX_ROUNDS``: the timer's next run goes on from there).

    A sync that ran but held entries, photos or audit entries back for a proxy's body limit
    (``ProxyBodyLimitError`` with its report) is not run again, since waiting cannot make
    them pass: its summary is printed like any other, the rounds go on as after a sync
    that reached its limits, and the command then fails with that limit as the reason.

    So does one whose erasures the hub refused (``ErasureRefusedError``: quarantined, such
    as a moved device's of a person of its old site), as the only one of them done here."""
    from sync.client.client import open_client
    from sync.client.errors import ErasureRefusedError, ProxyBodyLimitError, SyncConfigError
    from sync.client.report import SyncReport

    held_back: ProxyBodyLimitError | None = None
    path, source = store_path(args), key_source(args)  # a passphrase is asked once
    env = args.env  # the token in it alone, taken out of the environment (``main``)
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(open_client(path, source, env=env))
        except SyncConfigError:  # not registered: retention is enforced all the same
            _erase_expired(path, source)
            raise
        refused_before = {entry.sequence for entry in client.store.outbox.refused_erasures()}
        for _ in range(MAX_ROUNDS):
            try:
                report = _sync_with_retries(client, args.retries, args.retry_pack)
            except ProxyBodyLimitError as error:
                if not isinstance(error.report, SyncReport):
                    raise
                held_back, report = error, error.report
            print(report.summary(), flush=True)
            if report.unfinished is None or not report.progressed:
                break
        refused = [
            (entry.entity_uid, entry.reason)
            for entry in client.store.outbox.refused_erasures()
            if entry.sequence not in refused_before
        ]
    if held_back is not None:
        if refused:
            print(f"jaga: error: {ErasureRefusedError(refused)}", file=sys.stderr)
        raise held_back
    if refused:  # the erasure is this store's only: say so, whatever else went well
        raise ErasureRefusedError(refused)
    return 0


def _erase_expired(path: Path, source: KeySource) -> None:
    """Erase the people past retention, as a sync does first, on a device with no hub to
    sync with (the jaga-sync timer runs this command there too): their tombstones wait in
    the queue for a hub, as after ``jaga store purge-expired``."""
    from sync.errors import StoreError
    from sync.store import Store
    from sync.store.backup_files import drop_replaced_stores
    from sync.store.kiosk_waiting import record_left_waiting

    with Store.open(path, source) as store:
        expired = store.people.purge_expired()
        if expired:  # while the store is open: no restore runs meanwhile
            drop_replaced_stores(store.path)
        with contextlib.suppress(StoreError):  # housekeeping: the next run tries again
            record_left_waiting(store)  # a kiosk retired with decisions waiting
    if expired:
        print(f"erased {plural.people(len(expired))} past their retention date", flush=True)


def _sync_with_retries(client: SyncClient, attempts: int, retry_pack: bool) -> SyncReport:
    """``sync_once``, again after a jittered pause while the hub is unreachable; not for a
    sync held back by a proxy's body limit (it ran: waiting cannot make the rest pass)."""
    from sync.client.backoff import Backoff
    from sync.client.errors import HubUnavailableError, ProxyBodyLimitError

    backoff, rng = Backoff(base_s=1.0, cap_s=30.0), random.Random()
    failures = 0
    while True:
        try:
            return client.sync_once(retry_pack=retry_pack)
        except HubUnavailableError as error:
            failures += 1
            if failures >= attempts or (
                isinstance(error, ProxyBodyLimitError) and error.report is not None
            ):
                raise
            delay = backoff.delay_s(failures, rng, error.retry_after_s)
            print(f"hub unavailable ({error}); retrying in {delay:.1f} s", file=sys.stderr)
            time.sleep(delay)


def _status(args: argparse.Namespace, *, pack_in_use: PackInUse | None) -> int:
    from sync.client.status import read_status

    env = args.env  # read twice below; the token in it alone (``main`` took it)
    with open_store(args) as store:
        if args.prometheus is None:
            status = read_status(store, env, check_pack=True, pack_in_use=pack_in_use)
            print("\n".join(status.lines()))
            return 0
        from sync.client.metrics import store_exposition

        text = store_exposition(store, env)
    if str(args.prometheus) == "-":
        sys.stdout.buffer.write(text)
    else:
        write_whole(args.prometheus, text)
    return 0


def _prometheus_file(text: str) -> Path:
    return Path(text) if text == "-" else output_file(text)  # `-`: stdout, written anywhere


def write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` by renaming a finished file over it: node_exporter reads the folder
    at any moment and must never see half a file."""
    from sync.client.errors import SyncClientError

    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):  # inside a file, say: there is no partial
            partial.unlink(missing_ok=True)
        raise SyncClientError(f"cannot write {path}: {error.strerror or error}") from error


def _requeue(args: argparse.Namespace) -> int:

    if args.all == bool(args.sequences):
        raise SystemExit("jaga: error: name the entries to requeue (#SEQUENCE) or pass --all")
    with open_store(args) as store:
        chosen = None if args.all else args.sequences
        moved = store.outbox.requeue_quarantined(chosen, operator=operator_name())
    requeued = plural.counted(moved, "quarantined entry", "quarantined entries")
    print(f"requeued {requeued}; the next sync sends them")
    return 0


def _retry_uploads(args: argparse.Namespace) -> int:
    from sync.client.failed_uploads import retry_failed_uploads

    if args.all == bool(args.photos):
        raise SystemExit("jaga: error: name the photos to upload again (PHOTO) or pass --all")
    with open_store(args) as store:
        chosen = None if args.all else args.photos
        retried = retry_failed_uploads(store, chosen, operator=operator_name())
    photos = plural.counted(retried, "photo")
    print(f"queued {photos} again; the next sync sends the metadata, then the bytes")
    return 0


def _photo_uid(text: str) -> str:
    """A photo's uid as ``jaga sync status`` prints it."""
    try:
        return str(UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a photo uid: {text!r}") from None


def _sequence(text: str) -> int:
    """An outbox sequence as ``jaga sync status`` prints it, ``#12``, or bare, ``12``."""
    digits = text.removeprefix("#")
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not an outbox sequence (#12): {text!r}")
    return int(digits)
