"""The hub's users page: Django's own, scoped for a manager who is not a superuser.

Django's stock page lists every user of the hub to anyone holding a user permission, and
lets whoever may change users tick "superuser" on their own account: one POST, and the
site scoping (``staff``) is gone. Here a user manager who is not a superuser (anyone holding
``auth.view_user``, ``add_user``, ``change_user`` or ``delete_user``) works on:

- the users ``staff.linkable_by`` them (their sites' staff, and staff linked to no site yet,
  a new account) and their own account; never another organisation's staff, a superuser, or
  a user who is not staff;
- what a site manager needs: add a staff account (it is made staff, for the admin, with no
  permission and no site: link it to a site in Site memberships), set or reset a password,
  edit the name and e-mail, deactivate or reactivate an account (``is_active``), delete one;
- never the superuser, staff, permission or group fields (read-only: what a user may do is
  a superuser's to grant), nor their own account's active flag;
- never a user who holds a permission the manager lacks, active or not (view-only:
  resetting that user's password, reactivating them and signing in as them would hand the
  manager those permissions), nor one who also works for a site the manager does not
  (view-only: shared staff; what they do for another organisation is not the manager's to
  change, nor their password to take).

Superusers see and change every user, as on Django's page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from sync.hub.admin.staff import linkable_by, sees_every_site, sites_of, stored_permissions
from sync.hub.models import SiteMembership

User = get_user_model()
# What only a superuser grants: who is a superuser or staff, and with which permissions.
GRANTS = ("is_superuser", "is_staff", "groups", "user_permissions")


def may_manage(manager: Any, user: Any) -> bool:
    """Whether a non-superuser ``manager`` may change or delete ``user`` (one of their
    page's): never a superuser, anyone holding a permission the manager lacks (as stored:
    Django counts none for an inactive account, which the manager could reactivate), nor
    anyone who also works for a site the manager does not."""
    if user.is_superuser:
        return False
    if user.pk == manager.pk:
        return True
    if not stored_permissions(user) <= stored_permissions(manager):
        return False
    elsewhere = SiteMembership.objects.filter(user=user).exclude(site__in=sites_of(manager))
    return not elsewhere.exists()


class HubUserAdmin(UserAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        users: QuerySet[Any] = super().get_queryset(request)
        manager = request.user
        if sees_every_site(manager):
            return users
        return users.filter(Q(pk__in=linkable_by(manager).values("pk")) | Q(pk=manager.pk))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if sees_every_site(request.user) or obj is None:
            return fields
        own = ("is_active",) if obj.pk == request.user.pk else ()
        return (*fields, *GRANTS, *own)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return bool(super().has_change_permission(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return bool(super().has_delete_permission(request, obj))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not sees_every_site(request.user):
            obj.is_staff = True  # an account for the admin, else it leaves their page
        super().save_model(request, obj, form, change)

    @staticmethod
    def _may_manage(request: HttpRequest, user: Any) -> bool:
        return sees_every_site(request.user) or may_manage(request.user, user)


admin.site.unregister(User)  # Django's page, registered when its module was imported
admin.site.register(User, HubUserAdmin)
