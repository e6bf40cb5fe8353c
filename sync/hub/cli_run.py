"""``jaga hub run``: serve the hub from its data folder, one ``run`` per folder at a time
(``DATA/hub-run.lock``), after the erasures an older database lacks are applied again
(``cli_restore.reapply_erasures``)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

from sync.errors import SyncError
from sync.filelock import HeldLock
from sync.hub.cli_restore import reapply_erasures
from sync.hub.data_dir import default_data_dir
from sync.hub.restore_mark import check_no_unfinished_restore

# Said before anything starts: a hub guessing its names would answer its devices 400.
_NO_HOST_NAMES = (
    "jaga hub: set JAGA_HUB_ALLOWED_HOSTS to the names devices and browsers reach the hub by,"
    " comma-separated (hub.example.org,localhost); a request for any other Host is refused"
    " ('*' answers to any name, and trusts the Host of every request)"
)


class HubBusyError(SyncError):
    """Another ``jaga hub run`` serves the data folder."""


class PortUnusableError(SyncError):
    """``--host``/``--port`` cannot be listened on (another process holds the port, a port
    below 1024 without the right, an address this host lacks)."""


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
                f"another `jaga hub run` serves {data}, or a `jaga hub restore` replaces its"
                " database: wait for it or stop it first (one at a time per data folder)"
            )
        check_no_unfinished_restore(data)  # under the lock: a restore holds it too
        check_port_free(args.host, args.port)  # before PostgreSQL starts and the address is said
        return _serve(data, args)
    finally:
        # Closed, never unlocked: the forked workers share the lock, and an unlock in one
        # would let it go for the master too; it goes when the last of them closes it.
        lock.release()


def check_port_free(host: str, port: int) -> None:
    """``PortUnusableError`` when ``host:port`` cannot be bound now. Probed as gunicorn binds
    (``SO_REUSEADDR``, so a port a stopped hub left in TIME_WAIT passes): without it the hub
    announced its address, which was another process's, then gunicorn retried for 5 s."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise PortUnusableError(_why_not_bound(host, port, error)) from None


def _why_not_bound(host: str, port: int, error: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"{where}: another process listens there (another hub?); stop it, or give"
            " another --port"
        )
    if error.errno == errno.EACCES:
        return f"{where}: a port below 1024 needs root or CAP_NET_BIND_SERVICE; give another --port"
    cause = error.strerror or str(error)
    return f"{where}: {cause}; give another --host or --port"


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
