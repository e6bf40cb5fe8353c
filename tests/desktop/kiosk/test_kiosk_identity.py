"""Whose events a kiosk records: its registration's, else the site and device it is told;
a site the hub would refuse is refused now."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.kiosk.errors import KioskError
from desktop.kiosk.identity import KioskIdentity, enrolment_site, kiosk_identity
from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.sync.client.fakehub import DEVICE, SITE
from tests.sync.conftest import FAST


def opened(path: Path) -> Store:
    return Store.open(path, Passphrase(PASSPHRASE), config=FAST)


def test_a_registered_kiosk_records_under_its_registration(registered_store: Path) -> None:
    with opened(registered_store) as store:
        assert kiosk_identity(store, {}) == KioskIdentity(SITE, str(DEVICE))
        assert kiosk_identity(store, {}, SITE, "ignored") == KioskIdentity(SITE, str(DEVICE))
        assert enrolment_site(store, {}) == SITE


def test_a_site_other_than_the_registration_is_refused(registered_store: Path) -> None:
    with opened(registered_store) as store, pytest.raises(KioskError, match="registered with"):
        kiosk_identity(store, {}, "another-site", "kiosk-1")


def test_an_unregistered_kiosk_needs_a_site_and_a_device(store_path: Path) -> None:
    with opened(store_path) as store:
        with pytest.raises(KioskError, match="not registered"):
            kiosk_identity(store, {}, "front-gate")
        with pytest.raises(KioskError, match="not registered"):
            enrolment_site(store, {})
        assert kiosk_identity(store, {}, "front-gate", "k1") == KioskIdentity("front-gate", "k1")
        with pytest.raises(KioskError, match="not a site slug"):
            kiosk_identity(store, {}, "Front Gate", "k1")
        with pytest.raises(KioskError, match="at most 200 characters"):  # the hub refuses it
            kiosk_identity(store, {}, "front-gate", "k" * 201)
        with pytest.raises(KioskError, match="the device's name holds no control character"):
            kiosk_identity(store, {}, "front-gate", "k\u202e1")  # each event would be refused
