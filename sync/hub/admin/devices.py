"""Sites and devices: create a device and read its one-time code, re-issue, revoke.

A site added here is told of the newest species pack, as one ``create-device`` makes is.

A one-time code is shown once, on the page that answers the add or the "Issue a new one-time
code" action (never cached: ``Cache-Control: no-store``), and kept nowhere else: not in the
admin's messages, which wait in the session (a ``django_session`` row, in every database
backup) until the next page shows them. The hub keeps only the code's hash; a code lost is
replaced by issuing a new one. Reloading that page sends the form again, which does nothing
again: the add form and the action carry a one-shot token (``once``), spent in the database
in the work's transaction, so the reload (or a double-click) adds no second device and voids
no code just shown. A form sent again, or without a token, does nothing and answers with a
fresh form (the add form, or the list) and a note saying why: when the form was sent first and
what it did (the devices' names). Both actions ask first, on a page naming the devices
(``confirm``), as a device given a new code or revoked by a slip stops until a new code is
entered on it; the code's page carries the one-shot token. "Revoke" spends no token: it is
idempotent, and urgent.
The action issues its codes in one transaction: an error midway voids no device's token
(they are all as before, and no code is shown).

Issuing a code and revoking take the change permission (view-only staff see the list
only); the add permission alone adds a device without a code, for someone with the change
permission to issue one. Letting a device search every site's faces (``may_search_all_sites``)
takes its own permission, ``hub.grant_central_search``: without it the box is read-only, on
the add form too. No code is issued while the device's audit chain has an open break: a code starts
the chain anew, so the break is acknowledged first (Audit breaks: its own permission, a
note); nor while it has an open pruned record, which would refuse the next store's chain
(``sync.hub.audit_breaks.start_anew``); the message names the record.

Saving an edit writes only the fields the operator changed. The admin reads the row, then
saves it after the operator's request has run: writing the whole row back would undo what
committed in between (a push moving the site's change cursor, which then clashes with every
later push; another operator's revocation). A site's slug and a device's site are fixed once
they exist: the devices, their tokens and their queued records name them. The one exception:
a slug the protocol refuses (stored before migration 0020 checked slugs) can be renamed, as
no device of that site could ever register (``jaga hub manage check`` lists such sites).

Slugs are unique across the hub (devices carry them), so a slug another site holds is refused
to everyone. To a staff user who is not a superuser, the refusal says the slug is not
available, not that a site has it: the hub serves several organisations, and Django's "Site
with this Slug already exists" confirmed another organisation's site. The refusal itself
still tells that the slug is not free (no hub-wide name can avoid that), never whose it is or
its site's name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from sync import plural
from sync.hub import auth
from sync.hub.admin import confirm, once
from sync.hub.admin.staff import SiteScopedAdmin, sees_every_site, sites_of
from sync.hub.checks import carries_slug
from sync.hub.erasure_replay import apply_siteless_erasures
from sync.hub.errors import OpenAuditBreakError
from sync.hub.models import Device, Site, SiteMembership
from sync.hub.review import announce_latest_species_pack


class ChangedFieldsOnly(admin.ModelAdmin):
    """An edit saves the changed fields only; ``fixed_once_created`` are read-only on edits."""

    fixed_once_created: tuple[str, ...] = ()

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        fixed = self.fixed_once_created if obj is not None else ()
        return (*super().get_readonly_fields(request, obj), *fixed)

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=list(form.changed_data))
        else:
            super().save_model(request, obj, form, change)


SLUG_NOT_AVAILABLE = "This slug is not available for a site: choose another."


@admin.register(Site)
class SiteAdmin(ChangedFieldsOnly):
    """Every site to a superuser; to other staff, the sites they work for (``staff``)."""

    list_display = ("slug", "name", "last_cursor", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("last_cursor",)
    fixed_once_created = ("slug",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return sites_of(request.user) & super().get_queryset(request)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        """The slug stays editable while the one stored is one the protocol refuses (stored
        before migration 0020): no device of the site could register, so none carries it.
        The stored one, not ``obj``'s: a form refused (a taken slug) has already changed
        ``obj``, and would show the refused slug read-only, as the site's, without its error."""
        fields = super().get_readonly_fields(request, obj)
        if obj is None or carries_slug(Site.objects.get(pk=obj.pk).slug):
            return fields
        return tuple(field for field in fields if field != "slug")

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """A slug another site holds is "not available" to staff who do not see every site
        (Django's "already exists" confirmed another organisation's site)."""
        if not sees_every_site(request.user):
            kwargs["error_messages"] = {"slug": {"unique": SLUG_NOT_AVAILABLE}}
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: Any, obj: Site, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            return
        announce_latest_species_pack(obj)  # as `create-device` does: its log starts empty
        apply_siteless_erasures(obj)  # its people a restore lost, erased since
        if not sees_every_site(request.user):  # else it would vanish from their list
            SiteMembership.objects.create(user=request.user, site=obj)


@admin.register(Device)
class DeviceAdmin(SiteScopedAdmin, ChangedFieldsOnly):
    list_display = ("name", "site", "registered_at", "revoked_at", "last_seen_at", "uid")
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "revoked_at")
    search_fields = ("name", "uid")
    readonly_fields = (
        "uid",
        "registered_at",
        "revoked_at",
        "revoked_reason",
        "last_seen_at",
        "last_sequence",
    )
    fixed_once_created = ("site",)
    actions = ("issue_code", "revoke")

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        fields = super().get_readonly_fields(request, obj)
        if request.user.has_perm("hub.grant_central_search"):
            return fields
        return (*fields, "may_search_all_sites")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A form sent again (a reload of the answer showing the code, a double-click, a page
        the back button restored) or without a token adds nothing (``save_model`` spends its
        token): the answer is a fresh add form, with a note saying why (``once``)."""
        context = {**(extra_context or {}), "once": once.new_token()}
        try:
            response: HttpResponse = super().add_view(request, form_url, context)
        except once.RefusedError as refused:  # the add's transaction rolled back
            messages.warning(request, str(refused))
            return HttpResponseRedirect(request.get_full_path())
        return response

    def save_model(self, request: Any, obj: Device, form: Any, change: bool) -> None:
        """An add spends the form's token first, in the add's transaction (``once``)."""
        spent = once.spend(request) if not change else None
        super().save_model(request, obj, form, change)
        if spent is not None:
            shows = self.has_change_permission(request, obj)  # response_add shows its code
            once.record(spent, f"added the device {obj}", showed_code=shows)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The actions' form carries a one-shot token (``issue_code``)."""
        context = {**(extra_context or {}), "once": once.new_token()}
        return super().changelist_view(request, context)

    def response_add(
        self, request: HttpRequest, obj: Device, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new device's code on this answer (still in the add's transaction)."""
        if self.has_change_permission(request, obj):
            return self._codes_page(request, [auth.issue_code(obj)])
        messages.info(
            request,
            f"Added {obj} without a one-time code: issuing one takes the change"
            ' permission (the action "Issue a new one-time code").',
        )
        response: HttpResponse = super().response_add(request, obj, post_url_continue)
        return response

    @admin.action(
        description="Issue a new one-time code (the current token stops working)",
        permissions=("change",),
    )
    def issue_code(self, request: Any, queryset: QuerySet[Device]) -> HttpResponse | None:
        """Asks first (``confirm``), its page carrying a fresh one-shot token: a code issued
        by a slip stops a working device until the new code is entered on it. Then one
        transaction for all the selected devices: an error midway (other than an open
        audit break, which skips that device) voids no token whose code goes unshown. The
        form sent again (a reload of the codes' page, a double-click) issues nothing: its
        token is spent first, in the same transaction (``once``); sent again, or without a
        token, it issues nothing and answers with the list (a fresh token) and a note."""
        if not confirm.confirmed(request):
            devices = list(queryset.select_related("site"))
            return confirm.page(
                self, request, devices, _issue_question(devices), {once.FIELD: once.new_token()}
            )
        issued = []
        with transaction.atomic():
            try:
                spent = once.spend(request)
            except once.RefusedError as refused:
                messages.warning(request, str(refused))
                return None
            for device in queryset:
                try:
                    issued.append(auth.issue_code(device, by=str(request.user)))
                except OpenAuditBreakError as error:
                    messages.error(request, f"No code for {device}: {error}")
            names = once.named([str(each.device) for each in issued])
            once.record(
                spent,
                f"issued a new one-time code for {names}" if len(issued) == 1
                else f"issued new one-time codes for {names}" if issued
                else "issued no code",
                showed_code=bool(issued),
            )  # fmt: skip
        return self._codes_page(request, issued) if issued else None

    def _codes_page(self, request: HttpRequest, issued: list[auth.IssuedCode]) -> HttpResponse:
        """The page that shows ``issued`` once: rendered in this answer, never stored."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "One-time codes",
            "issued": issued,
        }
        response = TemplateResponse(request, "admin/hub/device/one_time_codes.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(
        description="Revoke (the device's token is refused from now on)", permissions=("change",)
    )
    def revoke(self, request: Any, queryset: QuerySet[Device]) -> TemplateResponse | None:
        """Asks first (``confirm``): a revoked device stops at once, and works again only
        once a new code is issued and entered on it."""
        if not confirm.confirmed(request):
            devices = list(queryset.select_related("site"))
            return confirm.page(self, request, devices, _revoke_question(devices))
        for device in queryset:
            auth.revoke(device, f"revoked by {request.user}")
        messages.success(request, f"Revoked {plural.counted(queryset.count(), 'device')}.")
        return None


def _issue_question(devices: list[Device]) -> confirm.Question:
    return confirm.Question(
        action="issue_code",
        title="Issue new one-time codes",
        question=f"Issue a new one-time code for {plural.counted(len(devices), 'device')}?",
        consequences=(
            "Each device's current token stops working at once: it neither syncs nor pulls"
            " erasures until its new code, shown once on the next page, is entered on it."
        ),
        button="Yes, issue new codes",
        name=lambda device: f"{device.name} (revoked)" if device.revoked else device.name,
    )


def _revoke_question(devices: list[Device]) -> confirm.Question:
    return confirm.Question(
        action="revoke",
        title="Revoke devices",
        question=f"Revoke {plural.counted(len(devices), 'device')}?",
        consequences=(
            "Each device's token is refused from its next request: it neither syncs nor"
            " pulls erasures until a new one-time code is issued and entered on it."
        ),
        button="Yes, revoke them",
        name=lambda device: f"{device.name} (revoked already)" if device.revoked else device.name,
    )
