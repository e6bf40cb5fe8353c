"""``jaga sync register`` refuses a code of another site than the records the store has yet to
push: registered, the device would see the hub refuse each of them as forbidden, for good.
Against the real hub; the refused code stays usable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from main import main
from sync.client.errors import SyncConfigError
from sync.client.site_records import SiteRecords, register_for_records
from sync.hub.auth import create_device
from sync.protocol.entities import summarize
from sync.protocol.types import WireModel
from sync.store import Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess


def enrolled(db: Path, site: str, people: int, events: int = 0) -> None:
    """People enrolled (and decisions recorded) while the device was not registered."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        for n in range(people):
            enrol(store, site, f"{site}-{n}", seed=n + 1)
        add_access_events(store, site, events)


def register(db: Path, hub: HubProcess, *extra: str) -> int:
    return main(["sync", "register", "--hub", hub.url, "--db", str(db), *extra])


def stored_site(db: Path) -> list[tuple[object, ...]]:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        return store.database.query("SELECT value FROM sync_state WHERE name = 'site'")


def test_a_code_of_another_site_is_refused_unspent(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Registered to gate-a with hq's people unsent, every push was 'forbidden: person for
    site hq from a gate-a device', quarantined, with no fix and exit 0."""
    hq, gate = f"{site_slug}-hq", f"{site_slug}-gate"
    enrolled(db, hq, people=5, events=2)
    code = create_device(gate, "gate-kiosk").code
    monkeypatch.setenv("JAGA_SYNC_CODE", code)
    assert register(db, live_hub) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"the code is for site {gate}" in err
    assert f"unsent records of site {hq} (5 people, 2 access events)" in err
    assert "the code was not used" in err
    assert f"jaga hub create-device --site {hq}" in err
    assert stored_site(db) == []
    other = tmp_path / "empty.db"  # the code still registers a device with nothing to push
    Store.create(other, Passphrase(PASSPHRASE), config=FAST).close()
    assert register(other, live_hub) == 0


def test_a_code_of_the_records_site_registers(
    db: Path, live_hub: HubProcess, site_slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrolled(db, site_slug, people=2)
    code = create_device(site_slug, "hq-kiosk").code
    monkeypatch.setenv("JAGA_SYNC_CODE", code)
    assert register(db, live_hub) == 0
    assert stored_site(db) == [(site_slug,)]
    assert main(["sync", "now", "--db", str(db)]) == 0


def test_records_of_several_sites_are_named_before_any_code_is_sent(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever the code's site, the other site's records could never be pushed."""
    hq, gate = f"{site_slug}-hq", f"{site_slug}-gate"
    enrolled(db, hq, people=1)
    enrolled(db, gate, people=0, events=3)
    code = create_device(hq, "hq-kiosk").code
    monkeypatch.setenv("JAGA_SYNC_CODE", code)
    assert register(db, live_hub) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"unsent records of 2 sites: {gate} (3 access events), {hq} (1 person)" in err
    assert "the code was not used" in err and "--strand-records" in err
    assert stored_site(db) == []
    assert register(db, live_hub, "--strand-records") == 0  # the operator chose
    assert stored_site(db) == [(hq,)]


def test_strand_records_registers_to_another_site_on_purpose(
    db: Path, live_hub: HubProcess, site_slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrolled(db, f"{site_slug}-hq", people=1)
    code = create_device(site_slug, "moved").code
    monkeypatch.setenv("JAGA_SYNC_CODE", code)
    assert register(db, live_hub, "--strand-records") == 0
    assert stored_site(db) == [(site_slug,)]


class RegisterRequestBeforeSites(WireModel):
    """``RegisterRequest`` as a hub before ``sites`` reads it."""

    code: str


def older_hub(request: httpx.Request) -> httpx.Response:
    """The register endpoint of a hub before ``RegisterRequest.sites``: it refuses the field
    as unknown, and uses the code it is given (the real hub's ``register``)."""
    from sync.hub import auth

    try:
        body = RegisterRequestBeforeSites.model_validate_json(request.content)
    except ValidationError as error:
        refused = {"error": "invalid_body", "reason": summarize(error)}
        return httpx.Response(400, json=refused)
    _, result = auth.register(body.code)
    return httpx.Response(200, json=result.model_dump(mode="json"))


def test_an_older_hub_is_asked_without_sites_and_its_answer_checked(
    hub_database: str, site_slug: str
) -> None:
    """An older hub cannot check first: a code of the records' site registers; another's
    is spent, and the error says so and names the device to revoke."""
    hq = SiteRecords(site_slug, (("person", 1),))
    with httpx.Client(transport=httpx.MockTransport(older_hub)) as http:
        fitting = create_device(site_slug, "hq-kiosk").code
        assert register_for_records(http, "http://hub", fitting, [hq]).result.site == site_slug
        other = create_device(f"{site_slug}-gate", "gate-kiosk").code
        with pytest.raises(SyncConfigError) as refused:
            register_for_records(http, "http://hub", other, [hq])
    said = str(refused.value)
    assert f"the code was for site {site_slug}-gate" in said and "revoke it" in said
    assert f"unsent records of site {site_slug} (1 person)" in said
