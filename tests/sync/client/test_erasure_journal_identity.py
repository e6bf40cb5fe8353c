"""The erasure journal's hub identity follows no key: after the data folder's `secret_key`
is replaced, or while it is empty (a command's throwaway key), a restore of the database
still applies the hub's own journaled erasures again. Real `jaga hub` processes, real
pg_dump/pg_restore, the embedded PostgreSQL."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from sync.hub.erasure_journal import DATA_DIR_ENV, HUB_ID_FILE, JOURNAL_FILE, THROWAWAY_KEY_ENV
from tests.sync.client.test_log_epoch import _backup, _hub_erase, _restore
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api, HubProcess, jaga_hub


def _live(uid: str) -> bool:
    from sync.hub.models import Person

    return bool(Person.objects.filter(uid=uid, erased_at__isnull=True).exists())


def _pushed(site_slug: str, name: str, *, expired: bool = False) -> str:
    from django.utils import timezone

    from sync.protocol import format_timestamp

    api = Api.register_new(site_slug, f"kiosk-{uuid4().hex[:8]}")
    person = e.person(site_slug, name=name)
    if expired:  # consent given 400 days ago, kept 30: the purge erases them
        given = timezone.now() - timedelta(days=400)
        person["consent"]["given_at"] = format_timestamp(given)
        person["consent"]["retain_until"] = format_timestamp(given + timedelta(days=30))
    assert api.push(e.entry("person", "upsert", person))["rejected"] == []
    return str(person["person_uid"])


def test_a_replaced_key_file_keeps_the_hubs_own_erasures_its_own(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P erased in the admin after the backup; the data folder's key file replaced (README:
    delete it for a new one); the database restored: renew-log-epoch erases P again."""
    data = tmp_path / "hub"
    data.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(data))  # this process's admin erasure journals there
    monkeypatch.delenv(THROWAWAY_KEY_ENV, raising=False)
    erased = _pushed(site_slug, "Pat Rotated")
    dump = tmp_path / "hub.dump"
    _backup(dump)
    _hub_erase(erased)
    hub_id = data / HUB_ID_FILE
    assert stat.S_IMODE(hub_id.stat().st_mode) == 0o600
    _restore(dump)
    assert _live(erased)

    (data / "secret_key").write_text("rotated-" + uuid4().hex * 2 + "\n")
    done = jaga_hub("renew-log-epoch", "--data", str(data), database_url=live_hub.database_url)

    assert done.returncode == 0, done.stderr
    assert not _live(erased)
    assert "another hub" not in done.stderr


def test_a_purge_on_an_empty_key_file_journals_under_the_hubs_own_identity(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The purge goes on with a throwaway key when the key file is empty; its line names the
    hub's kept identity, so once the key is back and the database restored, the erasure is
    applied again."""
    data = tmp_path / "hub"
    data.mkdir()
    purged = _pushed(site_slug, "Old Consent", expired=True)
    dump = tmp_path / "hub.dump"
    _backup(dump)

    (data / "secret_key").write_text("")  # found empty (a full disk)
    purge = jaga_hub("purge-expired", "--data", str(data), "--trust-clock",
                     database_url=live_hub.database_url)  # fmt: skip
    assert purge.returncode == 0, purge.stderr
    assert not _live(purged)
    line = next(
        json.loads(text)
        for text in (data / JOURNAL_FILE).read_text().splitlines()
        if purged in text
    )
    assert line["hub"] == (data / HUB_ID_FILE).read_text().strip()

    (data / "secret_key").write_text("kept-" + uuid4().hex * 2 + "\n")  # put back
    _restore(dump)
    assert _live(purged)
    done = jaga_hub("renew-log-epoch", "--data", str(data), database_url=live_hub.database_url)

    assert done.returncode == 0, done.stderr
    assert not _live(purged)
