"""Staff users work for sites (``SiteMembership``): the admin's per-site pages show them only
their sites' records, and the review queue's correction and photo refuse another site's
catch. Superusers see every site; a staff user linked to no site sees none, and is told why.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sync.hub.models import (
    AuditChainState,
    Device,
    FishObservation,
    Person,
    Photo,
    Site,
    SiteMembership,
)
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
REVIEWER = ["view_fishreview", "change_fishreview"]


def _staff(codenames: list[str], *sites: str) -> tuple[User, Client]:
    user = User.objects.create_user(f"staff-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    for slug in sites:
        SiteMembership.objects.create(user=user, site=Site.objects.get(slug=slug))
    client = Client()
    client.force_login(user)
    return user, client


def _flagged_catch(api: Api, data: bytes) -> tuple[str, int]:
    """A flagged catch of ``api``'s site with its stored photo: (photo uid, observation pk)."""
    photo = e.photo(data)
    catch = e.observation(photo_uid=photo["photo_uid"])
    api.push(e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", catch))
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=data)
    return photo["photo_uid"], FishObservation.objects.get(uid=catch["observation_uid"]).pk


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_reviewer_sees_and_corrects_only_the_catches_of_their_sites(
    api: Api, other_api: Api
) -> None:
    mine_photo, mine = _flagged_catch(api, JPEG + b"a")
    theirs_photo, theirs = _flagged_catch(other_api, JPEG + b"b")
    _, reviewer = _staff(REVIEWER, api.site)
    queue = _text(reviewer.get("/admin/hub/fishreview/"))
    assert mine_photo in queue and theirs_photo not in queue
    assert other_api.site not in queue  # nor is the other site offered as a filter
    photo = "/admin/hub/fishreview/photo/{}/"
    assert reviewer.get(photo.format(mine_photo)).status_code == 200
    assert reviewer.get(photo.format(theirs_photo)).status_code == 404
    change = reviewer.get(f"/admin/hub/fishreview/{theirs}/change/", follow=True)
    assert theirs_photo not in _text(change)
    refused = reviewer.post("/admin/hub/fishreview/correct/", {"correction": f"{theirs}:Gadus"})
    assert refused.status_code == 403
    assert FishObservation.objects.get(pk=theirs).confirmed_species is None
    reviewer.post("/admin/hub/fishreview/correct/", {"correction": f"{mine}:Gadus morhua"})
    assert FishObservation.objects.get(pk=mine).confirmed_species == "Gadus morhua"


def test_a_staff_user_of_no_site_sees_an_empty_queue_and_why(api: Api) -> None:
    photo_uid, pk = _flagged_catch(api, JPEG + b"c")
    _, reviewer = _staff(REVIEWER)
    queue = _text(reviewer.get("/admin/hub/fishreview/"))
    assert photo_uid not in queue
    assert "Your account is linked to no site" in queue
    assert reviewer.get(f"/admin/hub/fishreview/photo/{photo_uid}/").status_code == 404
    refused = reviewer.post("/admin/hub/fishreview/correct/", {"correction": f"{pk}:Gadus"})
    assert refused.status_code == 403


def test_a_superuser_sees_every_sites_catches(operator: Client, api: Api, other_api: Api) -> None:
    for i, each in enumerate((api, other_api)):
        photo_uid, _ = _flagged_catch(each, JPEG + bytes([i]))
        site = Site.objects.get(slug=each.site)
        queue = _text(operator.get("/admin/hub/fishreview/", {"site__id__exact": site.pk}))
        assert photo_uid in queue and "linked to no site" not in queue
        photo = operator.get(f"/admin/hub/fishreview/photo/{photo_uid}/")
        assert photo.status_code == 200


def test_people_and_access_events_are_listed_for_the_staff_users_sites_only(
    api: Api, other_api: Api
) -> None:
    mine, theirs = e.person(api.site, name="Ana Mysite"), e.person(other_api.site, name="Bo Far")
    api.push(e.entry("person", "upsert", mine))
    other_api.push(e.entry("person", "upsert", theirs))
    api.push(e.entry("access_event", "upsert", e.access_event(api.site, device="kiosk-mine")))
    other_api.push(
        e.entry("access_event", "upsert", e.access_event(other_api.site, device="kiosk-far"))
    )
    _, clerk = _staff(["view_person", "view_accessevent"], api.site)
    people = _text(clerk.get("/admin/hub/person/"))
    assert "Ana Mysite" in people and "Bo Far" not in people
    far_pk = Person.objects.get(uid=theirs["person_uid"]).pk
    assert "Bo Far" not in _text(clerk.get(f"/admin/hub/person/{far_pk}/change/", follow=True))
    events = _text(clerk.get("/admin/hub/accessevent/"))
    assert "kiosk-mine" in events and "kiosk-far" not in events


def test_an_eraser_erases_only_their_sites_people(api: Api, other_api: Api) -> None:
    theirs = e.person(other_api.site, name="Cy Elsewhere")
    other_api.push(e.entry("person", "upsert", theirs))
    pk = Person.objects.get(uid=theirs["person_uid"]).pk
    _, eraser = _staff(["view_person", "erase_person"], api.site)
    eraser.post("/admin/hub/person/", {"action": "erase", "_selected_action": [pk], "post": "yes"})
    assert not Person.objects.get(pk=pk).erased


def test_devices_are_listed_and_added_for_the_staff_users_sites_only(
    api: Api, other_api: Api
) -> None:
    _, clerk = _staff(["view_device", "add_device", "change_device"], api.site)
    devices = _text(clerk.get("/admin/hub/device/"))
    assert api.site in devices and other_api.site not in devices
    far = Site.objects.get(slug=other_api.site)
    assert other_api.site not in _text(clerk.get("/admin/hub/device/add/"))
    added = clerk.post("/admin/hub/device/add/", {"site": far.pk, "name": "rogue"})
    assert added.status_code == 200  # the form refuses the site
    assert not far.devices.filter(name="rogue").exists()


@pytest.mark.parametrize("codenames", [["change_user"], ["add_sitemembership"]])
def test_who_may_manage_users_or_memberships_links_staff_to_sites(
    api: Api, codenames: list[str]
) -> None:
    reviewer, _ = _staff(REVIEWER)
    _, manager = _staff(codenames, api.site)
    site = Site.objects.get(slug=api.site)
    assert "site membership" in _text(manager.get("/admin/")).lower()
    added = manager.post("/admin/hub/sitemembership/add/", {"user": reviewer.pk, "site": site.pk})
    assert added.status_code == 302, _text(added)[-1500:]
    assert SiteMembership.objects.filter(user=reviewer, site=site).exists()


MANAGER = ["view_sitemembership", "add_sitemembership", "change_sitemembership"]


@pytest.mark.parametrize("codenames", [["change_user"], MANAGER])
def test_a_manager_links_others_only_to_their_own_sites_and_never_themselves(
    api: Api, other_api: Api, codenames: list[str]
) -> None:
    """A hub serves several organisations: managing one site's staff must not hand over
    every site, nor let the manager take a site they do not work for."""
    near, far = Site.objects.get(slug=api.site), Site.objects.get(slug=other_api.site)
    reviewer, _ = _staff(REVIEWER)
    theirs, _ = _staff(REVIEWER, other_api.site)
    manager, client = _staff(codenames, api.site)
    for user, site in ((reviewer, far), (manager, far), (manager, near)):
        answer = client.post("/admin/hub/sitemembership/add/", {"user": user.pk, "site": site.pk})
        assert answer.status_code == 200  # the form refuses the user or the site
    assert not SiteMembership.objects.filter(site=far).exclude(user=theirs).exists()
    assert SiteMembership.objects.filter(user__in=[reviewer, manager]).count() == 1
    page = _text(client.get("/admin/hub/sitemembership/"))
    assert manager.username in page and theirs.username not in page
    linked = SiteMembership.objects.get(user=theirs)
    client.post(f"/admin/hub/sitemembership/{linked.pk}/change/", {"user": theirs.pk,
                "site": near.pk})  # fmt: skip
    assert SiteMembership.objects.get(pk=linked.pk).site == far
    mine = SiteMembership.objects.get(user=manager)
    client.post(f"/admin/hub/sitemembership/{mine.pk}/change/", {"user": reviewer.pk,
                "site": near.pk})  # fmt: skip
    assert SiteMembership.objects.get(pk=mine.pk).user == manager  # their link stays theirs
    added = client.post("/admin/hub/sitemembership/add/", {"user": reviewer.pk, "site": near.pk})
    assert added.status_code == 302
    assert SiteMembership.objects.filter(user=reviewer, site=near).exists()


def test_a_superuser_links_anyone_to_any_site(api: Api, other_api: Api) -> None:
    boss = User.objects.create_superuser(f"boss-{uuid.uuid4().hex[:8]}")
    client = Client()
    client.force_login(boss)
    far = Site.objects.get(slug=other_api.site)
    added = client.post("/admin/hub/sitemembership/add/", {"user": boss.pk, "site": far.pk})
    assert added.status_code == 302
    assert SiteMembership.objects.filter(user=boss, site=far).exists()


def test_a_reviewer_may_not_link_themselves_to_a_site(api: Api) -> None:
    reviewer, client = _staff(REVIEWER)
    site = Site.objects.get(slug=api.site)
    answer = client.post("/admin/hub/sitemembership/add/", {"user": reviewer.pk, "site": site.pk})
    assert answer.status_code == 403
    assert not SiteMembership.objects.filter(user=reviewer).exists()


def test_the_audit_pages_list_the_devices_of_the_staff_users_sites_only(
    api: Api, other_api: Api
) -> None:
    for each, name in ((api, "kiosk-near"), (other_api, "kiosk-far")):
        device = Device.objects.get(uid=each.device_id)
        Device.objects.filter(pk=device.pk).update(name=name)
        AuditChainState.objects.create(device=device, entries=3)
    _, auditor = _staff(["view_auditchainstate"], api.site)
    page = _text(auditor.get("/admin/hub/auditchainstate/"))
    assert "kiosk-near" in page and "kiosk-far" not in page


def test_the_sites_page_lists_only_the_staff_users_sites(
    operator: Client, api: Api, other_api: Api
) -> None:
    """It listed every site of the hub (each organisation's site names) to any staff user
    who may view sites."""
    _, clerk = _staff(["view_site", "change_site"], api.site)
    page = _text(clerk.get("/admin/hub/site/"))
    assert api.site in page and other_api.site not in page
    far = Site.objects.get(slug=other_api.site)
    assert clerk.get(f"/admin/hub/site/{far.pk}/change/").status_code != 200
    clerk.post(f"/admin/hub/site/{far.pk}/change/", {"name": "taken over"})
    assert Site.objects.get(pk=far.pk).name != "taken over"
    for slug in (api.site, other_api.site):  # a superuser: every site (searched: pages)
        assert slug in _text(operator.get("/admin/hub/site/", {"q": slug}))


def test_a_site_a_staff_user_adds_is_one_they_work_for(site_slug: str) -> None:
    """Else it vanished from their Sites page as soon as they had saved it."""
    founder, client = _staff(["view_site", "add_site"])
    added = client.post("/admin/hub/site/add/", {"slug": site_slug, "name": "New harbour"})
    assert added.status_code == 302, _text(added)[-1500:]
    assert SiteMembership.objects.filter(user=founder, site__slug=site_slug).exists()
    assert site_slug in _text(client.get("/admin/hub/site/"))


def test_adding_a_site_does_not_confirm_another_organisations_slug(
    operator: Client, other_api: Api
) -> None:
    """It answered "Site with this Slug already exists." to a staff user of another
    organisation. Slugs are hub-wide (devices carry them), so the slug is refused, but as
    not available, without saying that a site has it."""
    _, founder = _staff(["view_site", "add_site"])
    answer = founder.post("/admin/hub/site/add/", {"slug": other_api.site, "name": "Mine"})
    assert answer.status_code == 200  # the form again
    said = _text(answer)
    assert "not available" in said and "exists" not in said
    assert Site.objects.filter(slug=other_api.site).count() == 1
    taken = operator.post("/admin/hub/site/add/", {"slug": other_api.site, "name": "Dup"})
    assert "already exists" in _text(taken)  # a superuser sees every site anyway


def test_renaming_a_legacy_slug_to_a_taken_one_says_so_and_stays_editable(
    other_api: Api,
) -> None:
    """The form sent again decided the slug was read-only from the instance the failed form
    had changed: it showed the refused slug as the site's, and its refusal nowhere."""
    legacy = Site.objects.create(slug=f"Legacy_{uuid.uuid4().hex[:6]}", name="old")
    manager, client = _staff(["view_site", "change_site"])
    SiteMembership.objects.create(user=manager, site=legacy)
    answer = client.post(f"/admin/hub/site/{legacy.pk}/change/",
                         {"slug": other_api.site, "name": "old"})  # fmt: skip
    assert answer.status_code == 200  # the form again
    said = _text(answer)
    assert "not available" in said and "exists" not in said
    assert f'name="slug" value="{other_api.site}"' in said  # still theirs to change
    assert f'<div class="readonly">{other_api.site}</div>' not in said
    assert Site.objects.get(pk=legacy.pk).slug == legacy.slug


@pytest.mark.parametrize("slug", ["Bad Site", "-x", "Upper", "_x"])
def test_a_site_slug_devices_cannot_carry_is_refused_by_the_form(
    operator: Client, slug: str
) -> None:
    """Its devices could never register: the protocol refuses the slug."""
    answer = operator.post("/admin/hub/site/add/", {"slug": slug, "name": "Harbour"})
    assert answer.status_code == 200  # the form again, with the error
    said = _text(answer)
    assert "errorlist" in said and ("lower-case letters" in said or "valid “slug”" in said)
    assert not Site.objects.filter(slug=slug).exists()


def test_the_membership_form_offers_a_manager_their_sites_staff_and_staff_of_no_site(
    operator: Client, api: Api, other_api: Api
) -> None:
    """It listed every user of the hub: other organisations' staff, superusers, non-staff.
    A manager links their sites' staff (to another of their sites) and new staff accounts
    linked to no site yet; anyone else takes a superuser."""
    colleague, _ = _staff(REVIEWER, api.site)
    newcomer, _ = _staff(REVIEWER)
    stranger, _ = _staff(REVIEWER, other_api.site)
    boss = User.objects.create_superuser(f"boss-{uuid.uuid4().hex[:8]}")
    outsider = User.objects.create_user(f"outsider-{uuid.uuid4().hex[:8]}")
    _, manager = _staff(MANAGER, api.site)
    form = _text(manager.get("/admin/hub/sitemembership/add/"))
    assert colleague.username in form and newcomer.username in form
    for hidden in (stranger, boss, outsider):
        assert hidden.username not in form, hidden
    near = Site.objects.get(slug=api.site)
    refused = manager.post("/admin/hub/sitemembership/add/", {"user": stranger.pk,
                           "site": near.pk})  # fmt: skip
    assert refused.status_code == 200
    assert not SiteMembership.objects.filter(user=stranger, site=near).exists()
    assert other_api.site not in _text(manager.get("/admin/hub/sitemembership/"))  # filter
    everyone = _text(operator.get("/admin/hub/sitemembership/add/"))
    assert stranger.username in everyone and colleague.username in everyone
