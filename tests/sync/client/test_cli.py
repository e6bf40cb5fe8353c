"""``jaga sync register | now | status`` in-process, against the real hub; the token is
never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from sync.hub.auth import create_device
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_observations
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    for name in ("JAGA_HUB_URL", "JAGA_SYNC_SITE", "JAGA_SYNC_DEVICE_ID", "JAGA_SYNC_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_register_now_and_status(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JAGA_SYNC_CODE", create_device(site_slug, "kiosk-cli").code)
    assert main(["sync", "register", "--hub", live_hub.url, "--db", str(db)]) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_observations(store, 25, "cli")
        token = store.database.query("SELECT value FROM sync_state WHERE name = 'device_token'")
    assert main(["sync", "now", "--db", str(db)]) == 0
    assert main(["sync", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "pushed 25 acknowledged, 0 quarantined" in out
    assert f"site         {site_slug}" in out and "acknowledged 25" in out
    assert "set (kept in the encrypted store)" in out
    assert token[0][0] not in out
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0)


def test_a_revoked_or_unknown_token_pauses_with_a_clear_message(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JAGA_SYNC_CODE", create_device(site_slug, "kiosk-cli").code)
    assert main(["sync", "register", "--hub", live_hub.url, "--db", str(db)]) == 0
    monkeypatch.setenv("JAGA_SYNC_TOKEN", "jaga_not-a-real-token")
    assert main(["sync", "now", "--db", str(db), "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert "sync paused" in err and "unknown_token" in err
    assert "jaga_not-a-real-token" not in err


def test_an_unregistered_device_is_told_to_register(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "now", "--db", str(db)]) == 1
    assert "jaga sync register --hub URL" in capsys.readouterr().err
    assert main(["sync", "status", "--db", str(db)]) == 0
    assert "(not registered)" in capsys.readouterr().out
