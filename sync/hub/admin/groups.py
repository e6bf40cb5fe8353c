"""The hub's groups page: Django's own, scoped for a manager who is not a superuser.

Django's stock page lets anyone holding ``auth.change_group`` tick every permission on a group
they belong to: one POST, and they hold them all (and every site's records, for a permission
of a page that is not scoped). Here, by the rules of the users page (``users``), a manager who
is not a superuser:

- offers and accepts only the permissions they hold themselves, on a group they add or change:
  a manager never grants a permission they lack;
- lists only the groups whose members are all on their users page (their own account, their
  sites' staff, new accounts), empty groups among them: another organisation's groups, and
  what they grant, are not theirs to see. Group names are still unique across the hub, so
  adding a group under a name another organisation's group has is refused;
- changes or deletes only a group that holds no permission they lack, and whose members are
  all users they may manage (``users.may_manage``): a member who holds a permission they
  lack, or who also works for a site they do not (shared staff), keeps the permissions the
  group gives them. Such a group is view-only.

Who belongs to a group is set on the users page, where only a superuser grants groups.
Superusers change every group, as on Django's page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from sync.hub.admin.staff import linkable_by, sees_every_site
from sync.hub.admin.users import may_manage


def permissions_of(manager: Any) -> QuerySet[Permission]:
    """The permissions ``manager`` holds, given to them or through a group (as Django's
    ``ModelBackend`` reads them: none for an inactive account)."""
    if not manager.is_active:
        return Permission.objects.none()
    return Permission.objects.filter(Q(user=manager) | Q(group__user=manager)).distinct()


def may_manage_group(manager: Any, group: Group) -> bool:
    """Whether a non-superuser ``manager`` may change or delete ``group``: it holds no
    permission they lack, and they may manage each of its members."""
    if group.permissions.exclude(pk__in=permissions_of(manager).values("pk")).exists():
        return False
    members = group.user_set.all()
    theirs = Q(pk__in=linkable_by(manager).values("pk")) | Q(pk=manager.pk)
    if members.exclude(theirs).exists():
        return False
    return all(may_manage(manager, member) for member in members)


def listed_for(manager: Any, groups: QuerySet[Group]) -> QuerySet[Group]:
    """``groups`` whose members are all on ``manager``'s users page (empty groups too)."""
    theirs = Q(pk__in=linkable_by(manager).values("pk")) | Q(pk=manager.pk)
    others = get_user_model().objects.exclude(theirs)
    return groups.exclude(user__in=others)


class HubGroupAdmin(GroupAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        groups: QuerySet[Any] = super().get_queryset(request)
        if sees_every_site(request.user):
            return groups
        return listed_for(request.user, groups)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permissions" and not sees_every_site(request.user):
            kwargs["queryset"] = permissions_of(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return bool(super().has_change_permission(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return bool(super().has_delete_permission(request, obj))

    @staticmethod
    def _may_manage(request: HttpRequest, group: Group) -> bool:
        return sees_every_site(request.user) or may_manage_group(request.user, group)


admin.site.unregister(Group)  # Django's page, registered when its module was imported
admin.site.register(Group, HubGroupAdmin)
