"""The Catch panel's start reads the kept catches and the review list in one open of the store.

Review (desktop/catch_store.py:140): once each catch went to the spool from its Record, a
spool was beside every store recorded from, and each start opened the store twice on the
panel's worker (the kept catches, then the review list) before the first photo could be
classified: each open derives the key with scrypt, 0.5-1 s at the production cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtWidgets import QApplication

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_controller import CatchController
from desktop.catch_panel import CatchPanel
from desktop.catch_photo import read_catch_photo
from desktop.catch_records import CatchRecord
from desktop.catch_store import CatchStore
from desktop.settings import AppSettings
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.pending_catches import spool_exists, spool_path
from tests.desktop.catch_worker import NO_FISH
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch_spool_at_record import HeldClassifier, OnePack
from tests.desktop.test_catch_spool_crash import QUICK
from tests.inference.fish.test_images import grey_png

if TYPE_CHECKING:
    from desktop.species import SpeciesPacks


@dataclass(frozen=True)
class OpenCounting(CatchStore):
    """The real catch store, noting each open of the store (each derives the key)."""

    opens: list[str] = field(default_factory=list)

    def _open(self) -> Store:
        self.opens.append("open")
        return super()._open()


def test_a_start_with_a_spool_opens_the_store_once(
    qapp: QApplication, store_path: Path, tmp_path: Path
) -> None:
    del qapp
    photo = tmp_path / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    recorded = CatchRecord(
        read_catch_photo(photo).file(), (CaughtFish(None, NO_FISH),),
        CatchDetails(officer="Ana Lima"), (None,),
    )  # fmt: skip
    CatchStore(store_path, Passphrase(PASSPHRASE), QUICK).record(recorded)
    assert spool_exists(store_path)  # from the first Record on: every start reads it

    settings = AppSettings(store_path, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, QUICK)
    panel = CatchPanel()
    controller = CatchController(settings, panel, cast("SpeciesPacks", OnePack(HeldClassifier())))
    counting = OpenCounting(store_path, Passphrase(PASSPHRASE), QUICK)
    controller.store = controller.review.store = counting
    try:
        controller.start()
        wait_until(lambda: "1 waiting" in panel.review.summary.text(), "the review list")
        assert controller.records.refused == []
        assert len(counting.opens) == 1, "each open at start derives the key again"
    finally:
        controller.stop()
        panel.deleteLater()


def test_a_spool_that_does_not_open_at_start_still_lets_the_review_list_show(
    qapp: QApplication, store_path: Path
) -> None:
    """Read in one job, the kept catches' failure must not take the review list with it."""
    del qapp
    spool_path(store_path).write_bytes(b"not a database, and not empty" * 200)
    settings = AppSettings(store_path, None, {PASSPHRASE_ENV: PASSPHRASE}, 3600, QUICK)
    panel = CatchPanel()
    controller = CatchController(settings, panel, cast("SpeciesPacks", OnePack(HeldClassifier())))
    try:
        controller.start()
        wait_until(lambda: "catches kept from before" in panel.record_message.text(), "the spool")
        assert "not recorded" in panel.record_message.text()
        wait_until(lambda: "nothing waits" in panel.review.summary.text(), "the review list")
    finally:
        controller.stop()
        panel.deleteLater()
