"""Where the app finds its store and the store's key: the conventions of ``jaga store``.

``--db PATH`` (else ``$JAGA_STORE_PATH``, else the user's data folder) and ``--key-file FILE``
(else the passphrase in ``$JAGA_STORE_PASSPHRASE``, taken out of the environment once read,
into the one ``Passphrase`` every part of the app opens the store with) mean what they mean
to ``jaga store`` and ``jaga sync``, so an operator who can run ``jaga sync status`` can
start the app on the same store. Unlike the CLI, the window never
prompts on a terminal for the passphrase: without a key it says how to give one. This module
imports no Qt: ``jaga`` builds its parser from it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sync.client.config import TOKEN_ENV
from sync.errors import KeySourceError
from sync.store.cli import STORE_PATH_ENV, default_store_path
from sync.store.env_secrets import take_secret
from sync.store.key_memory import zero
from sync.store.key_sources import (
    PASSPHRASE_ENV,
    PASSPHRASE_VARIABLES,
    passphrases_taken_from,
    resolve_key_source,
)
from sync.store.passphrase import Passphrase

if TYPE_CHECKING:  # the store's database module loads SQLCipher: not for `jaga app --help`
    from sync.store import KeySource, StoreConfig

DEFAULT_SYNC_INTERVAL_S = 60.0
LOCKED_MESSAGE = f"store locked: set ${PASSPHRASE_ENV} or start with --key-file FILE"
# Taken out of the environment once read (``settings_from_args``): the app uses the first.
# The secrets no process the app starts is to inherit: the passphrases and the hub token
# (the sync reads the settings' copy: ``sync.client.config.take_token``'s rule).
SECRET_VARIABLES = (*PASSPHRASE_VARIABLES, TOKEN_ENV)


@dataclass(frozen=True)
class AppSettings:
    store_path: Path
    key_file: Path | None = None
    # A deployment's hub registration is read from here (and, without ``passphrase``, the
    # passphrase: a test's settings); never shown.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S
    store_config: StoreConfig | None = None  # None: the store's defaults (tests shrink them)
    # Kiosk mode: the camera (camera:N) or video the window verifies faces from, 1:N, and
    # the site and device its events are recorded under when the device is not registered.
    kiosk_source: str | None = None
    site: str | None = None
    device: str | None = None
    # The passphrase taken out of the environment (``settings_from_args``): one buffer for
    # every part of the app, overwritten when the app quits (``forget_secrets``).
    passphrase: Passphrase | None = field(default=None, repr=False, compare=False)

    def forget_secrets(self) -> None:
        """Overwrite the passphrase (the app quits): no part of the app opens the store again."""
        if self.passphrase is not None:
            self.passphrase.forget()


def add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"store file (default: ${STORE_PATH_ENV} or {default_store_path()})",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help=f"the store's key file (default: the passphrase in ${PASSPHRASE_ENV})",
    )
    parser.add_argument(
        "--sync-interval",
        type=_positive_seconds,
        default=DEFAULT_SYNC_INTERVAL_S,
        help=f"seconds between background syncs ({DEFAULT_SYNC_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--kiosk",
        metavar="SOURCE",
        type=_kiosk_source,
        help="kiosk mode: verify faces from camera:N or a video file (1:N against the store's "
        "gallery; every decision recorded)",
    )
    parser.add_argument("--site", help="kiosk: site of an unregistered device's events")
    parser.add_argument("--device", help="kiosk: name of an unregistered device")


def settings_from_args(args: argparse.Namespace, env: MutableMapping[str, str]) -> AppSettings:
    """The app's settings. The store's passphrases are taken out of ``env`` (``os.environ``
    when the app starts) first, its copies there overwritten (``take_secret``): the one the
    app uses into ``AppSettings.passphrase``, the others dropped. The settings then keep a
    copy of the rest, the hub token with it, which is then taken out of ``env`` too. A
    process the app starts, a crash report or a library that dumps the environment finds
    none of them there."""
    passphrase = _taken_passphrase(env)
    store_path = Path(args.db) if args.db is not None else default_store_path()
    settings = AppSettings(store_path, args.key_file, dict(env), args.sync_interval,
                           kiosk_source=args.kiosk, site=args.site, device=args.device,
                           passphrase=passphrase)  # fmt: skip
    _drop(take_secret(env, TOKEN_ENV))  # the settings' copy is what the sync reads
    return settings


def _taken_passphrase(env: MutableMapping[str, str]) -> Passphrase | None:
    taken = passphrases_taken_from(env)
    passphrase = taken.pop(PASSPHRASE_ENV, None)
    for other in taken.values():  # a key change's: the app makes none
        other.forget()
    return passphrase


def _drop(buffer: bytearray | None) -> None:
    if buffer is not None:
        zero(buffer)


def key_source(settings: AppSettings) -> KeySource | None:
    """The key file, else the passphrase taken from the environment (the same object each
    time: every part of the app holds the one buffer); None when neither is given."""
    if settings.key_file is None and settings.passphrase is not None:
        return settings.passphrase
    try:
        return resolve_key_source(settings.key_file, env=settings.env, interactive=False)
    except KeySourceError:  # a window has no terminal to ask on
        return None


def _kiosk_source(text: str) -> str:
    """A ``camera:`` source that names no camera is refused when the app starts, not retried
    as an unplugged camera would be."""
    from desktop.kiosk.sources import KioskSourceError, check_source  # OpenCV: only then

    try:
        return check_source(text)
    except KioskSourceError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"the sync interval must be positive, not {text}")
    return seconds
