"""``jaga hub new-id`` gives a hub a new id (``sync.hub.cli_identity``): a copy of a hub's
database (a staging hub made from a production dump) named the production hub's id, and
devices took the two for one hub. Before, README gave an SQL update. Run against the real
hub while ``jaga hub run`` serves it: its next answers name the new id, and a device
registered with it before takes it for another hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from main import main
from sync.client.hub_identity import probe_hub_id
from sync.client.site_records import hub_left
from sync.client.state import read_values
from sync.hub.models import HubIdentity
from sync.protocol import HUB_ID_HEADER
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE
from tests.sync.client.test_register_moved import env, kiosk, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name


@pytest.fixture
def id_put_back(live_hub: HubProcess) -> Iterator[None]:
    """The session's hub gets its id back after the test: other tests keep it."""
    before = HubIdentity.objects.get().uid
    yield
    HubIdentity.objects.update(uid=before)


def _named(hub: HubProcess) -> str:
    """The id the serving hub names itself by in its status answer."""
    return httpx.get(f"{hub.url}/api/v1/status").headers[HUB_ID_HEADER]


def _new_id(data: Path, *options: str) -> int:
    return main(["hub", "new-id", "--data", str(data), *options])


def test_without_confirm_it_changes_nothing(
    live_hub: HubProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _named(live_hub)

    assert _new_id(tmp_path) == 1

    said = capsys.readouterr().err
    assert "--confirm" in said
    # A device that synced with the copy under the old id keeps its catches as the other
    # hub's (``sync.store.catch_hub``): found by review, the text said "before it first serves".
    assert "BEFORE the copy serves any device" in said, said
    assert _named(live_hub) == before


def _registered_kiosk(env: pytest.MonkeyPatch, hub: HubProcess, site: str, db: Path) -> None:
    kiosk(db, site, [])
    assert register(env, db, hub.url, site) == 0


def _kept_id(db: Path) -> str:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return read_values(store.database)["hub_id"]


@pytest.mark.usefixtures("id_put_back")
def test_the_serving_hub_names_a_new_id_and_a_device_registered_before_sees_another_hub(
    env: pytest.MonkeyPatch,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "kiosk" / "jaga.db"
    _registered_kiosk(env, live_hub, site_slug, db)
    old = _named(live_hub)
    capsys.readouterr()

    assert _new_id(tmp_path / "hub", "--confirm") == 0

    new = _named(live_hub)  # the hub served throughout: its next answer names the new id
    assert new != old
    said = capsys.readouterr().out
    assert old in said and new in said
    assert _kept_id(db) == old
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store, httpx.Client() as http:
        # Registered again at the same address, the hub is another one.
        probed = probe_hub_id(http, live_hub.url)
        assert hub_left(store.database, live_hub.url, probed) == live_hub.url


@pytest.mark.usefixtures("id_put_back")
def test_a_device_registered_before_learns_the_new_id_at_its_next_sync(
    env: pytest.MonkeyPatch, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Its token still names its device: the pull's answer is its hub's
    (``sync.client.hub_identity.learn_hub_id``), as the command says."""
    db = tmp_path / "kiosk" / "jaga.db"
    _registered_kiosk(env, live_hub, site_slug, db)

    assert _new_id(tmp_path / "hub", "--confirm") == 0

    assert sync(db) == 0
    assert _kept_id(db) == _named(live_hub)
