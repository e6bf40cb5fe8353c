"""The review queue's answers in the admin: "not a fish" (a face or the deck leaves the queue
with no species, reaches every device, and never becomes training data), and a typed species
named as the devices' species pack names it, or refused."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from inference.fish import installed
from sync.hub import review
from sync.hub.corrections import export_corrections
from sync.hub.models import FishObservation
from sync.species_packs import PackArchiveError
from tests.sync.hub import entries as e
from tests.sync.hub.hubfixtures import default_species_installed
from tests.sync.hub.hubkit import Api
from tests.sync.protocol_v2 import parse_as_v2

pytestmark = pytest.mark.usefixtures("species_packs_removed")

QUEUE = "/admin/hub/fishreview/"


@pytest.fixture(autouse=True)
def default_species() -> Iterator[None]:
    """The default pack's species, as ``jaga`` installs them (``main.py``)."""
    with default_species_installed(installed.default_species):
        yield


def flagged(api: Api, **fields: Any) -> FishObservation:
    """A face photo's catch the pack answered ``no_fish``, pushed by ``api``'s device."""
    payload = e.observation(predictions=[], status="no_fish", status_reason="like none") | fields
    assert api.push(e.entry("fish_observation", "upsert", payload))["rejected"] == []
    stored: FishObservation = FishObservation.objects.get(uid=payload["observation_uid"])
    return stored


def pulled(api: Api, uid: Any, version: int) -> dict[str, Any]:
    """The newest change of observation ``uid`` as a device of protocol ``version`` pulls it."""
    answer = api.get(api.site_path("changes"), {"cursor": 0, "protocol_version": version})
    assert answer.status_code == 200, answer.content
    changes = [c for c in answer.json()["changes"] if c["entity_uid"] == str(uid)]
    payload: dict[str, Any] = changes[-1]["payload"]
    return payload


def assert_answered_not_a_fish(api: Api, observation: FishObservation) -> None:
    answered = FishObservation.objects.get(pk=observation.pk)
    assert (answered.confirmed_species, answered.needs_review) == (None, False)
    assert answered.reviewed_by == "operator" and answered.not_a_fish
    for version in (5, 2):  # this release's devices, and the oldest the hub serves
        payload = pulled(api, observation.uid, version)
        assert (payload["confirmed_species"], payload["needs_review"]) == (None, False)
        assert payload["reviewed_by"] == "operator"
    parse_as_v2("fish_observation", "upsert", pulled(api, observation.uid, 2))


def _logged_about(catch: FishObservation) -> list[LogEntry]:
    """The admin's history of ``catch``: by its model too, as the hub tests share one
    database, where a device or person of the same pk has history of its own."""
    return list(
        LogEntry.objects.filter(
            content_type__app_label="hub",
            content_type__model="fishreview",  # the review queue's model (QUEUE)
            object_id=str(catch.pk),
        )
    )


def test_the_queue_action_answers_not_a_fish_and_records_it_in_the_history(
    operator: Client, api: Api
) -> None:
    face, fish = flagged(api), flagged(api)
    answer = operator.post(
        QUEUE, {"action": "answer_not_a_fish", "_selected_action": [face.pk]}, follow=True
    )
    assert "1 catch answered: not a fish." in answer.content.decode()
    assert_answered_not_a_fish(api, face)
    queue = operator.get(QUEUE, {"site__id__exact": face.site_id}).content.decode()
    assert f"/{face.pk}/change/" not in queue and f"/{fish.pk}/change/" in queue
    (logged,) = _logged_about(face)
    assert "not a fish" in logged.get_change_message()
    assert FishObservation.objects.get(pk=fish.pk).needs_review  # only the one selected


def test_the_change_page_answers_not_a_fish(operator: Client, api: Api) -> None:
    face = flagged(api)
    answer = operator.post(
        f"{QUEUE}{face.pk}/change/", {"confirmed_species": "", "not_a_fish": "on"}
    )
    assert answer.status_code == 302, answer.content.decode()
    assert_answered_not_a_fish(api, face)
    (logged,) = _logged_about(face)
    assert "not a fish" in logged.get_change_message()


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"confirmed_species": "fish_04", "not_a_fish": "on"}, "not both"),
        ({"confirmed_species": " "}, "Name a species, or tick"),
    ],
)
def test_the_change_page_takes_a_species_or_not_a_fish_never_both_nor_neither(
    operator: Client, api: Api, form: dict[str, str], error: str
) -> None:
    face = flagged(api)
    answer = operator.post(f"{QUEUE}{face.pk}/change/", form)
    assert answer.status_code == 200 and error in answer.content.decode()
    unchanged = FishObservation.objects.get(pk=face.pk)
    assert unchanged.needs_review and unchanged.reviewed_by == ""


def test_a_catch_answered_not_a_fish_is_never_exported_even_after_a_species(
    api: Api, tmp_path: Path
) -> None:
    """A reviewer named a species first (the only way before), then answered not a fish."""
    photo = e.photo(b"\xff\xd8\xff\xe0" + bytes(200))
    face = e.observation(photo_uid=photo["photo_uid"], status="no_fish", predictions=[])
    api.push(e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", face))
    stored = FishObservation.objects.get(uid=face["observation_uid"])
    review.correct_species(stored.pk, "Chromis chrysura", "first-reviewer")
    review.answer_not_a_fish(stored.pk, "second-reviewer")
    report = export_corrections(tmp_path / "out", site=api.site)
    assert (report.summary.written, report.awaiting_photo) == (0, 0)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("fish_04", "Amphiprion clarkii"),
        ("  amphiprion   CLARKII ", "Amphiprion clarkii"),
        ("Chaetodon lunulatus", "Chaetodon lunulatus"),
    ],
)
def test_a_typed_species_is_stored_by_the_default_packs_name(
    operator: Client, api: Api, typed: str, stored: str
) -> None:
    catch = flagged(api)
    answer = operator.post(f"{QUEUE}{catch.pk}/change/", {"confirmed_species": typed})
    assert answer.status_code == 302, answer.content.decode()
    confirmed = FishObservation.objects.get(pk=catch.pk)
    assert (confirmed.confirmed_species, confirmed.reviewed_by) == (stored, "operator")
    assert pulled(api, catch.uid, 5)["confirmed_species"] == stored


def test_a_species_the_pack_does_not_list_is_refused_with_its_list(
    operator: Client, api: Api
) -> None:
    catch = flagged(api)
    answer = operator.post(f"{QUEUE}{catch.pk}/change/", {"confirmed_species": "fish_99"})
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "&#x27;fish_99&#x27; is not a species of jaga-fish-f4k" in page
    assert "Amphiprion clarkii" in page  # the species the reviewer may type
    assert "tick &#x27;New species&#x27;" in page  # and the way to teach one it does not list
    assert FishObservation.objects.get(pk=catch.pk).needs_review


def test_a_new_species_is_taught_from_the_hub_when_the_reviewer_says_it_is_new(
    operator: Client, api: Api
) -> None:
    """The pack's list guards against typos, not against teaching: a species it does not
    list is taken, as a device takes it, once the reviewer ticks that it is new; one it
    does list is still stored by the pack's name."""
    catch = flagged(api)
    answer = operator.post(
        f"{QUEUE}{catch.pk}/change/",
        {"confirmed_species": "  Thunnus  albacares ", "new_species": "on"},
    )
    assert answer.status_code == 302, answer.content.decode()
    assert FishObservation.objects.get(pk=catch.pk).confirmed_species == "Thunnus albacares"
    assert pulled(api, catch.uid, 5)["confirmed_species"] == "Thunnus albacares"
    known = flagged(api)
    operator.post(
        f"{QUEUE}{known.pk}/change/", {"confirmed_species": "fish_04", "new_species": "on"}
    )
    assert FishObservation.objects.get(pk=known.pk).confirmed_species == "Amphiprion clarkii"


def pack_listing(*species: tuple[str, str]) -> bytes:
    """A pack archive's ``species.json`` (all the hub reads of a pack to name species)."""
    body = {"species": [{"id": sid, "name": name} for sid, name in species]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("species.json", json.dumps(body))
    return buffer.getvalue()


def test_a_published_pack_names_the_species_in_place_of_the_default(
    operator: Client, api: Api
) -> None:
    listing = pack_listing(("fish_04", "Amphiprion clarkii"), ("lutjanus", "Lutjanus synagris"))
    review.publish_species_pack(f"names-{api.site}", listing)
    catch, other = flagged(api), flagged(api)
    operator.post(f"{QUEUE}{catch.pk}/change/", {"confirmed_species": "LUTJANUS"})
    assert FishObservation.objects.get(pk=catch.pk).confirmed_species == "Lutjanus synagris"
    refused = operator.post(f"{QUEUE}{other.pk}/change/", {"confirmed_species": "fish_05"})
    assert f"not a species of names-{api.site}, the last published pack" in refused.content.decode()


def test_a_top_k_species_the_current_pack_renamed_gets_no_button_and_is_refused(
    operator: Client, api: Api
) -> None:
    """The one-click buttons are the observation's top-k, named by the pack that classified
    it. A pack published since may name a species otherwise (or drop it), when published
    with ``--allow-species-change``: the old name is then no species of the pack the
    devices run now. Its button would store it unchecked (a second name for one
    species in corrections.csv); so only what a typed species would be stored as is
    offered, and a posted name goes through the same check."""
    old = pack_listing(("lutjanus", "Lutjanus synagris"), ("campechanus", "Lutjanus campechanus"))
    review.publish_species_pack(f"old-{api.site}", old)
    top_k = [["Lutjanus campechanus", 0.55], ["Lutjanus synagris", 0.30]]  # by the old pack
    catch = flagged(api, status="unknown", status_reason=None, predictions=top_k)
    renamed = pack_listing(("lutjanus", "Lutjanus synagris"), ("campechanus", "Red snapper"))
    with pytest.raises(PackArchiveError, match="renames 1 species"):
        review.check_species_kept(renamed)  # published only with --allow-species-change
    review.publish_species_pack(f"new-{api.site}", renamed)
    queue = operator.get(QUEUE, {"site__id__exact": catch.site_id}).content.decode()
    assert "Lutjanus campechanus (0.55)" in queue  # the top-k as the device gave it
    assert f'value="{catch.pk}:Lutjanus synagris"' in queue  # a name the pack lists
    assert f'value="{catch.pk}:Lutjanus campechanus"' not in queue  # no button for the old name
    assert "Lutjanus campechanus (not in the current pack)" in queue
    refused = operator.post(
        f"{QUEUE}correct/", {"correction": f"{catch.pk}:Lutjanus campechanus"}, follow=True
    )
    assert f"not a species of new-{api.site}, the last published pack" in refused.content.decode()
    assert FishObservation.objects.get(pk=catch.pk).needs_review
    operator.post(f"{QUEUE}correct/", {"correction": f"{catch.pk}:  lutjanus SYNAGRIS "})
    confirmed = FishObservation.objects.get(pk=catch.pk)  # named as a typed species is
    assert (confirmed.confirmed_species, confirmed.needs_review) == ("Lutjanus synagris", False)
    assert pulled(api, catch.uid, 5)["confirmed_species"] == "Lutjanus synagris"
