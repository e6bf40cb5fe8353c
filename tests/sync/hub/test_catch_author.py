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
