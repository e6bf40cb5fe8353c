"""Conflicts: LWW per field with a (time, device) tie-break, hub edits, tombstones win."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from sync.client.push import to_wire
from sync.hub import review
from sync.hub.models import AppliedEntry, FaceTemplate, FishObservation, Person
from sync.protocol import format_timestamp, payload_for_protocol
from sync.store import FishObservation as StoreObservation
from sync.store import SpeciesScore, Store
from sync.store.observations import observation_payload
from tests.sync.conftest import FakeClock
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _second_device(api: Api) -> Api:
    return Api.register_new(api.site, "kiosk-2")


def test_later_edit_wins_whatever_order_it_arrives_in(api: Api) -> None:
    other = _second_device(api)
    person = e.person(api.site, name="Ana")
    api.push(e.entry("person", "upsert", person, when=e.at(0)))
    late = e.entry("person", "upsert", {**person, "display_name": "Ana Late"}, when=e.at(10))
    early = e.entry("person", "upsert", {**person, "display_name": "Ana Early"}, when=e.at(5))
    other.push(late)
    cursor = api.pull_all()[-1]["cursor"]
    api.push(early)  # arrives last, but was made earlier: it loses
    assert Person.objects.get(uid=person["person_uid"]).display_name == "Ana Late"
    assert api.pull(cursor)["changes"] == []  # nothing changed, nothing to pull


def test_equal_times_are_broken_by_the_greater_device_id(api: Api) -> None:
    other = _second_device(api)
    person = e.person(api.site, name="Ana")
    api.push(e.entry("person", "upsert", person, when=e.at(0)))
    winner, loser = sorted([api, other], key=lambda device: device.device_id, reverse=True)
    for device in (winner, loser):  # the winner first: arrival order must not matter
        edit = {**person, "display_name": f"by {device.device_id}"}
        device.push(e.entry("person", "upsert", edit, when=e.at(1)))
    assert Person.objects.get(uid=person["person_uid"]).display_name == f"by {winner.device_id}"


def test_fields_merge_independently_and_a_hub_correction_flows_back(api: Api) -> None:
    observation = e.observation()
    api.push(e.entry("fish_observation", "upsert", observation, when=e.at(0)))
    stored = FishObservation.objects.get(uid=observation["observation_uid"])
    cursor = api.pull_all()[-1]["cursor"]
    review.correct_species(stored.pk, "Lutjanus synagris", "reviewer")
    correction = api.pull(cursor)["changes"]
    assert [c["payload"]["confirmed_species"] for c in correction] == ["Lutjanus synagris"]
    assert (
        correction[0]["origin_device"] is None and correction[0]["payload"]["needs_review"] is False
    )
    assert correction[0]["payload"]["reviewed_by"] == "reviewer"  # who reviewed it travels
    reviewed_at = correction[0]["payload"]["reviewed_at"]
    # An offline edit of the notes, made after the catch but before the review reached the
    # boat, still carries the old species: the notes win, the species stays corrected.
    edit = {**observation, "notes": "gut contents: shrimp"}
    api.push(e.entry("fish_observation", "upsert", edit, when=e.at(30)))
    stored.refresh_from_db()
    assert (stored.notes, stored.confirmed_species) == ("gut contents: shrimp", "Lutjanus synagris")
    assert stored.needs_review is False
    assert stored.reviewed_by == "reviewer"  # the edit lost the species, so the reviewer stays
    assert format_timestamp(stored.reviewed_at) == reviewed_at
    assert api.pull_all()[-1]["payload"]["reviewed_by"] == "reviewer"


def _confirmed(observation: dict[str, Any], officer: str, when: datetime) -> dict[str, Any]:
    return {
        **observation,
        "confirmed_species": "Gadus morhua",
        "needs_review": False,
        "reviewed_by": officer,
        "reviewed_at": format_timestamp(when),
    }


def test_a_confirmation_the_store_wrote_names_its_reviewer_on_the_hub(
    api: Api, store: Store, clock: FakeClock
) -> None:
    catch = store.observations.add(
        StoreObservation(clock.now(), (SpeciesScore("Gadus morhua", 0.6),), True, "officer-7")
    )
    clock.advance(minutes=40)
    store.observations.confirm(catch.observation_uid, "Gadus morhua", officer="officer-9")
    result = api.push(*(to_wire(entry) for entry in store.outbox.entries()))
    assert result["rejected"] == [] and len(result["acknowledged"]) == 2
    stored = FishObservation.objects.get(uid=catch.observation_uid)
    assert (stored.confirmed_species, stored.needs_review) == ("Gadus morhua", False)
    assert (stored.reviewed_by, stored.reviewed_at) == ("officer-9", clock.now())
    pulled = api.pull_all()[-1]["payload"]
    assert (pulled["reviewed_by"], pulled["reviewed_at"]) == (
        "officer-9",
        format_timestamp(clock.now()),
    )


def test_the_reviewer_goes_with_the_species_that_wins(api: Api) -> None:
    observation = e.observation()
    api.push(e.entry("fish_observation", "upsert", observation, when=e.at(0)))
    stored = FishObservation.objects.get(uid=observation["observation_uid"])
    review.correct_species(stored.pk, "Lutjanus synagris", "reviewer")
    # A confirmation made on deck before the hub's review, arriving after it: it loses the
    # species, and so it does not get to name the reviewer either.
    stale = _confirmed(observation, "officer-9", e.at(20))
    api.push(e.entry("fish_observation", "upsert", stale, when=e.at(20)))
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.reviewed_by) == ("Lutjanus synagris", "reviewer")
    # One made after the review wins the species and names its officer.
    later = timezone.now() + timedelta(seconds=1)
    fresh = _confirmed(observation, "officer-9", later)
    api.push(e.entry("fish_observation", "upsert", fresh, when=later))
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.reviewed_by) == ("Gadus morhua", "officer-9")
    assert stored.reviewed_at == later


def _push_as_protocol_2(api: Api, *entries: Any) -> dict[str, Any]:
    body = e.batch(api.device_id, entries).model_dump(mode="json") | {"protocol_version": 2}
    response = api.post(api.site_path("push"), body)
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()
    return result


def _pushed_then_edited_without(api: Api, observation: dict[str, Any], *fields: str) -> Any:
    """Push ``observation``, then an older device's later edit of its notes, which does not
    carry ``fields``; return the hub's row (a FishObservation; typed loosely, as the model
    manager's results are, so that refreshed fields are not narrowed)."""
    api.push(e.entry("fish_observation", "upsert", observation, when=e.at(0)))
    older_device = {k: v for k, v in observation.items() if k not in fields}
    edit = e.entry(
        "fish_observation", "upsert", older_device | {"notes": "gill net"}, when=e.at(10)
    )
    assert _push_as_protocol_2(api, edit)["rejected"] == []
    return FishObservation.objects.get(uid=observation["observation_uid"])


def test_the_pack_version_goes_with_the_predictions_and_an_older_device_keeps_it(
    api: Api,
) -> None:
    observation = e.observation(pack_version="f4k-1")
    # A protocol-2 device's later edit: the same predictions, no pack_version. It wins the
    # predictions' stamp but says nothing of their pack, so the pack stays.
    stored = _pushed_then_edited_without(api, observation, "pack_version")
    assert (stored.notes, stored.pack_version) == ("gill net", "f4k-1")
    # A stale write (before that edit) naming another pack loses with its predictions.
    stale = observation | {"pack_version": "f4k-0", "predictions": [["Gadus morhua", 0.9]]}
    api.push(e.entry("fish_observation", "upsert", stale, when=e.at(5)))
    stored.refresh_from_db()
    assert (stored.pack_version, stored.predictions[0][0]) == ("f4k-1", "Lutjanus campechanus")
    # A later classification by a new pack wins both.
    again = observation | {"pack_version": "f4k-2", "predictions": [["Gadus morhua", 0.9]]}
    api.push(e.entry("fish_observation", "upsert", again, when=e.at(20)))
    stored.refresh_from_db()
    assert (stored.pack_version, stored.predictions) == ("f4k-2", [["Gadus morhua", 0.9]])
    assert "pack_version" not in stored.field_versions  # it has no stamp of its own
    assert api.pull_all()[-1]["payload"]["pack_version"] == "f4k-2"
    # A hub review keeps it: a correction is not a new prediction.
    review.correct_species(stored.pk, "Gadus morhua", "reviewer")
    stored.refresh_from_db()
    assert stored.pack_version == "f4k-2"
    assert api.pull_all()[-1]["payload"]["pack_version"] == "f4k-2"


def test_a_device_clock_far_ahead_is_clamped(api: Api) -> None:
    person = e.person(api.site, name="Ana")
    future = timezone.now() + timedelta(days=365)
    api.push(e.entry("person", "upsert", {**person, "display_name": "Future"}, when=future))
    stamp = Person.objects.get(uid=person["person_uid"]).field_versions["display_name"][0]
    clamped = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert clamped <= timezone.now() + timedelta(seconds=settings.JAGA_HUB_MAX_CLOCK_SKEW_S)


def test_tombstone_beats_later_edits_and_templates(api: Api) -> None:
    other = _second_device(api)
    person = e.person(api.site)
    uid = person["person_uid"]
    api.push(
        e.entry("person", "upsert", person, when=e.at(0)),
        e.entry("face_template", "upsert", e.template(uid, [0.3] * 128), when=e.at(0)),
    )
    api.push(e.entry("person", "tombstone", e.tombstone(uid, e.at(1)), when=e.at(1)))
    # Another kiosk, offline since before the erasure, edits the person and adds a template.
    late_edit = e.entry("person", "upsert", {**person, "display_name": "Back?"}, when=e.at(60))
    late_template = e.entry("face_template", "upsert", e.template(uid, [0.4] * 128), when=e.at(61))
    result = other.push(late_edit, late_template)
    assert result["rejected"] == []  # acknowledged, so the outbox drains...
    erased = Person.objects.get(uid=uid)
    assert erased.erased and erased.display_name == "" and erased.external_id == ""
    assert not FaceTemplate.objects.filter(person=erased).exists()  # ...but nothing returns
    outcomes = AppliedEntry.objects.filter(
        key__in=[late_edit.idempotency_key, late_template.idempotency_key]
    )
    assert set(outcomes.values_list("outcome", flat=True)) == {"superseded"}
    last = other.pull_all()[-1]
    assert (last["entity"], last["operation"]) == ("person", "tombstone")
    assert "Ana" not in str(other.pull_all())  # a device syncing now never sees the PII


def test_a_tombstone_for_an_unknown_person_still_guards_the_uid(api: Api) -> None:
    uid = e.uid()
    api.push(e.entry("person", "tombstone", e.tombstone(uid)))
    api.push(e.entry("person", "upsert", e.person(api.site, person_uid=uid), when=e.at(5)))
    assert Person.objects.get(uid=uid).display_name == ""


def test_a_badge_another_live_person_of_the_site_holds_is_refused(api: Api, other_api: Api) -> None:
    holder = e.person(api.site, badge="B-DUP")
    api.push(e.entry("person", "upsert", holder))
    again = e.entry("person", "upsert", e.person(api.site, name="Ana Again", badge="B-DUP"))
    cursor = api.pull_all()[-1]["cursor"]

    (rejection,) = _second_device(api).push(again)["rejected"]

    assert rejection["retryable"] is False  # for the kiosk's operator to decide
    assert f"held by person {holder['person_uid']} of this site" in rejection["reason"]
    assert "B-DUP" not in rejection["reason"]
    assert list(Person.objects.filter(external_id="B-DUP", erased_at=None)) == [
        Person.objects.get(uid=holder["person_uid"])
    ]
    assert api.pull_all()[-1]["cursor"] == cursor  # nothing told to the site's devices
    assert other_api.push(e.entry("person", "upsert", e.person(other_api.site, badge="B-DUP")))[
        "acknowledged"
    ]  # another site's badges are its own
    api.push(e.entry("person", "tombstone", e.tombstone(holder["person_uid"]), when=e.at(1)))
    assert _second_device(api).push(again)["acknowledged"]  # requeued once the holder is gone


def test_a_badge_change_onto_a_held_badge_is_refused(api: Api) -> None:
    first, second = e.person(api.site, badge="B-ONE"), e.person(api.site, badge="B-TWO")
    api.push(e.entry("person", "upsert", first), e.entry("person", "upsert", second))
    onto_held = e.entry("person", "upsert", {**second, "external_id": "B-ONE"}, when=e.at(1))
    (rejection,) = api.push(onto_held)["rejected"]
    assert f"held by person {first['person_uid']}" in rejection["reason"]
    free = e.entry("person", "upsert", {**second, "external_id": "B-THREE"}, when=e.at(2))
    assert api.push(free)["acknowledged"]
    assert Person.objects.get(uid=second["person_uid"]).external_id == "B-THREE"


def test_access_events_are_append_only(api: Api) -> None:
    event = e.access_event(api.site)
    api.push(e.entry("access_event", "upsert", event))
    rewrite = e.entry("access_event", "upsert", {**event, "decision": "not_matched"})
    duplicate = e.entry("access_event", "upsert", event)
    result = api.push(rewrite, duplicate)
    assert "append-only" in result["rejected"][0]["reason"]
    assert result["acknowledged"] == [str(duplicate.idempotency_key)]


def test_the_fishs_box_goes_with_the_predictions_and_an_older_device_keeps_it(
    api: Api,
) -> None:
    observation = e.observation(crop=[0, 5, 40, 30])
    stored = _pushed_then_edited_without(api, observation, "crop")
    assert (stored.notes, stored.crop) == ("gill net", (0, 5, 40, 30))
    # A stale write with another box loses with its predictions.
    stale = observation | {"crop": [1, 1, 9, 9], "predictions": [["Gadus morhua", 0.9]]}
    api.push(e.entry("fish_observation", "upsert", stale, when=e.at(5)))
    stored.refresh_from_db()
    assert stored.crop == (0, 5, 40, 30)
    # A later classification of the whole photo wins both.
    again = observation | {"crop": None, "predictions": [["Gadus morhua", 0.9]]}
    api.push(e.entry("fish_observation", "upsert", again, when=e.at(20)))
    stored.refresh_from_db()
    assert (stored.crop, stored.predictions) == (None, [["Gadus morhua", 0.9]])
    assert "crop" not in stored.field_versions  # it has no stamp of its own
    assert api.pull_all()[-1]["payload"]["crop"] is None


def test_the_packs_verdict_goes_with_the_predictions_and_an_older_device_keeps_it(
    api: Api,
) -> None:
    observation = e.observation(status="unknown")
    stored = _pushed_then_edited_without(api, observation, "status", "status_reason")
    assert (stored.notes, stored.status, stored.status_reason) == ("gill net", "unknown", None)
    # A stale write with another verdict loses with its predictions.
    stale = observation | {"status": "identified", "predictions": [["Gadus morhua", 0.9]]}
    api.push(e.entry("fish_observation", "upsert", stale, when=e.at(5)))
    stored.refresh_from_db()
    assert stored.status == "unknown"
    # A later classification that found no fish wins all three.
    blank = {"predictions": [], "status": "no_fish", "status_reason": "image is blank"}
    api.push(e.entry("fish_observation", "upsert", observation | blank, when=e.at(20)))
    stored.refresh_from_db()
    assert (stored.predictions, stored.status, stored.status_reason) == (
        [],
        "no_fish",
        "image is blank",
    )
    assert "status" not in stored.field_versions  # it has no stamp of its own
    assert api.pull_all()[-1]["payload"]["status"] == "no_fish"
    # A hub review keeps it: the reviewer names the species, the pack's verdict stays.
    review.correct_species(stored.pk, "Gadus morhua", "reviewer")
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.status) == ("Gadus morhua", "no_fish")
    assert api.pull_all()[-1]["payload"]["status"] == "no_fish"


def test_a_device_that_pulled_before_it_upgraded_never_erases_the_verdict(api: Api) -> None:
    """The fleet's normal rollout: the hub first, then the boats one by one. A boat still on
    an older protocol pulls a catch without its verdict and pack; upgraded, its officer
    confirms the species. Its row holds neither: the payload the store writes must not say
    None for them, or the confirmation (whose stamp the predictions, and so they, take)
    erases them on the hub and, through the change log, on every device."""
    boat_1, boat_2 = api, Api.register_new(api.site, "boat-2")
    made = e.observation(status="unknown", pack_version="f4k-3")
    boat_1.push(e.entry("fish_observation", "upsert", made, when=e.at(0)))
    pulled = payload_for_protocol(2, "fish_observation", "upsert", boat_1.pull_all()[-1]["payload"])
    assert "status" not in pulled and "pack_version" not in pulled  # pulled on protocol 2
    confirmed = StoreObservation(
        observed_at=datetime.fromisoformat(pulled["observed_at"]),
        predictions=tuple(SpeciesScore(s, c) for s, c in pulled["predictions"]),
        officer=pulled["officer"], observation_uid=pulled["observation_uid"],
        needs_review=False, confirmed_species="Lutjanus synagris",
        reviewed_by="officer-9", reviewed_at=e.at(10),
    )  # fmt: skip
    confirmation = observation_payload(confirmed)
    boat_2.push(e.entry("fish_observation", "upsert", confirmation, when=e.at(10)))
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert (stored.confirmed_species, stored.status) == ("Lutjanus synagris", "unknown")
    assert stored.pack_version == "f4k-3"
    change = boat_1.pull_all()[-1]["payload"]
    assert (change["status"], change["pack_version"]) == ("unknown", "f4k-3")


def test_a_confirmation_naming_no_box_or_pack_leaves_them_when_the_predictions_stay(
    api: Api,
) -> None:
    """A boat on protocol 2 pulled a boxed catch without its box and pack (it was never told
    them); upgraded to protocol 3, its officer confirms. The confirmation re-sends the same
    predictions with an explicit ``crop``/``pack_version`` of None, and its stamp beats the
    predictions'. Only a new classification may change what was made on it: the same
    predictions leave the box, the pack and the verdict as they are."""
    boat_1, boat_2 = api, Api.register_new(api.site, "boat-2")
    made = e.observation(crop=[10, 20, 100, 50], pack_version="f4k-7", status="unknown")
    boat_1.push(e.entry("fish_observation", "upsert", made, when=e.at(0)))
    never_told = {"crop": None, "pack_version": None, "status": None, "status_reason": None}
    confirmation = _confirmed(made, "officer-9", e.at(10)) | never_told
    assert boat_2.push(e.entry("fish_observation", "upsert", confirmation, when=e.at(10)))[
        "acknowledged"
    ]
    stored = FishObservation.objects.get(uid=made["observation_uid"])
    assert stored.confirmed_species == "Gadus morhua"
    assert (stored.crop, stored.pack_version, stored.status) == (
        (10, 20, 100, 50),
        "f4k-7",
        "unknown",
    )
    change = boat_1.pull_all()[-1]["payload"]
    assert (change["crop"], change["pack_version"]) == ([10, 20, 100, 50], "f4k-7")


def test_the_hub_says_nothing_of_a_verdict_it_was_never_told(api: Api) -> None:
    """A protocol-3 device's catch has no verdict on the hub: the change log leaves it out
    rather than telling every device it is None."""
    older = {k: v for k, v in e.observation().items() if k not in ("status", "status_reason")}
    api.push(e.entry("fish_observation", "upsert", older, when=e.at(0)))
    change = api.pull_all()[-1]["payload"]
    assert "status" not in change and "status_reason" not in change


def test_a_hub_correction_older_than_a_device_verdict_leaves_that_verdict_and_its_reviewer(
    api: Api,
) -> None:
    """A device confirms with a clock ahead of the hub's (within the skew allowed): its
    verdict wins the species, so the hub reviewer must not be written beside it, and the
    reviewer is told whose verdict stands. Nothing is sent to the devices."""
    observation = e.observation()
    api.push(e.entry("fish_observation", "upsert", observation, when=e.at(0)))
    ahead = timezone.now() + timedelta(seconds=settings.JAGA_HUB_MAX_CLOCK_SKEW_S / 2)
    verdict = observation | {
        "confirmed_species": "Gadus morhua",
        "needs_review": False,
        "reviewed_by": "officer-7",
        "reviewed_at": format_timestamp(ahead),
    }
    api.push(e.entry("fish_observation", "upsert", verdict, when=ahead))
    stored = FishObservation.objects.get(uid=observation["observation_uid"])
    cursor = api.pull_all()[-1]["cursor"]
    with pytest.raises(review.CorrectionSupersededError, match="Gadus morhua by officer-7"):
        review.correct_species(stored.pk, "Lutjanus synagris", "hub-reviewer")
    stored.refresh_from_db()
    assert (stored.confirmed_species, stored.reviewed_by) == ("Gadus morhua", "officer-7")
    assert api.pull(cursor)["changes"] == []


def test_an_edit_from_a_device_without_the_photo_keeps_the_photo_link(api: Api) -> None:
    """Device B pulled A's observation but not its photo, so its copy links none; B's later
    confirmation carries no photo_uid. The species is B's, the photo stays linked."""
    other = _second_device(api)
    photo = e.photo(b"\xff\xd8\xff\xe0 a cod")
    observation = e.observation(photo_uid=photo["photo_uid"])
    api.push(e.entry("photo", "upsert", photo, when=e.at(0)),
             e.entry("fish_observation", "upsert", observation, when=e.at(0)))  # fmt: skip
    confirmed = observation | {"photo_uid": None, "confirmed_species": "Gadus morhua",
                               "needs_review": False}  # fmt: skip
    other.push(e.entry("fish_observation", "upsert", confirmed, when=e.at(10)))
    stored = FishObservation.objects.get(uid=observation["observation_uid"])
    assert (stored.confirmed_species, str(stored.photo_uid)) == ("Gadus morhua", photo["photo_uid"])
    assert api.pull_all()[-1]["payload"]["photo_uid"] == photo["photo_uid"]
