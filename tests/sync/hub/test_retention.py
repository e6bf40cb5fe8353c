"""Consent retention on the hub: a person past ``retain_until`` is never matched, never handed
to a device."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from sync.hub.search import nearest_templates
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

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
