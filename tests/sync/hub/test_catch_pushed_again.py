"""A catch its device pushes again under a new uid is the catch the hub holds, not a second.

A store restored to a backup taken before a catch, whose Catch panel spool still held it,
recorded it again (before session 31: under new observation uids) and pushed it: the same
fish (box) of the same photo, from the device that recorded it, already on the hub under
another uid. The hub made a second catch of it. It now acknowledges the push (the device
must not quarantine it, nor send it for ever) and keeps the catch it holds, its review
included: ``same_catch`` in the ledger; a later review of it under the other uid reaches
it. Another fish of that photo is its own catch, and so is one another device says it
recorded on that photo.
"""

from __future__ import annotations

from typing import Any

from sync.hub.models import AppliedEntry, FishObservation
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _pushed(boat: Api, photo: dict[str, Any], **fields: Any) -> dict[str, Any]:
    made = e.observation(photo_uid=photo["photo_uid"], **fields)
    result = boat.push(e.entry("fish_observation", "upsert", made, when=e.at(0)))
    assert result["rejected"] == []
    return made


def _catches_of(photo: dict[str, Any]) -> list[str]:
    found = FishObservation.objects.filter(photo_uid=photo["photo_uid"]).order_by("pk")
    return [str(uid) for uid in found.values_list("uid", flat=True)]


def test_a_catch_pushed_again_under_a_new_uid_is_the_one_the_hub_holds(api: Api) -> None:
    photo = e.photo(b"one catch on deck")
    api.push(e.entry("photo", "upsert", photo, when=e.at(0)))
    made = _pushed(api, photo, crop=None)
    FishObservation.objects.filter(uid=made["observation_uid"]).update(
        confirmed_species="Gadus morhua", needs_review=False, reviewed_by="hub-reviewer"
    )
    again = made | {"observation_uid": e.uid()}  # the restored store's Record of it
    entry = e.entry("fish_observation", "upsert", again, when=e.at(30))
    result = api.push(entry)
    assert result["rejected"] == []  # acknowledged: nothing for the device to quarantine
    assert _catches_of(photo) == [made["observation_uid"]], "a second catch of one fish"
    kept = FishObservation.objects.get(uid=made["observation_uid"])
    assert (kept.confirmed_species, kept.needs_review) == ("Gadus morhua", False)
    assert AppliedEntry.objects.get(key=entry.idempotency_key).outcome == "same_catch"
    assert api.push(entry)["rejected"] == []  # sent again: a duplicate key, acknowledged


def test_a_later_review_of_the_catch_pushed_again_reaches_the_one_held(api: Api) -> None:
    """The officer reviews the catch the device holds under the other uid: that review,
    made after the hub's, is the catch's; the review the catch was recorded with (confirmed
    on the spot), sent again with it, is older than the hub's and does not replace it."""
    photo = e.photo(b"a catch reviewed twice")
    api.push(e.entry("photo", "upsert", photo, when=e.at(0)))
    on_the_spot = {
        "confirmed_species": "Lutjanus synagris",
        "needs_review": False,
        "reviewed_by": "officer-7",
        "reviewed_at": format_timestamp(e.at(0)),
    }
    made = _pushed(api, photo, crop=None, **on_the_spot)
    FishObservation.objects.filter(uid=made["observation_uid"]).update(
        confirmed_species="Gadus morhua", reviewed_by="hub-reviewer", reviewed_at=e.at(10)
    )
    again = made | {"observation_uid": e.uid()}
    assert api.push(e.entry("fish_observation", "upsert", again, when=e.at(30)))["rejected"] == []
    assert FishObservation.objects.get(uid=made["observation_uid"]).reviewed_by == "hub-reviewer"
    reviewed = again | {"confirmed_species": "Pollachius pollachius",
                        "reviewed_at": format_timestamp(e.at(60))}  # fmt: skip
    assert (
        api.push(e.entry("fish_observation", "upsert", reviewed, when=e.at(60)))["rejected"] == []
    )
    held = FishObservation.objects.get(uid=made["observation_uid"])
    assert (held.confirmed_species, held.reviewed_by) == ("Pollachius pollachius", "officer-7")
    assert _catches_of(photo) == [made["observation_uid"]]
    changes = [c for c in api.pull_all() if c["entity_uid"] == made["observation_uid"]]
    assert changes[-1]["payload"]["confirmed_species"] == "Pollachius pollachius"


def test_another_fish_of_the_same_photo_is_its_own_catch(api: Api) -> None:
    photo = e.photo(b"two fish on deck")
    api.push(e.entry("photo", "upsert", photo, when=e.at(0)))
    first = _pushed(api, photo, crop=[0, 0, 40, 40])
    second = _pushed(api, photo, crop=[50, 0, 40, 40])
    assert _catches_of(photo) == [first["observation_uid"], second["observation_uid"]]


def test_a_catch_of_another_device_on_the_photo_is_its_own(api: Api) -> None:
    """Only the catch's own device records it twice by pushing it again: another device's
    catch naming the photo is not taken for it (nor silently dropped)."""
    photo = e.photo(b"a photo two boats name")
    api.push(e.entry("photo", "upsert", photo, when=e.at(0)))
    first = _pushed(api, photo, crop=None)
    other = _pushed(Api.register_new(api.site, "boat-b"), photo, crop=None)
    assert _catches_of(photo) == [first["observation_uid"], other["observation_uid"]]
