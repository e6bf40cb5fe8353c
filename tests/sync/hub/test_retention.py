"""Consent retention on the hub: a person past ``retain_until`` is never matched, never handed
to a device, and ``jaga hub purge-expired`` erases them through the erasure path (tombstone)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from sync.hub.models import AppliedEntry, FaceTemplate, Person
from sync.hub.retention import ExpiredPerson, purge_expired
from sync.hub.search import nearest_templates
from sync.protocol import RETENTION_REASON, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api, jaga_hub

MODEL = ("dlib-resnet-128", "1")
VECTOR = [((i * 37) % 101) / 101.0 + 0.001 * i for i in range(128)]


def _expired(person: dict[str, Any], days_ago: int = 370) -> dict[str, Any]:
    """``person`` with a consent whose retention ended ``days_ago`` days ago."""
    given = timezone.now() - timedelta(days=days_ago + 30)
    person["consent"]["given_at"] = format_timestamp(given)
    person["consent"]["retain_until"] = format_timestamp(given + timedelta(days=30))
    return person


def _enrol(api: Api, person: dict[str, Any], vector: list[float]) -> str:
    template = e.template(person["person_uid"], vector)
    pushed = api.push(
        e.entry("person", "upsert", person), e.entry("face_template", "upsert", template)
    )
    assert pushed["rejected"] == [], pushed
    return str(template["template_uid"])


def _in_site(people: list[ExpiredPerson], site: str) -> list[str]:
    """The uids of ``people`` in ``site``: the hub's purge runs over every site, and tests of
    other sites that ran before in this worker's database may leave people due too."""
    return [str(p.person_uid) for p in people if p.site == site]


def _about(changes: list[dict[str, Any]], person_uid: str) -> set[tuple[str, str]]:
    return {
        (c["entity"], c["operation"])
        for c in changes
        if person_uid in (c["entity_uid"], c["payload"].get("person_uid"))
    }


def test_search_never_matches_a_person_past_their_retention(api: Api) -> None:
    overdue = _expired(e.person(api.site, name="Otto Overdue", badge="B-OLD"))
    current = e.person(api.site, name="Cora Current", badge="B-NEW")
    _enrol(api, overdue, VECTOR)
    _enrol(api, current, [v + 0.05 for v in VECTOR])
    for exact in (False, True):
        matches = nearest_templates(VECTOR, *MODEL, k=5, exact=exact)
        assert overdue["person_uid"] not in {str(m.person_uid) for m in matches}
    probe = {"vector": VECTOR, "model_id": MODEL[0], "model_version": MODEL[1], "k": 1}
    response = api.post(api.site_path("search"), probe)
    assert response.status_code == 200, response.content
    assert [m["person_uid"] for m in response.json()["matches"]] == [current["person_uid"]]


def test_a_pull_never_hands_out_a_person_past_their_retention(api: Api) -> None:
    overdue = _expired(e.person(api.site, name="Otto Overdue", badge="B-OLD"))
    current = e.person(api.site, name="Cora Current", badge="B-NEW")
    _enrol(api, overdue, VECTOR)
    _enrol(api, current, [v + 0.05 for v in VECTOR])
    newcomer = Api.register_new(api.site, "new-kiosk")
    changes = newcomer.pull_all()
    assert _about(changes, overdue["person_uid"]) == set()
    assert _about(changes, current["person_uid"]) == {
        ("person", "upsert"),
        ("face_template", "upsert"),
    }


def test_purge_erases_people_past_retention_and_tells_the_devices(api: Api) -> None:
    overdue = _expired(e.person(api.site, name="Otto Overdue", badge="B-OLD"))
    current = e.person(api.site, name="Cora Current", badge="B-NEW")
    overdue_template = _enrol(api, overdue, VECTOR)
    _enrol(api, current, [v + 0.05 for v in VECTOR])
    holder = Api.register_new(api.site, "kiosk-that-pulled-before-it-expired")

    listed = purge_expired(dry_run=True)
    assert overdue["person_uid"] in {str(p.person_uid) for p in listed}
    assert not Person.objects.get(uid=overdue["person_uid"]).erased  # a dry run erases nothing

    erased = purge_expired()
    assert overdue["person_uid"] in {str(p.person_uid) for p in erased}
    assert current["person_uid"] not in {str(p.person_uid) for p in erased}
    gone = Person.objects.get(uid=overdue["person_uid"])
    assert gone.erased and gone.display_name == "" and gone.external_id == ""
    assert not FaceTemplate.objects.filter(uid=overdue_template).exists()
    assert not Person.objects.get(uid=current["person_uid"]).erased
    tombstones = [c for c in holder.pull_all() if c["operation"] == "tombstone"]
    assert [(c["entity_uid"], c["payload"]["reason"]) for c in tombstones] == [
        (overdue["person_uid"], "consent retention expired")
    ]
    assert overdue["person_uid"] not in {str(p.person_uid) for p in purge_expired()}


def test_the_purge_command_erases_and_its_dry_run_only_lists(api: Api, hub_database: str) -> None:
    overdue = _expired(e.person(api.site, name="Otto Overdue", badge="B-OLD"))
    _enrol(api, overdue, VECTOR)
    listed = jaga_hub("purge-expired", "--dry-run", database_url=hub_database)
    assert listed.returncode == 0, listed.stderr
    assert overdue["person_uid"] in listed.stdout and "dry run" in listed.stdout
    assert not Person.objects.get(uid=overdue["person_uid"]).erased
    done = jaga_hub("purge-expired", database_url=hub_database)
    assert done.returncode == 0, done.stderr
    assert overdue["person_uid"] in done.stdout
    assert Person.objects.get(uid=overdue["person_uid"]).erased
    # then the tables their data stays in as dead rows are rewritten, once
    assert "rewrote hub_person" in done.stdout.splitlines()[-1]
    again = jaga_hub("purge-expired", database_url=hub_database)
    assert again.returncode == 0 and "rewrote" not in again.stdout, again.stderr


def _retention_tombstone(person_uid: str) -> dict[str, Any]:
    return {**e.tombstone(person_uid, timezone.now()), "reason": RETENTION_REASON}


def test_a_retention_erasure_from_a_clock_ahead_waits_for_the_hubs_own_clock(api: Api) -> None:
    """A kiosk whose clock runs 2 h ahead purges a person with 1 h of retention left: the
    hub acknowledges its tombstone (or the kiosk would send it for ever) but erases nobody
    before their retention ends by the hub's clock, and logs the person and their template
    again, so the kiosk gets them back; its purge erases them on time."""
    person = e.person(api.site, name="Rita Retained", badge="B-1H")
    person["consent"]["retain_until"] = format_timestamp(timezone.now() + timedelta(hours=1))
    _enrol(api, person, VECTOR)
    other = Api.register_new(api.site, "kiosk-with-a-right-clock")
    held = other.pull_all()
    assert _about(held, person["person_uid"]) == {("person", "upsert"), ("face_template", "upsert")}
    early = e.entry("person", "tombstone", _retention_tombstone(person["person_uid"]))

    assert api.push(early)["acknowledged"] == [str(early.idempotency_key)]

    assert not Person.objects.get(uid=person["person_uid"]).erased
    assert AppliedEntry.objects.get(key=early.idempotency_key).outcome == "early_retention"
    again = other.pull_all()  # the site's devices keep the person; it is sent again, as it was
    assert again[: len(held)] == held
    sent_again = [(c["entity"], c["operation"], c["payload"]) for c in again[len(held) :]]
    assert sent_again == [(c["entity"], c["operation"], c["payload"]) for c in held]
    assert _in_site(purge_expired(), api.site) == []
    erased = purge_expired(timezone.now() + timedelta(hours=2))  # the daily purge, on time
    assert _in_site(erased, api.site) == [person["person_uid"]]
    assert _about(other.pull_all(), person["person_uid"]) == {("person", "tombstone")}


def test_a_retention_erasure_once_retention_ended_erases_at_once(api: Api) -> None:
    overdue = _expired(e.person(api.site, name="Otto Overdue", badge="B-OLD"))
    _enrol(api, overdue, VECTOR)
    due = e.entry("person", "tombstone", _retention_tombstone(overdue["person_uid"]))
    assert api.push(due)["acknowledged"] == [str(due.idempotency_key)]
    assert Person.objects.get(uid=overdue["person_uid"]).erased


def test_a_badge_held_by_a_person_past_retention_goes_to_the_new_enrolment(api: Api) -> None:
    """Someone whose retention ended and who consents again is enrolled again, under the same
    badge, on a kiosk that never received the old record: the old holder, due to the daily
    purge anyway, is erased then and there, and the new enrolment is kept."""
    overdue = _expired(e.person(api.site, name="Ana Again", badge="B-AGAIN"))
    _enrol(api, overdue, VECTOR)
    holder = Api.register_new(api.site, "kiosk-that-held-the-old-record")
    again = e.entry("person", "upsert", e.person(api.site, name="Ana Again", badge="B-AGAIN"))

    result = _second_device(api).push(again)

    assert result["rejected"] == [] and result["acknowledged"] == [str(again.idempotency_key)]
    old = Person.objects.get(uid=overdue["person_uid"])
    assert old.erased and old.erasure_reason == RETENTION_REASON
    assert not Person.objects.get(uid=again.entity_uid).erased
    assert [(c["entity_uid"], c["operation"]) for c in holder.pull_all()] == [
        (overdue["person_uid"], "tombstone"),
        (str(again.entity_uid), "upsert"),
    ]


def _second_device(api: Api) -> Api:
    return Api.register_new(api.site, "kiosk-that-never-received-them")
