"""A decision the store refused while a kiosk was killed is recorded at the kiosk's next start,
once: a real kiosk process (the real models, a real store) killed with SIGKILL while another
connection held the store's write lock, as a long sync or a backup does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_settings, open_kiosk
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.kiosk_worker import DEVICE, QUICK, SITE
from tests.desktop.kiosk.test_kiosk_unwritten import held_by_another, written
from tests.sync.conftest import REPO_ROOT

pytestmark = pytest.mark.needs_shared


def killed_while_waiting(path: Path) -> str:
    """Run the kiosk worker on the store, hold the store while it decides, and SIGKILL it
    once a decision waits; what it said last."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.kiosk.kiosk_worker", str(path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert worker.stdout.readline().strip() == "ready"
        with held_by_another(path):
            worker.stdin.write("go\n")
            worker.stdin.flush()
            said = worker.stdout.readline().strip()
            worker.kill()  # SIGKILL: nothing of the process runs after it
            worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    return said


def start_kiosk(path: Path, stages: Stages) -> None:
    """The kiosk's next start, as the app opens it, and its stop (``KioskRunner``): nobody
    comes in between."""
    options = KioskOptions(site=SITE, device=DEVICE)
    models = kiosk_settings(None), stages
    with open_kiosk(path, Passphrase(PASSPHRASE), options, {}, QUICK, models=models) as session:
        session.finish()


def test_a_refusal_waiting_for_the_store_survives_a_kill(tmp_path: Path, stages: Stages) -> None:
    path = tmp_path / "kiosk.db"
    Store.create(path, Passphrase(PASSPHRASE), config=QUICK).close()
    assert killed_while_waiting(path) == "waiting 1"  # the spoof, refused by the busy store
    assert written(path) == []  # the kill came before the store took it
    start_kiosk(path, stages)
    assert written(path) == ["spoof_detected"]
    start_kiosk(path, stages)  # and never twice
    assert written(path) == ["spoof_detected"]
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        assert store.audit.verify().ok
