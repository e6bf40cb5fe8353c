"""Push idempotency, per-entry rejection with nothing stored, and pull cursor paging."""

from __future__ import annotations

import uuid

from sync.hub.models import AppliedEntry, Change, FishObservation, Person, Site
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
    rejected = [bad_payload, unknown, mismatched]
    assert not AppliedEntry.objects.filter(key__in=[r.idempotency_key for r in rejected]).exists()
    assert not FishObservation.objects.filter(uid=bad_payload.entity_uid).exists()
    assert not Person.objects.filter(uid=mismatched.payload["person_uid"]).exists()


def test_template_before_its_person_is_rejected_with_a_reason(api: Api) -> None:
    result = api.push(e.entry("face_template", "upsert", e.template(e.uid(), [0.2] * 128)))
    assert "push the person first" in result["rejected"][0]["reason"]


def test_wrong_device_id_or_protocol_is_refused_whole(api: Api, other_api: Api) -> None:
    body = e.batch(other_api.device_id, [e.entry("person", "upsert", e.person(api.site))])
    response = api.post(api.site_path("push"), body.model_dump(mode="json"))
    assert response.status_code == 403
    assert response.json()["error"] == "wrong_device"
    newer = e.batch(api.device_id, []).model_dump(mode="json") | {"protocol_version": 2}
    response = api.post(api.site_path("push"), newer | {"novelty": True})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_protocol"


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
