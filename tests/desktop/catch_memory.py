"""What the Catch panel's memory tests share: a real store under a passphrase found in no
source file, a photo to record, a worker process started on them with the passphrase in
its environment (as the app is started), and the forms a key is copied in."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import FAST, REPO_ROOT


@dataclass(frozen=True)
class PanelStore:
    path: Path
    passphrase: str
    key: bytes  # the store's key, as the worker will derive it
    photo: Path


def panel_store(folder: Path) -> PanelStore:
    passphrase = secrets.token_urlsafe(24)  # in no source file: the worker's environment only
    path = folder / "jaga.db"
    Store.create(path, Passphrase(passphrase), config=FAST).close()
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        key = store.key
    photo = folder / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    return PanelStore(path, passphrase, key, photo)


def start_worker(module: str, panel: PanelStore) -> subprocess.Popen[str]:
    """``module`` run on the store and photo, talking line by line on its stdin and stdout."""
    worker = subprocess.Popen(
        [sys.executable, "-m", module, str(panel.path), str(panel.photo)],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, PASSPHRASE_ENV: panel.passphrase},
    )  # fmt: skip
    assert worker.stdout is not None and worker.stdin is not None
    return worker


def key_forms(name: str, key: bytes) -> dict[str, bytes]:
    """The forms a key is copied in: raw (scrypt's output), and hex (the PRAGMA's text)."""
    return {f"{name} (raw)": key, f"{name} (hex)": key.hex().encode(),
            f"{name} (HEX)": key.hex().upper().encode()}  # fmt: skip
