"""Jaga's entry point: no arguments starts the Qt app; a subcommand runs the CLI.

Each headless package contributes its own subcommands through a ``register(subparsers)``
function in its ``cli`` module, so this file stays a thin dispatcher and the CLI never
imports Qt. Qt is imported only when the app itself is started: ``jaga`` alone is
``jaga app``, which also takes the store's options (``--db``, ``--key-file``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import desktop.catch_cli
import desktop.kiosk.cli
import inference.cli
import inference.fish.pack
import sync.cli
from desktop.settings import add_app_options, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaga",
        description="Offline-first edge vision: face verification and fish species.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    inference.cli.register(subparsers)
    # The hub publishes only a pack the classifier of this release loads (sync and inference
    # may not import each other: this entry point joins them).
    sync.cli.register(
        subparsers,
        species_name=desktop.catch_cli.pack_species_name,
        pack_refusal=inference.fish.pack.pack_refusal,
    )
    desktop.catch_cli.register(subparsers)
    desktop.kiosk.cli.register(subparsers)
    app = subparsers.add_parser("app", help="open the window (what `jaga` alone does)")
    add_app_options(app)
    app.set_defaults(handler=_start_app)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv) or ["app"]
    parser = build_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    quiet_http_logs(verbose=args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    handler = args.handler
    return int(handler(args))


def quiet_http_logs(*, verbose: bool) -> None:
    """Keep httpx's line per request (one a photo chunk: thousands for a sync's backlog, in
    the journal of every timer run) out of the log unless ``--verbose`` asks for it; its
    warnings and errors still show."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def _start_app(args: argparse.Namespace) -> int:
    from desktop.app import run_app  # Qt only when the window is wanted

    return run_app(settings_from_args(args, os.environ), sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main())
