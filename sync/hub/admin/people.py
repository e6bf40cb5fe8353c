"""People (view-only for operators, erasable) and species packs (upload publishes).

Erase asks first, on a page naming who would be erased, site by site (``confirm``): an
erasure reaches every device and is journaled, so nothing brings the person back."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from sync import plural
from sync.hub import review
from sync.hub.admin import confirm, once
from sync.hub.admin.staff import SiteScopedAdmin
from sync.hub.models import AccessEvent, Person, SpeciesPack
from sync.hub.models.events import verified_after_erasure
from sync.hub.pack_loader import check_pack_archive
from sync.species_packs import (
    MAX_ARCHIVE_BYTES,
    PackArchiveError,
    check_manifest_files,
    check_version,
)


@admin.register(Person)
class PersonAdmin(SiteScopedAdmin):
    list_display = ("display_name", "external_id", "site", "erased_at", "uid")
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "erased_at")
    search_fields = ("display_name", "external_id", "uid")
    readonly_fields = (
        "uid",
        "site",
        "external_id",
        "display_name",
        "consent",
        "erased_at",
        "erasure_reason",
        "created_by",
        "created_at",
        "updated_at",
    )
    actions = ("erase",)

    def has_add_permission(self, request: Any) -> bool:
        return False  # people are enrolled at a kiosk, with consent, not typed in here

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        # Every field comes from the kiosk. A Save would change nothing but write the
        # person's name into the admin's history (LogEntry), where it would outlive them.
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # deleting would lose the tombstone: use the erase action

    def has_erase_permission(self, request: Any) -> bool:
        return bool(request.user.has_perm("hub.erase_person"))

    @admin.action(
        description="Erase (blank the person, delete templates and photos, everywhere)",
        permissions=("erase",),
    )
    def erase(self, request: Any, queryset: QuerySet[Person]) -> TemplateResponse | None:
        """Asks first (``confirm``); the confirming POST erases those not erased yet, and
        says who was erased before and left as they were (their reason, their journal
        line, unchanged)."""
        selected = list(queryset.select_related("site"))
        if not confirm.confirmed(request):
            to_erase = [p for p in selected if not p.erased]
            already = [p for p in selected if p.erased]
            return confirm.page(self, request, to_erase, _erase_question(to_erase, already))
        reason = f"erased by {request.user} in the hub admin"
        erased = [p for p in selected if review.erase_person(p.pk, reason=reason)]
        left = [p for p in selected if p not in erased]
        if erased:
            messages.success(
                request,
                f"Erased {plural.people(len(erased))}; devices pull it next. Their data leaves"
                " the database files at the next daily purge, or now: jaga hub manage"
                " rewrite_erased.",
            )
        if left:
            names = once.named([f"{p.uid} ({p.site})" for p in left])
            messages.info(
                request,
                f"{plural.people(len(left))} already erased, left as they were: {names}.",
            )
        return None


def _erase_question(to_erase: list[Person], already: list[Person]) -> confirm.Question:
    """What the erase page asks; a person is named as the list names them."""
    return confirm.Question(
        action="erase",
        title="Erase people everywhere",
        question=f"Erase {plural.people(len(to_erase))} everywhere?",
        consequences=(
            "Each is blanked and their templates and photos deleted, here now and on every"
            " device that holds them at its next sync; the erasure is journaled, so restoring"
            " a backup of the hub does not bring them back. This cannot be undone."
        ),
        button="Yes, erase them everywhere",
        name=lambda p: f"{p.display_name} ({p.external_id})" if p.external_id else p.display_name,
        left_heading="Already erased, and left as they are (nothing is done to them again):",
        left=already,
        name_left=lambda p: str(p.uid),
    )


class AfterErasureFilter(admin.SimpleListFilter):
    """Events a kiosk verified after the person they name was erased (it still held them):
    find out which kiosk missed the erasure, and why."""

    title = "after the person's erasure"
    parameter_name = "after_erasure"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "verified after the person was erased")]

    def queryset(self, request: Any, queryset: QuerySet[AccessEvent]) -> QuerySet[AccessEvent]:
        if self.value() == "yes":
            return queryset.filter(pk__in=verified_after_erasure().values("pk"))
        return queryset


class ClockSuspectFilter(admin.SimpleListFilter):
    """Events a kiosk decided while it judged its clock wrong: their times are not to be
    trusted (the event's page says why)."""

    title = "the kiosk's clock"
    parameter_name = "clock_suspect"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "judged wrong"), ("no", "not judged wrong")]

    def queryset(self, request: Any, queryset: QuerySet[AccessEvent]) -> QuerySet[AccessEvent]:
        if self.value() == "yes":
            return queryset.exclude(clock_suspect="")
        if self.value() == "no":
            return queryset.filter(clock_suspect="")
        return queryset


@admin.register(AccessEvent)
class AccessEventAdmin(SiteScopedAdmin):
    list_display = ("occurred_at", "site", "device_name", "decision", "person_uid", "similarity",
                    "clock_wrong")  # fmt: skip
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "decision", AfterErasureFilter,
                   ClockSuspectFilter)  # fmt: skip

    @admin.display(boolean=True, description="clock judged wrong")
    def clock_wrong(self, event: AccessEvent) -> bool:
        """The kiosk judged its clock wrong as it decided: ``occurred_at`` is its reading."""
        return bool(event.clock_suspect)

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # append-only

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class SpeciesPackForm(forms.ModelForm):
    """An upload must be a species pack archive: the ZIP that ``jaga hub publish-pack
    PACK_DIR --archive-only FILE`` writes (the pack folder's files at its top, with
    ``manifest.json``). Anything else is refused here, before devices hear of it, and so is
    a pack the device's own loader refuses, in its words (``sync.hub.pack_loader``; a hub
    not started by ``jaga hub run`` has no loader, and says to publish with ``jaga hub
    publish-pack`` instead)."""

    file = forms.FileField(
        help_text="The pack archive from `jaga hub publish-pack PACK_DIR --archive-only FILE`"
        " (a ZIP of the pack folder's files, manifest.json at its top)."
    )

    allow_species_change = forms.BooleanField(
        required=False,
        help_text="Publish it even though it lacks or renames species the last published pack"
        " has (or, for the first pack, the default pack): devices stop naming them as before.",
    )

    class Meta:
        model = SpeciesPack
        fields = ("version", "notes")

    def clean_version(self) -> str:
        try:
            return check_version(self.cleaned_data["version"])
        except PackArchiveError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_ARCHIVE_BYTES:  # refused before it is read into memory
            raise forms.ValidationError(
                f"the archive has {upload.size} bytes; the most is {MAX_ARCHIVE_BYTES}"
            )
        data = upload.read()
        try:
            check_manifest_files(data)
        except PackArchiveError as error:
            raise forms.ValidationError(f"not a species pack archive: {error}") from None
        try:  # as publishing checks it again: the device's loader's verdict, here as words
            check_pack_archive(data)
        except PackArchiveError as error:
            raise forms.ValidationError(str(error)) from None
        self.archive = data
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        if hasattr(self, "archive") and not cleaned.get("allow_species_change"):
            try:
                review.check_species_kept(self.archive)
            except PackArchiveError as error:
                self.add_error("file", str(error))
        return cleaned


@admin.register(SpeciesPack)
class SpeciesPackAdmin(admin.ModelAdmin):
    form = SpeciesPackForm
    list_display = ("version", "byte_size", "sha256", "published_at")

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        # A published pack is immutable (publish a new version); the list still takes a
        # species pack permission, not just any of the hub's.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # devices were told of it and fetch it by version

    def changeform_view(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """The form checked the upload, but publishing checks it again under the packs' lock:
        a pack published meanwhile may make it lack a species (``check_species_kept``).
        Nothing was stored (the admin's transaction rolled back), and the form is shown
        again, checked against the pack now published, with what the reviewer typed; should
        publishing refuse it once more, its words come back on an empty add page."""
        try:
            return super().changeform_view(request, *args, **kwargs)
        except PackArchiveError:
            pass
        for upload in request.FILES.values():
            upload.seek(0)  # the first form read it
        try:
            return super().changeform_view(request, *args, **kwargs)
        except PackArchiveError as error:
            self.message_user(request, f"not published: {error}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: Any, obj: SpeciesPack, form: Any, change: bool) -> None:
        published = review.publish_pack_archive(
            obj.version, form.archive, obj.notes,
            allow_species_change=form.cleaned_data["allow_species_change"],
        )  # fmt: skip
        obj.pk = published.pk
