"""Decision retention at the kiosk's start (``sync.store.retention_start``): a kiosk never
registered never syncs, and so never deleted the journals it set aside under an old key.
The real models and store; the run is on a thread of its own, joined here by its name."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_models, open_kiosk
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from inference.pack.installed import ModelPack
from sync.store import Passphrase, Store
from sync.store.audit import APPLIED
from sync.store.kiosk_waiting import set_aside_path
from sync.store.retention import DEFAULT_KEEP_DAYS
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


@pytest.fixture(scope="module")
def models(model_pack: ModelPack) -> tuple[FaceSettings, Stages]:
    options = KioskOptions(models_dir=model_pack.root, providers="cpu", threads=1)
    return kiosk_models(options)


def start_kiosk(path: Path, models: tuple[FaceSettings, Stages]) -> None:
    """A kiosk's start and stop: its retention run, if it began one, ends with it (a run
    left behind logs into whatever stream is current then: another test's, or a closed
    one's)."""
    options = KioskOptions(providers="cpu", threads=1, site="front-gate", device="k1")
    with open_kiosk(path, Passphrase(PASSPHRASE), options, {}, FAST, models=models):
        pass
    assert not [t for t in threading.enumerate() if t.name == "jaga-retention"]


def set_aside_past_the_window(store_path: Path) -> Path:
    """A journal the kiosk set aside under an old key longer ago than decisions are kept."""
    at = datetime.now(UTC) - timedelta(days=DEFAULT_KEEP_DAYS + 1)
    aside = set_aside_path(store_path, at)
    aside.write_bytes(b"\x8f" * 4096)  # another key's database: nothing here opens it
    return aside


def applied_runs(path: Path) -> int:
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        return sum(entry.action == APPLIED for entry in store.audit.entries())


def test_a_kiosk_never_registered_deletes_a_set_aside_journal_at_its_start_once_a_day(
    tmp_path: Path, models: tuple[FaceSettings, Stages]
) -> None:
    path = tmp_path / "k.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()  # never registered
    aside = set_aside_past_the_window(path)

    start_kiosk(path, models)

    assert not aside.exists()
    assert applied_runs(path) == 1  # the run's entry counts the journal it deleted
    again = set_aside_past_the_window(path)
    again = again.rename(again.with_name(again.name + "-2"))
    start_kiosk(path, models)  # the same day: not due
    assert again.exists() and applied_runs(path) == 1
