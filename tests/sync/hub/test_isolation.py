"""A device sees and writes only its own site: 403 with a reason, or a rejected entry."""

from __future__ import annotations

from sync.hub.models import AccessEvent, FishObservation, Person, Photo
from sync.hub.review import erase_person
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


JPEG = b"\xff\xd8\xff\xe0" + bytes(300)


def test_a_catch_naming_another_sites_photo_is_rejected(api: Api, other_api: Api) -> None:
    """Linked, site B's stored photo showed in site A's review queue and A's devices pulled
    its uid; an edit may not link it either."""
    theirs = e.photo(JPEG)
    other_api.push(e.entry("photo", "upsert", theirs))
    Photo.objects.filter(uid=theirs["photo_uid"]).update(data=JPEG)
    new = e.observation(photo_uid=theirs["photo_uid"])
    mine = e.observation()
    api.push(e.entry("fish_observation", "upsert", mine))
    edit = {**mine, "photo_uid": theirs["photo_uid"]}
    result = api.push(
        e.entry("fish_observation", "upsert", new),
        e.entry("fish_observation", "upsert", edit, when=e.at(5)),
    )
    assert result["acknowledged"] == []
    reason = f"forbidden: photo {theirs['photo_uid']} belongs to another site"
    assert [r["reason"] for r in result["rejected"]] == [reason, reason]
    assert not FishObservation.objects.filter(uid=new["observation_uid"]).exists()
    assert FishObservation.objects.get(uid=mine["observation_uid"]).photo_uid is None
    assert theirs["photo_uid"] not in str(api.pull_all())


def test_a_catch_naming_a_persons_photo_is_rejected(api: Api) -> None:
    """An enrolment photo is biometric data: never a catch's photo in the review queue."""
    person = e.person(api.site, name="Ana Portrait")
    portrait = e.photo(JPEG, person_uid=person["person_uid"])
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", portrait))
    catch = e.observation(photo_uid=portrait["photo_uid"])
    result = api.push(e.entry("fish_observation", "upsert", catch))
    assert [r["reason"] for r in result["rejected"]] == [
        f"forbidden: photo {portrait['photo_uid']} is a person's photo, not a catch's"
    ]
    assert not FishObservation.objects.filter(uid=catch["observation_uid"]).exists()


def test_a_catch_naming_its_own_sites_photo_or_one_not_yet_pushed_is_applied(api: Api) -> None:
    own = e.photo(JPEG)
    api.push(e.entry("photo", "upsert", own))
    result = api.push(
        e.entry("fish_observation", "upsert", e.observation(photo_uid=own["photo_uid"])),
        e.entry("fish_observation", "upsert", e.observation(photo_uid=e.uid())),
    )
    assert result["rejected"] == [] and len(result["acknowledged"]) == 2


def test_an_access_event_naming_another_sites_person_is_rejected(api: Api, other_api: Api) -> None:
    theirs = e.person(other_api.site, name="Bea Othersite")
    other_api.push(e.entry("person", "upsert", theirs))
    event = e.access_event(api.site, person_uid=theirs["person_uid"], decision="verified")
    result = api.push(e.entry("access_event", "upsert", event))
    assert [r["reason"] for r in result["rejected"]] == [
        f"forbidden: person {theirs['person_uid']} belongs to another site"
    ]
    assert not AccessEvent.objects.filter(uid=event["event_uid"]).exists()
    mine = e.person(api.site, name="Ana Ownsite")
    api.push(e.entry("person", "upsert", mine))
    own_event = e.access_event(api.site, person_uid=mine["person_uid"], decision="verified")
    assert api.push(e.entry("access_event", "upsert", own_event))["rejected"] == []


def test_another_sites_erasure_is_refused_naming_who_may_erase_unless_done(
    api: Api, other_api: Api
) -> None:
    """A device moved from the other site still holds a person it enrolled there: it may not
    erase them for that site (the hub cannot tell it from any other device of this site),
    and is told who can; once the hub's admin has, its erasure changes nothing and is taken,
    so it no longer waits in quarantine."""
    theirs = e.person(other_api.site, name="Theirs")
    other_api.push(e.entry("person", "upsert", theirs))
    tombstone = e.entry("person", "tombstone", e.tombstone(theirs["person_uid"]))
    [refused] = api.push(tombstone)["rejected"]
    assert refused["reason"].startswith(
        f"forbidden: person {theirs['person_uid']} belongs to another site"
    )
    assert "a hub admin must erase them" in refused["reason"]
    assert not Person.objects.get(uid=theirs["person_uid"]).erased
    assert erase_person(Person.objects.get(uid=theirs["person_uid"]).pk, reason="request")
    again = e.entry("person", "tombstone", e.tombstone(theirs["person_uid"]))
    assert api.push(again)["rejected"] == []
