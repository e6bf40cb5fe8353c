"""``jaga hub run``: serve the hub from its data folder, one ``run`` per folder at a time
(``DATA/hub-run.lock``), after the erasures an older database lacks are applied again
(``cli_restore.reapply_erasures``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sync.errors import SyncError
from sync.filelock import HeldLock
from sync.hub.cli_restore import reapply_erasures
from sync.hub.data_dir import default_data_dir

# Said before anything starts: a hub guessing its names would answer its devices 400.
_NO_HOST_NAMES = (
    "jaga hub: set JAGA_HUB_ALLOWED_HOSTS to the names devices and browsers reach the hub by,"
    " comma-separated (hub.example.org,localhost); a request for any other Host is refused"
    " ('*' answers to any name, and trusts the Host of every request)"
)


class HubBusyError(SyncError):
    """Another ``jaga hub run`` serves the data folder."""


def run_hub(args: argparse.Namespace) -> int:
    """Serve the hub; ``HubBusyError`` while another ``jaga hub run`` serves the same data
    folder: it would adopt that one's embedded PostgreSQL, fail to bind (or serve beside
    it) and stop that PostgreSQL on its way out, leaving the first answering 503."""
    from sync.hub.bootstrap import RUN_LOCK_FILE, check_data_dir, check_database_url

    if not os.environ.get("JAGA_HUB_ALLOWED_HOSTS", "").replace(",", " ").strip():
        print(_NO_HOST_NAMES, file=sys.stderr)
        return 1
    check_database_url()  # before the data folder is touched
    data = args.data or default_data_dir()
    check_data_dir(data)  # the default one too (--data is checked as it is read)
    data.mkdir(parents=True, exist_ok=True)
    lock = HeldLock(data / RUN_LOCK_FILE)
    try:
        if not lock.take(exclusive=True):
            raise HubBusyError(
                f"another `jaga hub run` serves {data}: stop it first (one hub per data folder)"
            )
        return _serve(data, args)
    finally:
        # Closed, never unlocked: the forked workers share the lock, and an unlock in one
        # would let it go for the master too; it goes when the last of them closes it.
        lock.release()


def _serve(data: Path, args: argparse.Namespace) -> int:
    from sync.hub.bootstrap import prepare
    from sync.hub.server import ServeOptions, serve

    environment = prepare(data, serves=True, makes_hub=True)
    try:
        reapply_erasures(data, at_start=True)
    except BaseException:
        environment.stop(owner=True)
        raise
    options = ServeOptions(args.host, args.port, args.workers, access_log=args.access_log)
    print(f"jaga hub: http://{args.host}:{args.port}/admin/  (API /api/v1/, schema /api/schema/)")
    master = os.getpid()
    try:
        return serve(options)
    finally:
        if os.getpid() == master:
            environment.stop(owner=True)
