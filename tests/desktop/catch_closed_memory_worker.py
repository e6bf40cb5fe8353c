"""The Catch panel's start, one Record, then the panel closed and the app quit, in a process
of its own, for a test to scan its memory: ``python -m tests.desktop.catch_closed_memory_worker
STORE PHOTO`` with the passphrase in ``$JAGA_STORE_PASSPHRASE``, as the app is started.

It runs what ``key_memory_worker`` runs, says ``running`` and waits for a line on stdin;
then does what closing the window does to the panel's secrets (``close_catch_mode``),
collects garbage, says ``done`` and waits for a line again: the test reads its memory at
each wait. The passphrase is in no source file.
"""

from __future__ import annotations

import gc
import os
import sys

import main
from desktop.catch_store import CatchStore
from desktop.settings import AppSettings, settings_from_args
from tests.desktop.key_memory_worker import run


def close_catch_mode(catch_store: CatchStore, settings: AppSettings) -> None:
    """What the window does to them as it closes: ``CatchController.stop`` closes the
    panel's store (its spool key), and ``run_app``, once the app quits, forgets the
    passphrase every part of the app held."""
    catch_store.close()
    settings.forget_secrets()


def main_(store_path: str, photo_path: str) -> int:
    args = main.build_parser().parse_args(["app", "--db", store_path])
    settings = settings_from_args(args, os.environ)
    held = run(settings, photo_path)
    gc.collect()
    print("running", flush=True)
    sys.stdin.readline()
    close_catch_mode(held, settings)
    del held, settings
    gc.collect()
    print("done", flush=True)
    sys.stdin.readline()
    return 0


if __name__ == "__main__":
    sys.exit(main_(*sys.argv[1:]))
