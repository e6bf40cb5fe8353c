"""Which sites a staff user works for, and the admin pages scoped to them.

A staff user sees a per-site page's records (the fish review queue and its photos, people,
access events, devices, the devices' audit) only for the sites they are linked to (Site
memberships); superusers see every site. A staff user linked to no site sees none: the safe
default, since a hub serves sites of several organisations, and a permission on a page says
what a user may do there, not for whom. Such a page then says why it is empty.

The Sites page, too, lists a staff user's own sites only; a site they add is linked to them
(else it would vanish from their page as they saved it).

Site memberships are managed by whoever may change users or holds the membership
permissions; a reviewer cannot link themselves to a site. A manager who is not a superuser
manages the links of the sites they work for only (they list, add and change those alone),
and never their own: a hub serves several organisations, so delegating one site's staff must
not hand over every site, nor let the manager take a site they do not work for. The users
such a manager may link (``linkable_by``) are the staff of their sites (to add them to
another of their sites) and active staff linked to no site yet (a new account, waiting for
its first site); never another organisation's staff, a leaver (inactive, linked to no
site), a superuser (who sees every site anyway), nor a user who is not staff. Superusers
link anyone, themselves included, to any site.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from sync.hub.admin import confirm
from sync.hub.models import Site, SiteMembership

M = TypeVar("M", bound=Model)

NO_SITE = (
    "Your account is linked to no site, so no site's records are listed here: ask whoever "
    "manages the hub's users to add a Site membership for each site you work for."
)


def sees_every_site(user: Any) -> bool:
    return bool(user.is_superuser)


def sites_of(user: Any) -> QuerySet[Site]:
    """The sites ``user`` is linked to (every site for a superuser)."""
    if sees_every_site(user):
        return Site.objects.all()
    return Site.objects.filter(memberships__user=user)


def scoped(queryset: QuerySet[M], user: Any, site_field: str = "site") -> QuerySet[M]:
    """``queryset``'s records of the sites ``user`` works for."""
    if sees_every_site(user):
        return queryset
    return queryset.filter(**{f"{site_field}__in": sites_of(user)})


def stored_permissions(user: Any) -> set[str]:
    """The permissions ``user`` holds, given to them or through a group, as stored
    ("app_label.codename"): for an inactive account too, which Django's ``ModelBackend``
    answers with none (reactivated, it holds them all again)."""
    held = Permission.objects.filter(Q(user=user) | Q(group__user=user))
    return {f"{app}.{codename}" for app, codename in
            held.values_list("content_type__app_label", "codename").distinct()}  # fmt: skip


def linkable_by(manager: Any) -> QuerySet[Any]:
    """The users a manager who is not a superuser may link to their sites: staff of those
    sites and active staff of no site, never the manager or a superuser. An inactive account
    of no site is a leaver off-boarded (unlinked, deactivated), maybe another
    organisation's: no one's new account to claim (a superuser links it again)."""
    of_their_sites = SiteMembership.objects.filter(site__in=sites_of(manager)).values("user")
    of_any_site = SiteMembership.objects.values("user")
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_superuser=False)
        .filter(Q(pk__in=of_their_sites) | (~Q(pk__in=of_any_site) & Q(is_active=True)))
        .exclude(pk=manager.pk)
    )


class SiteScopedAdmin(admin.ModelAdmin):
    """A page of per-site records: lists (and opens, and acts on) only the user's sites'
    records, and offers only their sites when a record names one."""

    site_field = "site"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(super().get_queryset(request), request.user, self.site_field)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "site":
            kwargs["queryset"] = sites_of(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user = request.user
        confirm.unpack_selected(request)  # a confirmation page's POST: its records, by id
        if request.method == "GET" and not sees_every_site(user) and not sites_of(user).exists():
            messages.info(request, NO_SITE)
        response: HttpResponse = super().changelist_view(request, extra_context)
        return response


def _manages_users(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("auth.change_user"))


@admin.register(SiteMembership)
class SiteMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "site", "created_at")
    list_filter = (("site", admin.RelatedOnlyFieldListFilter),)  # the listed links' sites
    search_fields = ("user__username", "site__slug")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Only the manager's sites and ``linkable_by`` them (a superuser: anyone, any site)."""
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if sees_every_site(request.user):
            return field
        if db_field.name == "site":
            field.queryset = sites_of(request.user)
        elif db_field.name == "user":
            field.queryset = linkable_by(request.user)
        return field

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return super().has_change_permission(request, obj) or _manages_users(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not self._may_manage(request, obj):
            return False
        return super().has_delete_permission(request, obj) or _manages_users(request)

    @staticmethod
    def _may_manage(request: HttpRequest, membership: SiteMembership) -> bool:
        """A manager's own link is theirs to see, not to change or drop (superusers may)."""
        return sees_every_site(request.user) or membership.user_id != request.user.pk

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or _manages_users(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or _manages_users(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) or _manages_users(request)
