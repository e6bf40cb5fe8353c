"""A catch is its author's: another device of the site may change only its review.

Shipped devices send the whole row they hold with a review, so another device's push
carries the catch's facts as it last pulled them (or as it chose them): the hub keeps the
author's facts, takes the review, and logs the catch as it stands, so every device pulls
the same catch.
"""

from __future__ import annotations

from typing import Any

from sync.hub.models import FishObservation
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

FACTS = ("officer", "observed_at", "count", "length_cm", "position", "vessel", "trip", "haul",
         "notes", "predictions", "photo_uid", "pack_version", "crop", "status")  # fmt: skip


def _catch_of(boat: Api, **fields: Any) -> dict[str, Any]:
    """A catch ``boat`` recorded, with its photo, pushed at minute 0."""
    photo = e.photo(e.uid().encode())
    made = e.observation(photo_uid=photo["photo_uid"], pack_version="f4k-7",
                         crop=[10, 20, 100, 50], status="unknown", **fields)  # fmt: skip
    result = boat.push(
        e.entry("photo", "upsert", photo, when=e.at(0)),
        e.entry("fish_observation", "upsert", made, when=e.at(0)),
    )
    assert result["rejected"] == []
    return made


def _facts(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: payload[name] for name in FACTS}


def _stored_facts(uid: str) -> dict[str, Any]:
    stored = FishObservation.objects.get(uid=uid)
    return {
        "officer": stored.officer,
        "observed_at": format_timestamp(stored.observed_at),
        "count": stored.count,
        "length_cm": stored.length_cm,
        "position": [stored.latitude, stored.longitude],
        "vessel": stored.vessel,
        "trip": stored.trip,
        "haul": stored.haul,
        "notes": stored.notes,
        "predictions": stored.predictions,
        "photo_uid": str(stored.photo_uid),
        "pack_version": stored.pack_version,
        "crop": list(stored.crop) if stored.crop else None,
        "status": stored.status,
    }


def _review(catch: dict[str, Any], officer: str, minutes: float, species: str | None) -> Any:
    """``catch`` reviewed at ``minutes`` as a shipped device sends it: the whole row."""
    reviewed_at = format_timestamp(e.at(minutes))
    return catch | {"confirmed_species": species, "needs_review": False,
                    "reviewed_by": officer, "reviewed_at": reviewed_at}  # fmt: skip


def test_another_device_cannot_rewrite_a_catchs_facts(api: Api) -> None:
    """Device h pushed boat a's catch (its uid known from a pull) with another officer,
    time, count and predictions, and boat b's photo: acknowledged, the hub row changed, and
    boat a's store took it on from the pull."""
    boat_a, boat_b, h = api, Api.register_new(api.site, "boat-b"), Api.register_new(api.site, "h")
    made = _catch_of(boat_a)
    others = _catch_of(boat_b)
    versions = FishObservation.objects.get(uid=made["observation_uid"]).field_versions
    assert "officer" in versions and "count" in versions
    forged = made | {
        "officer": "someone else",
        "observed_at": "2020-01-01T00:00:00Z",
        "count": 40,
        "photo_uid": others["photo_uid"],
        "predictions": [["Chromis chrysura", 0.99]],
        "pack_version": "forged",
        "crop": None,
        "status": "identified",
    }
    result = h.push(e.entry("fish_observation", "upsert", forged, when=e.at(30)))
    assert result["rejected"] == []  # not quarantined: shipped devices send whole rows
    assert _stored_facts(made["observation_uid"]) == _facts(made)
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    facts_versions = {name: versions[name] for name in FACTS if name in versions}
    assert {name: stored.field_versions[name] for name in facts_versions} == facts_versions
    # Both pull the author's catch: h's own copy is put right too.
    for device in (boat_a, h):
        changes = [c for c in device.pull_all() if c["entity_uid"] == made["observation_uid"]]
        assert _facts(changes[-1]["payload"]) == _facts(made)


def test_a_review_from_another_device_changes_only_the_review(api: Api) -> None:
    """Boat a corrects its catch's notes and count; device h, which never pulled that,
    confirms the species with the row it holds. The confirmation must not put the old notes
    and count back, nor stamp them: only the review is h's."""
    boat_a, h = api, Api.register_new(api.site, "h")
    made = _catch_of(boat_a, notes="", count=1)
    corrected = made | {"notes": "two in the net", "count": 2}
    boat_a.push(e.entry("fish_observation", "upsert", corrected, when=e.at(10)))
    confirmed = _review(made, "officer-h", 20, "Lutjanus synagris")
    assert h.push(e.entry("fish_observation", "upsert", confirmed, when=e.at(20)))["rejected"] == []
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.notes, stored.count) == ("two in the net", 2)
    assert (stored.confirmed_species, stored.needs_review, stored.reviewed_by) == (
        "Lutjanus synagris",
        False,
        "officer-h",
    )
    at_10, at_20 = format_timestamp(e.at(10)), format_timestamp(e.at(20))
    assert stored.field_versions["notes"][0] == stored.field_versions["count"][0] == at_10
    assert stored.field_versions["officer"][0] == at_10  # the author's edit re-sent it
    reviewed = {stored.field_versions[name][0] for name in ("confirmed_species", "needs_review")}
    assert reviewed == {at_20}
    # Every device pulls the author's facts with h's review.
    for device in (boat_a, h):
        last = device.pull_all()[-1]["payload"]
        assert _facts(last) == _facts(corrected)
        assert (last["confirmed_species"], last["reviewed_by"]) == (
            "Lutjanus synagris",
            "officer-h",
        )


def test_another_devices_not_a_fish_answer_applies(api: Api) -> None:
    """A "not a fish" answer is a review too: no species, with a reviewer."""
    boat_a, h = api, Api.register_new(api.site, "h")
    made = _catch_of(boat_a)
    answer = _review(made, "officer-h", 20, None) | {"count": 9}
    assert h.push(e.entry("fish_observation", "upsert", answer, when=e.at(20)))["rejected"] == []
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.confirmed_species, stored.reviewed_by, stored.needs_review) == (
        None,
        "officer-h",
        False,
    )
    assert stored.answer == "not a fish" and stored.count == 1


def test_the_author_still_changes_every_field_of_its_catch(api: Api) -> None:
    """The author's own edits apply as before: facts, a new classification with what was
    made with it, and its own review."""
    boat_a, h = api, Api.register_new(api.site, "h")
    made = _catch_of(boat_a)
    h.push(e.entry("fish_observation", "upsert", _review(made, "officer-h", 5, "Gadus morhua"),
                   when=e.at(5)))  # fmt: skip
    again = made | {
        "officer": "officer-8",
        "count": 3,
        "notes": "re-measured",
        "length_cm": 38.0,
        "predictions": [["Gadus morhua", 0.9]],
        "pack_version": "f4k-8",
        "crop": None,
        "status": "identified",
    }
    edit = _review(again, "officer-8", 10, "Gadus morhua")
    assert boat_a.push(e.entry("fish_observation", "upsert", edit, when=e.at(10)))["acknowledged"]
    assert _stored_facts(made["observation_uid"]) == _facts(again)
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert stored.reviewed_by == "officer-8"
    assert _facts(boat_a.pull_all()[-1]["payload"]) == _facts(again)


def _pulled_review(made: dict[str, Any], minutes: float, **fields: Any) -> Any:
    """Device h's review of boat a's catch ``made``, pulled before the hub lost it: the whole
    row h holds, with no photo (photos never travel in pulls), saying h did not record it."""
    pulled = made | {"photo_uid": None, "recorded_here": False} | fields
    return e.entry("fish_observation", "upsert", _review(pulled, "officer-h", minutes,
                   "Gadus morhua"), when=e.at(minutes))  # fmt: skip


def _boats_push(boat: Api, photo: dict[str, Any], *catches: tuple[dict[str, Any], float]) -> None:
    """``boat`` pushes ``photo`` and each catch it recorded (payload, minute), saying so."""
    entries = [e.entry("photo", "upsert", photo, when=e.at(0))]
    for sequence, (catch, minutes) in enumerate(catches, start=2):
        entries.append(e.entry("fish_observation", "upsert", catch | {"recorded_here": True},
                               when=e.at(minutes), sequence=sequence))  # fmt: skip
    assert boat.push(*entries)["rejected"] == []


def _boat_as(boat: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A photo and boat a's catch of it."""
    photo = e.photo(e.uid().encode())
    made = e.observation(photo_uid=photo["photo_uid"], pack_version="f4k-7",
                         crop=[10, 20, 100, 50], status="unknown")  # fmt: skip
    return photo, made


def test_a_review_of_a_catch_the_hub_does_not_hold_makes_it_with_no_author(api: Api) -> None:
    """A hub restored from a backup lost boat a's catch; device h pulled it before and
    pushes its review of it first. Taken for the catch's own push, it would make h the
    author, and boat a's own push a review, its photo dropped; waited on, it would be lost
    where boat a never pushes again. The hub makes the catch from it, with no author: h's
    review, the facts as h holds them, acknowledged."""
    boat_a, h = api, Api.register_new(api.site, "h")
    _, made = _boat_as(boat_a)
    review = _pulled_review(made, 20, count=1)
    assert h.push(review)["acknowledged"] == [str(review.idempotency_key)]
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.device_id, stored.author_pending, stored.photo_uid) == (None, True, None)
    assert (stored.confirmed_species, stored.reviewed_by) == ("Gadus morhua", "officer-h")
    assert (stored.officer, stored.count, stored.pack_version) == ("officer-7", 1, "f4k-7")
    assert set(stored.field_versions) == {"confirmed_species", "needs_review"}  # facts: none
    (change,) = [c for c in boat_a.pull_all() if c["entity_uid"] == made["observation_uid"]]
    assert change["payload"]["confirmed_species"] == "Gadus morhua"
    assert "recorded_here" not in change["payload"]  # the pusher's word, not the catch's


def test_the_device_that_recorded_it_claims_a_catch_made_from_a_review(api: Api) -> None:
    """Boat a then pushes its photo, its catch (minute 0) and its correction (minute 10):
    it becomes the author, its facts and photo replace h's, and h's later review stays. h's
    next review leaves boat a's facts and photo as they are; every device pulls them."""
    boat_a, h = api, Api.register_new(api.site, "h")
    photo, made = _boat_as(boat_a)
    assert h.push(_pulled_review(made, 20, notes="as h pulled it"))["rejected"] == []
    corrected = made | {"notes": "two in the net", "count": 2}
    _boats_push(boat_a, photo, (made, 0), (corrected, 10))
    stored = FishObservation.objects.select_related("device").get(uid=made["observation_uid"])
    assert stored.device is not None and str(stored.device.uid) == boat_a.device_id
    assert not stored.author_pending
    assert _stored_facts(made["observation_uid"]) == _facts(corrected)
    assert (stored.confirmed_species, stored.reviewed_by) == ("Gadus morhua", "officer-h")

    again = _pulled_review(made, 30, notes="as h pulled it")
    assert h.push(again)["rejected"] == []
    assert _stored_facts(made["observation_uid"]) == _facts(corrected)
    for device in (boat_a, h):
        last = [c for c in device.pull_all() if c["entity_uid"] == made["observation_uid"]][-1]
        assert _facts(last["payload"]) == _facts(corrected)
        assert last["payload"]["reviewed_by"] == "officer-h"


def test_the_claiming_devices_later_review_wins(api: Api) -> None:
    """The author's facts replace the reviewer's whatever their times; the two reviews are
    settled as any two: the later wins."""
    boat_a, h = api, Api.register_new(api.site, "h")
    photo, made = _boat_as(boat_a)
    assert h.push(_pulled_review(made, 20))["rejected"] == []
    own = _review(made, "officer-7", 40, "Lutjanus synagris")
    _boats_push(boat_a, photo, (own, 40))
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.confirmed_species, stored.reviewed_by) == ("Lutjanus synagris", "officer-7")
    assert str(stored.photo_uid) == photo["photo_uid"]


def test_only_a_device_that_says_it_recorded_a_catch_claims_it(api: Api) -> None:
    """Another reviewer (protocol 6, saying it did not record it) and a device older than
    protocol 6 (saying nothing: it may be a reviewer) only review a catch that waits for
    its author: its facts stay as they were made, and it stays without an author."""
    boat_a, h = api, Api.register_new(api.site, "h")
    g, old = Api.register_new(api.site, "g"), Api.register_new(api.site, "old")
    photo, made = _boat_as(boat_a)
    assert h.push(_pulled_review(made, 20))["rejected"] == []
    other = _pulled_review(made, 30, count=5, recorded_here=False)
    older = made | {"count": 6, "photo_uid": photo["photo_uid"]}
    assert g.push(other)["rejected"] == []
    assert old.push(e.entry("fish_observation", "upsert", older, when=e.at(40)))["rejected"] == []
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.device_id, stored.author_pending, stored.photo_uid) == (None, True, None)
    assert stored.count == 1 and stored.needs_review is True  # the older device's review won


def test_an_older_devices_catch_is_still_its_first_pushers(api: Api) -> None:
    """A device before protocol 6 says nothing of who recorded a catch: the first device
    to push it is its author, as before."""
    made = _catch_of(api)
    stored = FishObservation.objects.select_related("device").get(uid=made["observation_uid"])
    assert stored.device is not None and str(stored.device.uid) == api.device_id


def test_a_catch_sent_again_saying_who_recorded_it_is_the_same_entry(api: Api) -> None:
    """An entry pushed before the device's upgrade to protocol 6 is pushed again under its
    key by the upgraded device (a renewal of the hub's log without a restore), now saying
    who recorded the catch: the same entry, acknowledged, not refused as other content."""
    made = e.observation()
    first = e.entry("fish_observation", "upsert", made)
    assert api.push(first)["acknowledged"] == [str(first.idempotency_key)]
    again = first.model_copy(update={"payload": made | {"recorded_here": True}})
    result = api.push(again)
    assert result["rejected"] == [] and result["acknowledged"] == [str(first.idempotency_key)]
