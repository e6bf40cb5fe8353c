"""Consent retention across real devices and a real hub: a sync erases the people whose
retention ended (even when the hub is out of reach) and the tombstone reaches every device;
the hub hands a person past retention to no device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from django.utils import timezone

from main import main
from sync.client import HubUnavailableError
from sync.hub.models import Person
from sync.hub.retention import purge_expired
from sync.protocol import format_timestamp
from sync.store import Consent, Passphrase, Store, Template
from sync.store.backups import backup, restore
from tests.sync.client.devices import MODEL, PASSPHRASE, Device, SkewedClock, enrol, new_device
from tests.sync.conftest import FAST, FakeClock, random_vector
from tests.sync.hub.hubkit import HubProcess, free_port


def _enrol_with_consent(store: Store, site: str, badge: str, seed: int, days: int) -> str:
    """A person whose consent, given now by the store's clock, keeps them ``days`` days."""
    now = store.clock.now()
    enrolment = store.people.enrol(
        external_id=badge,
        display_name=f"Person {badge}",
        site=site,
        consent=Consent("kiosk-consent-v3", now, "officer-7", now + timedelta(days=days)),
        templates=[Template(MODEL, random_vector(seed), 0.9, "camera")],
        operator="officer-7",
        duplicate_threshold=0.99,
    )
    return enrolment.person.person_uid


def _later(days: int) -> FakeClock:
    """The wall clock ``days`` days on (back, when negative), standing still."""
    return FakeClock(datetime.now(UTC) + timedelta(days=days))


def _retention_ended(person_uid: str, *devices: Device) -> None:
    """The person's retention date, yesterday on the hub and in ``devices``' copies: time
    has passed for them, right clocks and all."""
    ended = datetime.now(UTC) - timedelta(days=1)
    hub_person = Person.objects.get(uid=person_uid)
    hub_person.consent = {**hub_person.consent, "retain_until": format_timestamp(ended)}
    hub_person.save(update_fields=["consent"])
    for device in devices:
        with device.open() as store, store.database.write() as connection:
            connection.execute(
                "UPDATE people SET retain_until = ? WHERE person_uid = ?",
                (format_timestamp(ended), person_uid),
            )


def test_a_person_past_retention_reaches_no_new_device_and_is_erased_everywhere(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    with kiosk_a.open(clock=_later(-400)) as a, httpx.Client() as http:
        # Enrolled long ago for 30 days; synced then, so the hub holds the person.
        overdue = _enrol_with_consent(a, site_slug, "OLD-1", seed=3, days=30)
        kiosk_a.client(a, http).sync_once()
    assert not Person.objects.get(uid=overdue).erased
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_b.open() as b, httpx.Client() as http:
        kiosk_b.client(b, http).sync_once()
        assert b.people.by_external_id("OLD-1") is None
        assert len(b.gallery(MODEL)) == 0
    with kiosk_a.open() as a, httpx.Client() as http:  # today: its retention ended
        report = kiosk_a.client(a, http).sync_once()
        assert a.people.count() == 0 and len(a.gallery(MODEL)) == 0
        assert report.expired == (overdue,)
        assert "erased 1 person past their retention date" in report.summary()
        assert report.push.acknowledged == 1  # the tombstone, in this same sync
    assert Person.objects.get(uid=overdue).erased


def test_a_sync_erases_a_person_whose_retention_ended_and_the_others_follow(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, kiosk_b.open() as b, httpx.Client() as http:
        person = _enrol_with_consent(a, site_slug, "B-30", seed=5, days=30)
        kept = enrol(a, site_slug, "B-365", seed=6)
        kiosk_a.client(a, http).sync_once()
        kiosk_b.client(b, http).sync_once()
        assert b.people.count() == 2 and len(b.gallery(MODEL)) == 2
    _retention_ended(person, kiosk_b)  # by the hub's clock and B's, not yet in A's copy
    with kiosk_b.open() as b, httpx.Client() as http:
        report = kiosk_b.client(b, http).sync_once()
        assert [p.person_uid for p, _ in b.people.listing()] == [kept]
        assert report.expired == (person,)
        assert b.audit.entries()[-1].action == "person.erased"
    assert Person.objects.get(uid=person).erased
    with kiosk_a.open() as a, httpx.Client() as http:
        pulled = kiosk_a.client(a, http).sync_once().pull
        assert pulled.erased == 1
        assert [p.person_uid for p, _ in a.people.listing()] == [kept]


def test_a_kiosk_whose_clock_is_ahead_erases_nobody_else_before_their_retention_ends(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Kiosk B's clock reads 2 h ahead (its RTC set to local time, say): at its sync it
    erases its own copy of a person whose retention ends in 1 h, but the hub keeps them
    (and sends them back to B), and so does kiosk A, until the hub's purge erases them on
    time."""
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, kiosk_b.open() as b, httpx.Client() as http:
        now = datetime.now(UTC)  # consented a year ago: one hour left
        consent = Consent("v3", now - timedelta(days=365), "o", now + timedelta(hours=1))
        person = a.people.enrol(
            external_id="B-1H", display_name="Person B-1H", site=site_slug, consent=consent,
            templates=[Template(MODEL, random_vector(5), 0.9, "camera")],
            operator="o", duplicate_threshold=0.99,
        ).person.person_uid  # fmt: skip
        kiosk_a.client(a, http).sync_once()
        kiosk_b.client(b, http).sync_once()
        assert b.people.count() == 1
    with kiosk_b.open(SkewedClock(timedelta(hours=2))) as b, httpx.Client() as http:
        report = kiosk_b.client(b, http).sync_once()
        assert report.expired == (person,)  # its own copy only
        assert report.push.acknowledged == 1 and report.push.rejected == 0  # not for ever
        assert b.people.count() == 1  # the hub kept them, and sent them back
    assert not Person.objects.get(uid=person).erased
    with kiosk_a.open() as a, httpx.Client() as http:
        assert kiosk_a.client(a, http).sync_once().pull.erased == 0
        assert [p.person_uid for p, _ in a.people.listing()] == [person]
    erased = purge_expired(timezone.now() + timedelta(hours=2))  # the hub's daily purge, on time
    # it runs over every site: earlier tests' sites in this database may have people due too
    assert [p.person_uid for p in erased if p.site == site_slug] == [UUID(person)]
    with kiosk_a.open() as a, httpx.Client() as http:
        assert kiosk_a.client(a, http).sync_once().pull.erased == 1


def test_a_kiosk_whose_clock_stays_ahead_erases_a_person_the_hub_kept_only_once(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Kiosk B's clock stays 2 h ahead. Once the hub has kept (and sent back) a person B
    erased early, B's next syncs leave them be, instead of erasing them and getting them
    back at every sync (an audit entry, a tombstone, a purge of the store and the person
    missing from its gallery each time); B erases them when its clock, less the 2 h it ran
    ahead of the hub, passes their date."""
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, httpx.Client() as http:
        now = datetime.now(UTC)
        consent = Consent("v3", now - timedelta(days=365), "o", now + timedelta(hours=1))
        person = a.people.enrol(
            external_id="B-2H", display_name="Person B-2H", site=site_slug, consent=consent,
            templates=[Template(MODEL, random_vector(6), 0.9, "camera")],
            operator="o", duplicate_threshold=0.99,
        ).person.person_uid  # fmt: skip
        kiosk_a.client(a, http).sync_once()
    with kiosk_b.open() as b, httpx.Client() as http:
        kiosk_b.client(b, http).sync_once()
    ahead = SkewedClock(timedelta(hours=2))
    with kiosk_b.open(ahead) as b, httpx.Client() as http:
        assert kiosk_b.client(b, http).sync_once().expired == (person,)
        assert b.people.count() == 1  # the hub kept them, and sent them back
        for _ in range(2):
            assert kiosk_b.client(b, http).sync_once().expired == ()
        assert b.people.count() == 1 and len(b.gallery(MODEL)) == 1
        tombstones = b.database.query("SELECT COUNT(*) FROM outbox WHERE operation = 'tombstone'")
        assert tombstones == [(1,)]
    # Past their date by B's clock less the 2 h it ran ahead: B erases them (and the hub, its
    # clock an hour short of that, keeps them again).
    with kiosk_b.open(SkewedClock(timedelta(hours=3, minutes=1))) as b, httpx.Client() as http:
        assert kiosk_b.client(b, http).sync_once().expired == (person,)


def test_a_device_out_of_reach_of_the_hub_still_erases_at_each_sync_attempt(
    tmp_path: Path, live_hub: HubProcess, site_slug: str
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug, "boat-offline")
    with device.open() as store:
        person = _enrol_with_consent(store, site_slug, "B-30", seed=8, days=30)
    nowhere = f"http://127.0.0.1:{free_port()}"
    with device.open(clock=_later(31)) as store, httpx.Client() as http:
        with pytest.raises(HubUnavailableError):
            device.client(store, http, hub_url=nowhere).sync_once()
        assert store.people.count() == 0 and len(store.gallery(MODEL)) == 0
        queued = [(e.entity, e.operation) for e in store.outbox.queued(limit=10)]
        assert ("person", "tombstone") in queued  # for the hub, at the next sync that reaches it
        assert person not in {p.person_uid for p, _ in store.people.listing()}


def test_jaga_sync_now_says_whom_it_erased_for_retention(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug, "boat-cli")
    with device.open(clock=_later(-400)) as store:
        _enrol_with_consent(store, site_slug, "OLD-2", seed=9, days=30)
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    assert main(["sync", "now", "--db", str(device.path)]) == 0
    assert "erased 1 person past their retention date" in capsys.readouterr().out
    with device.open() as store:
        assert store.people.count() == 0


def test_jaga_sync_now_on_a_device_not_registered_still_erases_those_past_retention(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The jaga-sync timer runs `jaga sync now` on a device nobody registered with a hub:
    retention is enforced there too, and the command still fails for want of registration.
    The tombstone waits in the queue for a hub, as after `jaga store purge-expired`."""
    with Store.open(db, Passphrase(PASSPHRASE), clock=_later(-400), config=FAST) as store:
        person = _enrol_with_consent(store, "north-gate", "OLD-3", seed=10, days=30)
    assert main(["sync", "now", "--db", str(db)]) == 1
    said = capsys.readouterr()
    assert "erased 1 person past their retention date" in said.out
    assert "jaga sync register --hub URL" in said.err
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0
        assert [e.entity_uid for e in store.outbox.tombstones()] == [person]
        erased = [e for e in store.audit.entries() if e.action == "person.erased"]
        assert [(e.subject, e.actor) for e in erased] == [(person, "retention")]


def test_a_kiosk_once_ahead_gets_back_the_people_the_hub_kept(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Kiosk B's clock is 10 days ahead for one sync: it erases its copy of a person with 5
    days of consent left. The hub keeps them (early retention) and sends them again, person
    and template; B holds them again, a restore over B does not erase them again, and kiosk
    A never lost them."""
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, httpx.Client() as http:
        person = _enrol_with_consent(a, site_slug, "B-5D", seed=11, days=5)
        kiosk_a.client(a, http).sync_once()
    with kiosk_b.open() as b, httpx.Client() as http:
        kiosk_b.client(b, http).sync_once()
        backup(b, tmp_path / "b-backup.db", operator="ops")
    with kiosk_b.open(SkewedClock(timedelta(days=10))) as b, httpx.Client() as http:
        assert kiosk_b.client(b, http).sync_once().expired == (person,)
    assert not Person.objects.get(uid=person).erased
    with kiosk_b.open() as b, httpx.Client() as http:  # its clock put right
        kiosk_b.client(b, http).sync_once()
        assert [p.person_uid for p, _ in b.people.listing()] == [person]
        assert len(b.gallery(MODEL)) == 1
    restored = restore(tmp_path / "b-backup.db", kiosk_b.path, Passphrase(PASSPHRASE),
                       operator="ops", force=True, config=FAST)  # fmt: skip
    assert restored.erasures_carried == 0
    with kiosk_b.open() as b:
        assert [p.person_uid for p, _ in b.people.listing()] == [person]
    with kiosk_a.open() as a, httpx.Client() as http:
        assert kiosk_a.client(a, http).sync_once().pull.erased == 0
        assert [p.person_uid for p, _ in a.people.listing()] == [person]
        assert len(a.gallery(MODEL)) == 1
    assert not Person.objects.get(uid=person).erased


def test_an_operators_erasure_on_a_kiosk_wins_over_the_hub_sending_the_person_again(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Only a retention erasure the hub overruled is undone: a person an operator erased on
    kiosk B stays erased there although the hub, not yet told, sends them again (kiosk A's
    clock ran ahead and erased them early)."""
    kiosk_a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    kiosk_b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    with kiosk_a.open() as a, httpx.Client() as http:
        person = _enrol_with_consent(a, site_slug, "B-OP", seed=12, days=5)
        kiosk_a.client(a, http).sync_once()
    with kiosk_b.open() as b, httpx.Client() as http:
        kiosk_b.client(b, http).sync_once()
        b.people.erase(person, operator="dpo", reason="subject request")
    with kiosk_a.open(SkewedClock(timedelta(days=10))) as a, httpx.Client() as http:
        assert kiosk_a.client(a, http).sync_once().expired == (person,)
    with kiosk_b.open() as b, httpx.Client() as http:
        assert kiosk_b.client(b, http).pull().skipped == 2  # person and template, sent again
        assert b.people.count() == 0
        kiosk_b.client(b, http).sync_once()
        assert b.people.count() == 0
    assert Person.objects.get(uid=person).erased
