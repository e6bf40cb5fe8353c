"""A device sees and writes only its own site: 403 with a reason, or a rejected entry."""

from __future__ import annotations

from sync.hub.models import Person
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def test_another_sites_endpoints_are_403_with_the_reason(api: Api, other_api: Api) -> None:
    for response in (
        api.get(api.site_path("changes", other_api.site)),
        api.push_response(
            e.entry("person", "upsert", e.person(other_api.site)), site=other_api.site
        ),
        api.post(api.site_path("uploads", other_api.site), {}),
        api.post(api.site_path("search", other_api.site), {}),
    ):
        assert response.status_code == 403
        assert response.json() == {
            "error": "wrong_site",
            "reason": f"forbidden: this device belongs to site {api.site}",
        }


def test_entries_for_another_sites_records_are_rejected(api: Api, other_api: Api) -> None:
    theirs = e.person(other_api.site, name="Theirs")
    other_api.push(e.entry("person", "upsert", theirs))
    attempts = [
        e.entry("person", "upsert", {**theirs, "display_name": "Mine now"}, when=e.at(9)),
        e.entry("person", "upsert", {**e.person(other_api.site)}),
        e.entry("person", "tombstone", e.tombstone(theirs["person_uid"])),
        e.entry("face_template", "upsert", e.template(theirs["person_uid"], [0.5] * 128)),
        e.entry("access_event", "upsert", e.access_event(other_api.site)),
    ]
    result = api.push(*attempts)
    assert result["acknowledged"] == []
    assert all(r["reason"].startswith("forbidden") for r in result["rejected"]), result
    assert Person.objects.get(uid=theirs["person_uid"]).display_name == "Theirs"
    assert api.pull_all() == []


def test_pull_returns_only_the_own_sites_changes(api: Api, other_api: Api) -> None:
    other_api.push(e.entry("fish_observation", "upsert", e.observation()))
    mine = e.observation()
    api.push(e.entry("fish_observation", "upsert", mine))
    assert [c["entity_uid"] for c in api.pull_all()] == [mine["observation_uid"]]
