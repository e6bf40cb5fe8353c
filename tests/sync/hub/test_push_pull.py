"""Push idempotency, per-entry rejection with nothing stored, and pull cursor paging."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from django.db import connection

from sync.hub.apply.push import apply_batch
from sync.hub.models import AppliedEntry, Change, Device, FishObservation, Person, Site
from sync.protocol import PROTOCOL_VERSION
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _changes(site: str) -> int:
    return int(Change.objects.filter(site__slug=site).count())


def test_same_batch_twice_is_acknowledged_twice_and_stored_once(api: Api) -> None:
    person = e.person(api.site)
    pushed = [
        e.entry("person", "upsert", person, sequence=1),
        e.entry(
            "face_template", "upsert", e.template(person["person_uid"], [0.1] * 128), sequence=2
        ),
        e.entry("fish_observation", "upsert", e.observation(), sequence=3),
        e.entry("access_event", "upsert", e.access_event(api.site), sequence=4),
    ]
    first = api.push(*pushed)
    changes = _changes(api.site)
    second = api.push(*pushed)
    keys = [str(entry.idempotency_key) for entry in pushed]
    assert first == second == {"acknowledged": keys, "rejected": []}
    assert Person.objects.filter(uid=person["person_uid"]).count() == 1
    assert AppliedEntry.objects.filter(key__in=keys).count() == 4
    assert _changes(api.site) == changes == 3  # access events are not pulled by devices


def test_a_key_replayed_with_other_content_is_rejected(api: Api) -> None:
    original = e.entry("fish_observation", "upsert", e.observation())
    api.push(original)
    tampered = original.model_copy(update={"payload": {**original.payload, "notes": "edited"}})
    result = api.push(tampered)
    assert result["rejected"][0]["reason"] == "idempotency key already used for different content"
    assert FishObservation.objects.get(uid=original.entity_uid).notes == ""


def test_a_bad_entry_is_rejected_alone_and_leaves_nothing(api: Api) -> None:
    good = e.entry("fish_observation", "upsert", e.observation())
    bad_payload = e.entry("fish_observation", "upsert", e.observation(count=0))
    unknown = e.entry("person", "upsert", e.person(api.site)).model_copy(
        update={"entity": "spaceship"}
    )
    mismatched = e.entry("person", "upsert", e.person(api.site), entity_uid=e.uid())
    result = api.push(bad_payload, good, unknown, mismatched)
    assert result["acknowledged"] == [str(good.idempotency_key)]
    reasons = [r["reason"] for r in result["rejected"]]
    assert "count" in reasons[0]
    assert "spaceship" in reasons[1]
    assert "differs from the payload" in reasons[2]
    assert [r["retryable"] for r in result["rejected"]] == [False] * 3  # the entry is at fault
    rejected = [bad_payload, unknown, mismatched]
    assert not AppliedEntry.objects.filter(key__in=[r.idempotency_key for r in rejected]).exists()
    assert not FishObservation.objects.filter(uid=bad_payload.entity_uid).exists()
    assert not Person.objects.filter(uid=mismatched.payload["person_uid"]).exists()


def test_template_before_its_person_is_rejected_as_retryable(api: Api) -> None:
    person = e.person(api.site)
    early = e.entry("face_template", "upsert", e.template(person["person_uid"], [0.2] * 128))
    (rejection,) = api.push(early)["rejected"]
    assert "push the person first" in rejection["reason"]
    assert rejection["retryable"] is True  # the person may still arrive: send it again later
    api.push(e.entry("person", "upsert", person))
    assert api.push(early)["acknowledged"] == [str(early.idempotency_key)]


def test_another_sites_record_is_rejected_for_good(api: Api, other_api: Api) -> None:
    theirs = e.observation()
    other_api.push(e.entry("fish_observation", "upsert", theirs))
    overwrite = e.entry("fish_observation", "upsert", {**theirs, "notes": "mine"})
    (rejection,) = api.push(overwrite)["rejected"]
    assert rejection["reason"].startswith("forbidden") and rejection["retryable"] is False
    assert FishObservation.objects.get(uid=theirs["observation_uid"]).notes == ""


@contextlib.contextmanager
def _lock_timeout(setting: str) -> Iterator[None]:
    """This connection's ``lock_timeout``, as a deployment may set it on the hub's role."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{setting}'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def test_an_entry_kept_waiting_past_the_lock_timeout_is_rejected_as_retryable(
    api: Api, hub_database: str
) -> None:
    person = e.person(api.site, name="Ana")
    api.push(e.entry("person", "upsert", person, when=e.at(0)))
    edit = e.entry("person", "upsert", {**person, "display_name": "Ana B"}, when=e.at(5))
    catch = e.entry("fish_observation", "upsert", e.observation())
    batch = e.batch(api.device_id, [edit, catch])
    device = Device.objects.get(uid=api.device_id)
    with psycopg.connect(hub_database) as other:  # another transaction holds the person's row
        other.execute("SELECT 1 FROM hub_person WHERE uid = %s::uuid FOR UPDATE", [edit.entity_uid])
        with _lock_timeout("200ms"):
            result = apply_batch(device, batch)
    (rejection,) = result.rejected
    assert (rejection.key, rejection.retryable) == (edit.idempotency_key, True)
    assert "lock timeout" in rejection.reason
    assert result.acknowledged == [catch.idempotency_key]  # the rest of the batch is kept
    assert Person.objects.get(uid=edit.entity_uid).display_name == "Ana"
    assert not AppliedEntry.objects.filter(key=edit.idempotency_key).exists()
    again = api.push(edit, catch)  # what the device does next: the same keys, once free
    assert again == {"acknowledged": [str(edit.idempotency_key), str(catch.idempotency_key)],
                     "rejected": []}  # fmt: skip
    assert Person.objects.get(uid=edit.entity_uid).display_name == "Ana B"


def test_wrong_device_id_or_protocol_is_refused_whole(api: Api, other_api: Api) -> None:
    body = e.batch(other_api.device_id, [e.entry("person", "upsert", e.person(api.site))])
    response = api.post(api.site_path("push"), body.model_dump(mode="json"))
    assert response.status_code == 403
    assert response.json()["error"] == "wrong_device"
    newer = e.batch(api.device_id, []).model_dump(mode="json") | {
        "protocol_version": PROTOCOL_VERSION + 1
    }
    response = api.post(api.site_path("push"), newer | {"novelty": True})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_protocol"
    assert response.json()["reason"] == (
        "this hub speaks protocol 7 (and accepts 2, 3, 4, 5, 6), not 8"
    )
    # A protocol-1 device could not read this hub's answers (``retryable``): it is told, and
    # pauses, instead of getting an answer it would take for garbage.
    entry = e.entry("fish_observation", "upsert", e.observation())
    older = e.batch(api.device_id, [entry]).model_dump(mode="json") | {"protocol_version": 1}
    response = api.post(api.site_path("push"), older)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_protocol")
    assert response.json()["reason"] == (
        "this hub speaks protocol 7 (and accepts 2, 3, 4, 5, 6), not 1"
    )
    assert not FishObservation.objects.filter(uid=entry.entity_uid).exists()


def test_pull_pages_through_the_change_log_in_cursor_order(api: Api) -> None:
    observations = [e.observation() for _ in range(25)]
    api.push(
        *[
            e.entry("fish_observation", "upsert", o, sequence=i)
            for i, o in enumerate(observations, 1)
        ]
    )
    pages, cursor = [], 0
    while True:
        page = api.pull(cursor, limit=10)
        pages.append(page)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [len(p["changes"]) for p in pages] == [10, 10, 5]
    cursors = [c["cursor"] for p in pages for c in p["changes"]]
    assert cursors == list(range(1, 26))
    assert [c["entity_uid"] for p in pages for c in p["changes"]] == [
        o["observation_uid"] for o in observations
    ]
    assert pages[-1]["next_cursor"] == Site.objects.get(slug=api.site).last_cursor == 25
    assert api.pull(25) == {"changes": [], "next_cursor": 25, "has_more": False}
    assert pages[0]["changes"][0]["origin_device"] == api.device_id


def test_pull_from_another_protocol_is_refused(api: Api) -> None:
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    path = api.site_path("changes")
    # A protocol-1 client sends no version: it cannot read version-2 changes (it would skip
    # them and move its cursor past them), so it is refused like its pushes.
    for params in ({"cursor": "0"}, {"cursor": "0", "protocol_version": "1"},
                   {"cursor": "0", "protocol_version": str(PROTOCOL_VERSION + 1)}):  # fmt: skip
        response = api.get(path, params)
        assert (response.status_code, response.json()["error"]) == (400, "unsupported_protocol")
        assert (
            f"protocol {PROTOCOL_VERSION} (and accepts 2, 3, 4, 5, 6), not"
            in response.json()["reason"]
        )
    assert len(api.pull(0)["changes"]) == 1


def test_pull_refuses_bad_cursors(api: Api) -> None:
    for params in (
        {"cursor": "-1"},
        {"cursor": "x"},
        {"limit": "0"},
        {"limit": "100000"},
        {"cursor": "1", "colour": "red"},
    ):
        response = api.get(api.site_path("changes"), params)
        assert response.status_code == 400, params
        assert response.json()["reason"], params


def test_replayed_entries_do_not_touch_the_cursor(api: Api) -> None:
    pushed = e.entry("person", "upsert", e.person(api.site))
    api.push(pushed)
    cursor = Site.objects.get(slug=api.site).last_cursor
    api.push(pushed)
    assert Site.objects.get(slug=api.site).last_cursor == cursor
    assert uuid.UUID(api.pull_all()[0]["entity_uid"]) == pushed.entity_uid


def test_a_replay_from_the_sites_replacement_device_is_a_duplicate(api: Api) -> None:
    """A store restored onto new hardware registered as another device of the same site
    pushes again what the old one pushed after the backup: the same key, the same content.
    It is acknowledged as the duplicate it is, not quarantined on the new device."""
    original = e.entry("fish_observation", "upsert", e.observation())
    assert api.push(original)["acknowledged"] == [str(original.idempotency_key)]
    replacement = Api.register_new(api.site, name="replacement kiosk")
    changes = _changes(api.site)
    assert replacement.push(original) == {
        "acknowledged": [str(original.idempotency_key)],
        "rejected": [],
    }
    assert _changes(api.site) == changes  # applied once
    tampered = original.model_copy(update={"payload": {**original.payload, "notes": "edited"}})
    reason = replacement.push(tampered)["rejected"][0]["reason"]
    assert reason == "idempotency key already used for different content"


def test_a_replay_from_another_sites_device_is_refused(api: Api, other_api: Api) -> None:
    original = e.entry("fish_observation", "upsert", e.observation())
    api.push(original)
    (rejection,) = other_api.push(original)["rejected"]
    assert rejection["reason"] == "idempotency key already used by another site's device"
    assert rejection["retryable"] is False
