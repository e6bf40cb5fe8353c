"""An erasure made on the hub survives a restore of its database from an older backup: the
erasure journal in the hub's data folder (``sync.hub.erasure_journal``) names it, and
``jaga hub renew-log-epoch`` (or ``jaga hub run`` at its start) applies it again before any
device pulls the site from the start (``sync.hub.erasure_replay``). Real hub process, real
``pg_dump``/``pg_restore``, real encrypted stores."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from main import main
from sync.hub.erasure_journal import DATA_DIR_ENV, JOURNAL_FILE
from tests.sync.client.devices import enrol, new_device
from tests.sync.client.test_log_epoch import _backup, _held, _hub_erase, _hub_erased, _restore
from tests.sync.hub.hubkit import HubProcess


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hub's data folder (in ``tmp_path``), which this process's admin actions journal
    into as the hub's would (``jaga hub`` commands set it; the test process is none)."""
    data = tmp_path / "hub"
    data.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    return data


def _erased_on_hub(person_uid: str) -> bool:
    """Whether the hub holds the person's tombstone (False: live, or not held at all)."""
    from sync.hub.models import Person

    return bool(Person.objects.filter(uid=person_uid, erased_at__isnull=False).exists())


def _logged_live(person_uid: str) -> bool:
    """Whether the change log holds an upsert of the person (which carries their data)."""
    from sync.hub.models import Change

    return bool(Change.objects.filter(entity_uid=person_uid, operation="upsert").exists())


@pytest.mark.parametrize("enrolled", ["before", "after"])
def test_an_admin_erasure_the_restore_undid_is_applied_again_before_any_device_pulls(
    enrolled: str,
    live_hub: HubProcess,
    site_slug: str,
    data: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The admin erases P after the backup and no device pulls it before the restore: the
    restored hub holds P live, and the renewal would have every device pull P from 0. The
    command applies the journaled erasure again: P is erased on the hub, a device that pulls
    the site from 0 never receives P, and the kiosk that held P erases them. P enrolled
    after the backup is not in the restored database at all: a tombstone all the same, or
    the kiosk's push of P after the renewal would bring them back."""
    tmp_path = data.parent
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-journal")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        kept = enrol(store, site_slug, "J-2", seed=82)
        if enrolled == "before":
            erased = enrol(store, site_slug, "J-1", seed=81)
        client.sync_once()
        _backup(dump)
        if enrolled == "after":
            erased = enrol(store, site_slug, "J-1", seed=81)
            client.sync_once()
        _hub_erase(erased)
        _restore(dump)
        assert not _erased_on_hub(erased)  # the restore undid it
        capsys.readouterr()

        assert main(["hub", "renew-log-epoch", "--data", str(data)]) == 0

        assert _hub_erased(erased) and not _hub_erased(kept)
        assert not _logged_live(erased) and _logged_live(kept)
        said = capsys.readouterr().out
        assert "applied again 1 erasure from" in said and f"site {site_slug}: 1 erasure" in said
        newcomer = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-new")
        with newcomer.open() as fresh, httpx.Client() as other:
            newcomer.client(fresh, other).sync_once()
            assert not _held(fresh, erased) and _held(fresh, kept)
        client.sync_once()  # pushes P again (superseded), pulls from 0: the tombstone
        assert not _held(store, erased) and _hub_erased(erased) and not _logged_live(erased)
        assert (data / JOURNAL_FILE).read_text().count(erased) == 1  # not journaled again


def test_the_hub_applies_the_journal_again_when_it_starts(
    live_hub: HubProcess, site_slug: str, data: Path
) -> None:
    """The hub started after the restore, before the command (or the command forgotten):
    it applies the journal at its start, so it never serves the erased person."""
    tmp_path = data.parent
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-start")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        erased = enrol(store, site_slug, "S-1", seed=83)
        client.sync_once()
        _backup(dump)
        _hub_erase(erased)
        _restore(dump)
        hub = HubProcess(live_hub.database_url, data)
        hub.start()
        try:
            assert _hub_erased(erased) and not _logged_live(erased)
        finally:
            hub.kill()
        assert "applied again 1 erasure from" in hub.log_path.read_text()


@pytest.mark.parametrize("journal", ["damaged line", "named pipe"])
def test_the_hub_starts_whatever_its_journal_holds(
    journal: str, live_hub: HubProcess, tmp_path: Path
) -> None:
    """A line of the wrong shape (a number for the uid) or a named pipe at the journal's
    path: the hub starts (under systemd, a failed start would restart it in a loop) and
    says what it could not read."""
    data = tmp_path / "hub"
    data.mkdir()
    if journal == "named pipe":
        os.mkfifo(data / JOURNAL_FILE)
        said = "could not read the erasure journal"
    else:
        (data / JOURNAL_FILE).write_text(
            '{"person":5,"site":"x","erased_at":"2026-01-01T00:00:00+00:00","kind":"admin"}\n'
        )
        said = "skipped 1 line of the erasure journal"
    hub = HubProcess(live_hub.database_url, data)
    hub.start(timeout_s=90)  # serves: its status answers 200
    hub.kill()
    assert said in hub.log_path.read_text()
