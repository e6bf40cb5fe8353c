"""The review queue against an attacker and a reviewer on a slow link: a photo is served as
its catch's (by the catch's site, never by the photo's alone), a correction posted from a
stale page never overwrites the answer another reviewer (or a device) gave meanwhile, every
applied correction is in the admin's history and no refused one is, and a hostile
``correction`` value is refused with a message, never a server error."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from sync.hub.models import FishObservation, Photo, Site, SiteMembership
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
QUEUE = "/admin/hub/fishreview/"
CORRECT = f"{QUEUE}correct/"
PHOTO = QUEUE + "photo/{}/"
REVIEWER = ["view_fishreview", "change_fishreview"]

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def _reviewer(*sites: str) -> tuple[User, Client]:
    user = User.objects.create_user(f"reviewer-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=REVIEWER))
    for slug in sites:
        SiteMembership.objects.create(user=user, site=Site.objects.get(slug=slug))
    client = Client()
    client.force_login(user)
    return user, client


def _flagged(api: Api) -> FishObservation:
    payload = e.observation()
    assert api.push(e.entry("fish_observation", "upsert", payload))["rejected"] == []
    stored: FishObservation = FishObservation.objects.get(uid=payload["observation_uid"])
    return stored


def _page(response: Any) -> str:
    """The page's text, its messages among it, spacing collapsed."""
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_photo_is_served_by_its_catchs_site_never_by_the_photos_alone(
    api: Api, other_api: Api
) -> None:
    """A catch of site A names a photo uid before any photo came (taken as named:
    ``test_catch_photo_order``); site B's device then pushes a photo under that uid. The
    photo view checked the photo's site against the reviewer's: B's reviewer, who reviews
    no catch naming it, was shown the photo of A's catch, and so was a reviewer of both
    beside A's catch, which the corrections export never labels with it."""
    data = JPEG + b"cross-site"
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    assert api.push(e.entry("fish_observation", "upsert", catch))["rejected"] == []
    assert other_api.push(e.entry("photo", "upsert", photo))["rejected"] == []
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=data)
    url = PHOTO.format(photo["photo_uid"])
    _, of_b = _reviewer(other_api.site)
    _, of_both = _reviewer(api.site, other_api.site)
    _, of_a = _reviewer(api.site)
    assert [r.get(url).status_code for r in (of_b, of_both, of_a)] == [404, 404, 404]


def test_a_photo_no_catch_names_is_never_served(api: Api) -> None:
    """The view serves the review queue's photos: a catch's, not any stored photo of the
    reviewer's sites that is not a person's."""
    data = JPEG + b"orphan"
    photo = e.photo(data)
    assert api.push(e.entry("photo", "upsert", photo))["rejected"] == []
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=data)
    _, reviewer = _reviewer(api.site)
    assert reviewer.get(PHOTO.format(photo["photo_uid"])).status_code == 404
    named = e.observation(photo_uid=photo["photo_uid"])
    assert api.push(e.entry("fish_observation", "upsert", named))["rejected"] == []
    assert reviewer.get(PHOTO.format(photo["photo_uid"])).status_code == 200


def test_a_correction_from_a_stale_page_never_overwrites_another_reviewers_answer(
    api: Api,
) -> None:
    """Two reviewers load the queue; the first confirms a species. The second, on a slow
    link, still sees the catch and presses another species' button: last writer won, the
    first answer replaced without a word to either."""
    catch = _flagged(api)
    first_user, first = _reviewer(api.site)
    _, second = _reviewer(api.site)
    first.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    late = second.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus campechanus"}, follow=True)
    kept = FishObservation.objects.get(pk=catch.pk)
    assert (kept.confirmed_species, kept.reviewed_by) == ("Lutjanus synagris", first_user.username)
    assert "already reviewed" in _page(late)


def test_a_stale_not_a_fish_from_the_change_page_is_neither_applied_nor_in_the_history(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change page's form read the catch while it was queued; another reviewer's
    answer committed before this one saved: it must not replace that answer, and the
    admin's history must not say this reviewer changed the catch."""
    from sync.hub.admin.review import FishReviewAdmin

    catch = _flagged(api)
    _, first = _reviewer(api.site)
    second_user, second = _reviewer(api.site)
    read = FishReviewAdmin.get_object

    def read_then_overtaken(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = read(self, *args, **kwargs)
        first.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
        return found

    monkeypatch.setattr(FishReviewAdmin, "get_object", read_then_overtaken)
    late = second.post(f"{QUEUE}{catch.pk}/change/", {"not_a_fish": "on"}, follow=True)
    kept = FishObservation.objects.get(pk=catch.pk)
    assert kept.confirmed_species == "Lutjanus synagris"
    assert not LogEntry.objects.filter(object_id=str(catch.pk), user=second_user).exists()
    assert "already reviewed" in _page(late)


def test_a_one_click_correction_is_recorded_in_the_admins_history(api: Api) -> None:
    """The list's species buttons confirm a catch as the change page does; the change page's
    answers and "Not a fish" are in the admin's history, the buttons' were not."""
    catch = _flagged(api)
    user, reviewer = _reviewer(api.site)
    reviewer.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    assert FishObservation.objects.get(pk=catch.pk).confirmed_species == "Lutjanus synagris"
    [logged] = LogEntry.objects.filter(object_id=str(catch.pk), user=user)
    assert "Lutjanus synagris" in logged.get_change_message()


def test_the_change_pages_history_names_the_species_confirmed(api: Api) -> None:
    """Django's own message said which field changed ("Changed Confirm as species"), not
    to what: the history could not tell one reviewer's answer from another's."""
    catch = _flagged(api)
    user, reviewer = _reviewer(api.site)
    reviewer.post(f"{QUEUE}{catch.pk}/change/", {"confirmed_species": "Lutjanus synagris"})
    assert FishObservation.objects.get(pk=catch.pk).confirmed_species == "Lutjanus synagris"
    [logged] = LogEntry.objects.filter(object_id=str(catch.pk), user=user)
    assert "Lutjanus synagris" in logged.get_change_message()


@pytest.mark.parametrize("pk", ["\u00b2", "9" * 30, "-1", ""])
def test_a_hostile_catch_id_is_refused_with_a_message_not_a_server_error(api: Api, pk: str) -> None:
    """``str.isdigit`` is true for a superscript two, which ``int`` refuses; a number
    past the column's range is no catch either."""
    _flagged(api)
    _, reviewer = _reviewer(api.site)
    answer = reviewer.post(CORRECT, {"correction": f"{pk}:Lutjanus synagris"}, follow=True)
    assert answer.status_code == 200
    assert "could not be applied" in _page(answer)


def test_a_photo_seen_before_is_not_sent_again_on_a_slow_link(api: Api, other_api: Api) -> None:
    """The queue shows up to a page of full-size photos (each up to 32 MiB), and every
    visit sent them all again: the view forbade the browser to keep them (no-store). A
    stored photo's bytes never change, so the browser keeps them and asks again by their
    sha256, answered 304 with no body; a reviewer who may not see the photo is still
    told nothing of it, whatever they ask with."""
    data = JPEG + b"slow-link"
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    api.push(e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", catch))
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=data)
    url = PHOTO.format(photo["photo_uid"])
    _, reviewer = _reviewer(api.site)
    first = reviewer.get(url)
    assert first.status_code == 200 and "no-store" not in first["Cache-Control"]
    assert 'loading="lazy"' in _page(reviewer.get(QUEUE))
    again = reviewer.get(url, headers={"If-None-Match": first["ETag"]})
    assert (again.status_code, again.content) == (304, b"")
    _, elsewhere = _reviewer(other_api.site)
    assert elsewhere.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 404


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\x07", "\x1b"])
def test_a_species_name_with_control_characters_is_refused(api: Api, hidden: str) -> None:
    """A new species is sent to every device of the site and into training exports: a
    bidirectional override shows it as another name than the one it matches and sorts by,
    and a control character is no part of a name. Typed on the change page or posted to
    the buttons' view (no species list known: taken as posted), it is refused."""
    catch = _flagged(api)
    _, reviewer = _reviewer(api.site)
    typed = f"Gadus{hidden} morhua"
    form = {"confirmed_species": typed, "new_species": "on"}
    page = reviewer.post(f"{QUEUE}{catch.pk}/change/", form)
    assert page.status_code == 200 and "control character" in _page(page)
    button = reviewer.post(CORRECT, {"correction": f"{catch.pk}:{typed}"}, follow=True)
    assert "could not be applied" in _page(button)
    assert FishObservation.objects.get(pk=catch.pk).confirmed_species is None


def test_a_one_click_correction_returns_to_the_queue_as_it_was_filtered(api: Api) -> None:
    """A reviewer working through one site's or one pack's catches pressed a button and
    came back to the whole queue's first page, to filter it again: on a slow link, two
    page loads per catch. The buttons carry the queue's filters, as the change page does."""
    catch = _flagged(api)
    _, reviewer = _reviewer(api.site)
    site = Site.objects.get(slug=api.site).pk
    page = _page(reviewer.get(QUEUE, {"site__id__exact": site}))
    kept = f"_changelist_filters=site__id__exact%3D{site}"
    assert f'formaction="{CORRECT}?{kept}"' in page
    answer = reviewer.post(f"{CORRECT}?{kept}", {"correction": f"{catch.pk}:Lutjanus synagris"})
    assert answer["Location"] == f"{QUEUE}?site__id__exact={site}"
