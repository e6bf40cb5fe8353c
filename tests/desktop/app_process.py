"""The app in a process of its own, as a kiosk runs it, for the tests of how it ends:
``python -m tests.desktop.app_process STORE READY_FILE [--hanging-pack] [--quit-after-s S]
[--gc-probe] [--hold-opening FILE]``.

It creates ``READY_FILE`` once its event loop runs (a test signals it only then) and logs
at INFO to stderr, as ``jaga app`` does. With ``--hanging-pack`` the species pack load never
ends, as a TensorRT engine build on a Jetson seems to for minutes. With ``--gc-probe`` a
worker thread makes cyclic garbage and allocates enough to pass the collector's threshold,
and the process prints which thread collected it, then quits. With ``--hold-opening FILE``
the window's opening creates ``FILE.opening`` and waits until ``FILE`` exists (a test stops
the app meanwhile, before its event loop runs).
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import desktop.app
from desktop.app import QUIT_AFTER_ENV, MainWindow, run_app
from desktop.settings import AppSettings
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.passphrases import PASSPHRASE
from tests.sync.conftest import FAST

if TYPE_CHECKING:
    from inference.fish.classify import SpeciesClassifier


def hanging_build(root: Path) -> SpeciesClassifier:
    threading.Event().wait()
    raise AssertionError("unreachable: the load never ends")


def announcing(
    ready: Path, open_window: Callable[..., MainWindow], *args: Any, **kwargs: Any
) -> MainWindow:
    """``open_window``, then ``ready`` created from the event loop, once it runs."""
    window = open_window(*args, **kwargs)
    QTimer.singleShot(0, ready.touch)
    return window


def held_open(hold: Path, open_window: Callable[..., MainWindow], *args: Any,
              **kwargs: Any) -> MainWindow:  # fmt: skip
    """``open_window`` once ``hold`` exists; ``hold.opening`` says it is waiting."""
    hold.with_suffix(".opening").touch()
    while not hold.exists():
        time.sleep(0.02)  # Python code runs: a signal's handler runs here, as in a slow open
    return open_window(*args, **kwargs)


class _Cycle:
    """Garbage only the cyclic collector frees; says which thread freed it."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        print(f"collected on {threading.current_thread().name}", flush=True)


def _make_garbage() -> None:
    _Cycle()
    # container allocations, far past the youngest generation's threshold
    held: list[list[int]] = [[] for _ in range(100_000)]
    del held


def gc_probe() -> None:
    """From the event loop: a worker makes the garbage (the GUI thread waits, allocating
    nothing meanwhile), then the app runs a second more and quits."""
    worker = threading.Thread(target=_make_garbage, name="jaga-probe-worker")
    worker.start()
    worker.join()
    print("worker done", flush=True)
    app = QApplication.instance()
    assert app is not None
    QTimer.singleShot(1000, app.quit)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("ready", type=Path)
    parser.add_argument("--hanging-pack", action="store_true")
    parser.add_argument("--quit-after-s", default="")
    parser.add_argument("--gc-probe", action="store_true")
    parser.add_argument("--hold-opening", type=Path)
    args = parser.parse_args(argv)
    if args.gc_probe:
        QTimer.singleShot(0, gc_probe)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parts: dict[str, Any] = {"find_pack": lambda: None}  # no pack to load: a second saved
    if args.hanging_pack:
        parts = {"build": hanging_build, "find_pack": lambda: args.store.parent}
    opener = functools.partial(desktop.app.open_window, **parts)
    if args.hold_opening is not None:
        opener = functools.partial(held_open, args.hold_opening, opener)
    desktop.app.open_window = functools.partial(announcing, args.ready, opener)
    env = {PASSPHRASE_ENV: PASSPHRASE, QUIT_AFTER_ENV: args.quit_after_s}
    return run_app(AppSettings(args.store, None, env, store_config=FAST), ["jaga"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
