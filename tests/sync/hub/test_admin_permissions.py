"""What each admin permission gives: a device's code takes the change permission, central
search its own (``hub.grant_central_search``), and the species packs' list a permission of
its own model."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sync.hub import auth
from sync.hub.models import Device, Site, SiteMembership
from tests.sync.hub.hubkit import Api, one_shot_token

pytestmark = pytest.mark.usefixtures("species_packs_removed")

CODE = re.compile(r"One-time code for .*?: ([0-9A-Z-]{17})")


def _staff(*codenames: str, site: Site | None = None) -> Client:
    """A staff user holding ``codenames``, working for ``site`` (``SiteMembership``)."""
    user = User.objects.create_user(f"staff-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    if site is not None:
        SiteMembership.objects.create(user=user, site=site)
    assert user.user_permissions.count() == len(codenames), "a permission does not exist"
    client = Client()
    client.force_login(user)
    return client


def _add(client: Client, site: Site, name: str, **fields: str) -> tuple[Device, str]:
    """Add a device through the admin; the device and the page the add leads to."""
    url = "/admin/hub/device/add/"
    form = {
        "site": site.pk,
        "name": name,
        "_once": one_shot_token(client.get(url).content.decode()),
    }
    page = client.post(url, {**form, **fields}, follow=True)
    assert page.status_code == 200
    return Device.objects.get(site=site, name=name), re.sub(r"\s+", " ", page.content.decode())


def test_the_add_permission_alone_adds_a_device_without_a_code(site_slug: str) -> None:
    """Adding a device issued its one-time code (a token for the site's people and
    templates) though issuing codes takes the change permission."""
    site = Site.objects.create(slug=site_slug)
    device, page = _add(_staff("add_device", site=site), site, "kiosk-added")
    assert not CODE.search(page)
    assert device.code_hash is None and device.token_hash is None
    assert "change permission" in page  # says why there is no code, and who can issue one


def test_an_add_without_a_code_sent_again_does_not_speak_of_a_code(site_slug: str) -> None:
    """The refusal of a form sent again said "a one-time code is shown once, on that answer,
    and still works" after an add that showed none (the add permission alone): the admin
    went looking for a code that never was."""
    site = Site.objects.create(slug=site_slug)
    adder = _staff("add_device", "view_device", site=site)
    url = "/admin/hub/device/add/"
    token = one_shot_token(adder.get(url).content.decode())
    first = adder.post(url, {"site": site.pk, "name": "kiosk-a", "_once": token}, follow=True)
    assert not CODE.search(first.content.decode())
    again = adder.post(url, {"site": site.pk, "name": "kiosk-b", "_once": token}, follow=True)
    said = html.unescape(re.sub(r"\s+", " ", again.content.decode()))
    assert "already sent" in said and "added the device kiosk-a" in said
    assert "still works" not in said and "showed no one-time code" in said
    assert not Device.objects.filter(site=site, name="kiosk-b").exists()  # other tests add theirs


def test_adding_a_device_with_the_change_permission_shows_its_code(site_slug: str) -> None:
    site = Site.objects.create(slug=site_slug)
    _, page = _add(
        _staff("add_device", "change_device", "view_device", site=site), site, "kiosk-code"
    )
    code = CODE.search(page)
    assert code, page
    assert auth.register(code.group(1))[0].site_id == site.pk


@pytest.mark.parametrize(
    ("codenames", "granted"),
    [
        (("add_device",), False),
        (("add_device", "change_device"), False),
        (("add_device", "change_device", "grant_central_search"), True),
    ],
)
def test_central_search_is_granted_only_with_its_own_permission(
    site_slug: str, codenames: tuple[str, ...], granted: bool
) -> None:
    """The add form set ``may_search_all_sites`` (1:N search of every site's faces) for
    anyone who may add a device."""
    site = Site.objects.create(slug=site_slug)
    device, _ = _add(
        _staff(*codenames, site=site), site, "kiosk-central", may_search_all_sites="on"
    )
    assert device.may_search_all_sites is granted


def test_editing_a_device_grants_central_search_only_with_its_own_permission(
    api: Api,
) -> None:
    device = Device.objects.get(uid=api.device_id)
    edit = {"name": device.name, "may_search_all_sites": "on"}
    for codenames, granted in (
        (("change_device",), False),
        (("change_device", "grant_central_search"), True),
    ):
        staff = _staff(*codenames, site=device.site)
        answer = staff.post(f"/admin/hub/device/{device.pk}/change/", edit)
        assert answer.status_code == 302
        device.refresh_from_db()
        assert device.may_search_all_sites is granted, codenames


@pytest.mark.parametrize(
    ("codenames", "listed"),
    [
        (("view_accessevent",), False),
        (("add_speciespack",), False),
        (("view_speciespack",), True),
        (("change_speciespack",), True),
    ],
)
def test_the_species_packs_list_takes_a_species_pack_permission(
    codenames: tuple[str, ...], listed: bool
) -> None:
    """Any staff user with any hub permission was shown the list."""
    answer: Any = _staff(*codenames).get("/admin/hub/speciespack/")
    assert (answer.status_code == 200) is listed, answer.status_code
