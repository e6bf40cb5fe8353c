"""The users page: a user manager who is not a superuser works on the users of their sites
and their own account, and never grants themselves or anyone a superuser's powers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from sync.hub.models import Site, SiteMembership
from tests.sync.hub.hubkit import Api

MANAGER = ["view_user", "add_user", "change_user"]
NEW_PASSWORD = {"password1": "Net-Mender-88q!", "password2": "Net-Mender-88q!"}


def _staff(codenames: list[str], *sites: str, active: bool = True) -> tuple[User, Client]:
    user = User.objects.create_user(
        f"staff-{uuid.uuid4().hex[:8]}", is_staff=True, is_active=active
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    for slug in sites:
        SiteMembership.objects.create(user=user, site=Site.objects.get(slug=slug))
    client = Client()
    client.force_login(user)
    return user, client


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def _change(user: User, **fields: Any) -> dict[str, Any]:
    """The change form's fields for ``user``, as a browser sends them, with ``fields``."""
    base = {"username": user.username, "is_active": "on", "is_staff": "on",
            "date_joined_0": "2026-11-30", "date_joined_1": "08:00:00"}  # fmt: skip
    return base | fields


def test_a_user_manager_cannot_make_themselves_superuser_or_see_other_sites_users(
    api: Api, other_api: Api
) -> None:
    """Django's stock page listed every user to them, and one POST with is_superuser made
    them a superuser: every site's people, faces and catches."""
    stranger, _ = _staff(["view_fishreview"], other_api.site)
    boss = User.objects.create_superuser(f"boss-{uuid.uuid4().hex[:8]}")
    manager, client = _staff(["change_user"], api.site)
    users = _text(client.get("/admin/auth/user/"))
    assert manager.username in users
    assert stranger.username not in users and boss.username not in users
    for other in (stranger, boss):
        assert client.get(f"/admin/auth/user/{other.pk}/change/").status_code != 200
    everything = Permission.objects.values_list("pk", flat=True)
    client.post(f"/admin/auth/user/{manager.pk}/change/",
                _change(manager, is_superuser="on", user_permissions=list(everything)))  # fmt: skip
    manager.refresh_from_db()
    assert not manager.is_superuser
    assert set(manager.user_permissions.values_list("codename", flat=True)) == {"change_user"}
    assert other_api.site not in _text(client.get("/admin/hub/site/", {"q": other_api.site}))


def test_a_user_manager_adds_resets_and_deactivates_their_sites_staff(api: Api) -> None:
    colleague, _ = _staff(["view_fishreview"], api.site)
    senior, _ = _staff(["view_fishreview", "delete_user"], api.site)  # more than the manager
    _, client = _staff([*MANAGER, "view_fishreview"], api.site)
    name = f"new-{uuid.uuid4().hex[:8]}"
    added = client.post("/admin/auth/user/add/",
                        {"username": name, "usable_password": "true", **NEW_PASSWORD})  # fmt: skip
    assert added.status_code == 302, _text(added)[-1500:]
    newcomer = User.objects.get(username=name)
    assert newcomer.is_staff and not newcomer.is_superuser  # an admin account, no site yet
    assert name in _text(client.get("/admin/auth/user/"))
    reset = client.post(f"/admin/auth/user/{colleague.pk}/password/", NEW_PASSWORD)
    assert reset.status_code == 302, _text(reset)[-1500:]
    colleague.refresh_from_db()
    assert colleague.check_password("Net-Mender-88q!")
    client.post(f"/admin/auth/user/{colleague.pk}/change/",
                _change(colleague, is_active="", is_superuser="on"))  # fmt: skip
    colleague.refresh_from_db()
    assert not colleague.is_active and not colleague.is_superuser
    # A colleague holding a permission the manager lacks is theirs to see, not to take over.
    refused = client.post(f"/admin/auth/user/{senior.pk}/password/", NEW_PASSWORD)
    assert refused.status_code == 403
    senior.refresh_from_db()
    assert not senior.check_password("Net-Mender-88q!")


@pytest.mark.parametrize("linked", ["their-site", "no-site"])
def test_a_deactivated_account_holding_more_than_the_manager_is_not_taken_over(
    api: Api, linked: str
) -> None:
    """Django answers an inactive account's permissions with none: a deactivated senior (or
    another organisation's leaver, unlinked and deactivated) was the manager's to reset,
    reactivate and sign in as, with the permissions the manager lacks."""
    sites = [api.site] if linked == "their-site" else []
    senior, _ = _staff(["view_fishreview", "delete_user"], *sites, active=False)
    _, client = _staff([*MANAGER, "view_fishreview"], api.site)
    refused = client.post(f"/admin/auth/user/{senior.pk}/password/", NEW_PASSWORD)
    assert refused.status_code in (403, 404)  # view-only, or not theirs at all
    client.post(f"/admin/auth/user/{senior.pk}/change/", _change(senior))
    senior.refresh_from_db()
    assert not senior.is_active and not senior.check_password("Net-Mender-88q!")


def test_a_user_who_also_works_for_another_organisations_site_is_view_only(
    api: Api, other_api: Api
) -> None:
    """Shared staff (linked to the manager's site and another): resetting their password, or
    emptying their group, changed what they do on the other organisation's site."""
    shared, _ = _staff(["view_fishreview"], api.site, other_api.site)
    group = _group("view_fishreview")
    shared.groups.add(group)
    _, client = _staff([*MANAGER, "view_group", "change_group", "view_fishreview"], api.site)
    assert shared.username in _text(client.get("/admin/auth/user/"))  # theirs to see
    refused = client.post(f"/admin/auth/user/{shared.pk}/password/", NEW_PASSWORD)
    assert refused.status_code == 403
    assert client.get(f"/admin/auth/group/{group.pk}/change/").status_code == 200  # view
    emptied = client.post(f"/admin/auth/group/{group.pk}/change/", {"name": group.name})
    assert emptied.status_code == 403
    assert User.objects.get(pk=shared.pk).has_perm("hub.view_fishreview")


def test_the_groups_page_lists_only_groups_of_the_managers_users(api: Api, other_api: Api) -> None:
    """It listed (and opened, with their permissions) another organisation's groups, whose
    staff the users page hides."""
    stranger, _ = _staff([], other_api.site)
    theirs = _group("delete_person")
    stranger.groups.add(theirs)
    colleague, _ = _staff([], api.site)
    ours, empty = _group(), _group()
    colleague.groups.add(ours)
    _, client = _staff(["view_group", "change_group"], api.site)
    listed = _text(client.get("/admin/auth/group/"))
    assert theirs.name not in listed
    assert ours.name in listed and empty.name in listed
    assert client.get(f"/admin/auth/group/{theirs.pk}/change/").status_code != 200


def test_a_superuser_still_sees_and_changes_every_user(
    operator: Client, api: Api, other_api: Api
) -> None:
    stranger, _ = _staff(["view_fishreview"], other_api.site)
    assert stranger.username in _text(operator.get("/admin/auth/user/", {"q": stranger.username}))
    operator.post(f"/admin/auth/user/{stranger.pk}/change/", _change(stranger, is_superuser="on"))
    stranger.refresh_from_db()
    assert stranger.is_superuser
    stranger.delete()  # no superuser left behind for other tests' lists


def _group(*codenames: str) -> Group:
    group = Group.objects.create(name=f"crew-{uuid.uuid4().hex[:8]}")
    group.permissions.set(Permission.objects.filter(codename__in=codenames))
    return group


def _codenames(group: Group) -> set[str]:
    return set(group.permissions.values_list("codename", flat=True))


def test_a_group_manager_never_grants_a_permission_they_lack(api: Api, other_api: Api) -> None:
    """Django's Groups page let a holder of change_group tick every permission on their own
    group: one POST, and they held them all."""
    manager, client = _staff(["view_group", "add_group", "change_group"], api.site)
    own = _group()
    manager.groups.add(own)
    everything = list(Permission.objects.values_list("pk", flat=True))
    client.post(f"/admin/auth/group/{own.pk}/change/", {"name": own.name,
                "permissions": everything})  # fmt: skip
    assert _codenames(own) == set()
    assert not manager.has_perm("auth.delete_user")
    name = f"crew-{uuid.uuid4().hex[:8]}"
    refused = client.post("/admin/auth/group/add/", {"name": name, "permissions": everything})
    assert refused.status_code == 200 and not Group.objects.filter(name=name).exists()
    held = Permission.objects.get(codename="view_group").pk
    added = client.post("/admin/auth/group/add/", {"name": name, "permissions": [held]})
    assert added.status_code == 302, _text(added)[-1500:]
    assert _codenames(Group.objects.get(name=name)) == {"view_group"}
    # A group holding more than they do: view-only; another organisation's staff's: not theirs.
    senior = _group("delete_user")
    answer = client.post(f"/admin/auth/group/{senior.pk}/change/", {"name": "renamed"})
    assert answer.status_code == 403
    assert client.get(f"/admin/auth/group/{senior.pk}/change/").status_code == 200  # view
    stranger, _ = _staff([], other_api.site)
    theirs = _group("view_group")
    stranger.groups.add(theirs)
    client.post(f"/admin/auth/group/{theirs.pk}/change/", {"name": "renamed"})
    assert client.get(f"/admin/auth/group/{theirs.pk}/change/").status_code != 200
    assert _codenames(senior) == {"delete_user"} and _codenames(theirs) == {"view_group"}
    assert Group.objects.get(pk=theirs.pk).name == theirs.name


def test_a_superuser_still_grants_any_permission_to_any_group(operator: Client) -> None:
    group = _group()
    everything = list(Permission.objects.values_list("pk", flat=True))
    operator.post(f"/admin/auth/group/{group.pk}/change/", {"name": group.name,
                  "permissions": everything})  # fmt: skip
    assert group.permissions.count() == len(everything)
    group.delete()  # no group holding everything left behind
