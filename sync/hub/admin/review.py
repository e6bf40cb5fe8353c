"""The fish review queue: flagged observations with photo, top-k (and the species pack that
made it), the pack's verdict (an ``unknown`` or ``no_fish`` names no species: its top-k are
candidates only), the fish's box when the photo holds several, and one-click correction.

Each top-k species is a button in the list; pressing it posts to ``correct/``, which
confirms that species through ``sync.hub.review`` (LWW stamp "hub", a change for the site's
devices) and returns to the queue. Any other species can be typed on the change page.

A reviewer sees, corrects and opens the photos of the catches of their own sites only
(``sync.hub.admin.staff``): another site's catch is refused (403), its photo not found (404).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from sync.hub import review
from sync.hub.admin.staff import SiteScopedAdmin, scoped
from sync.hub.models import FishObservation, FishReview, Photo

# Served inline in the admin: only raster types, never one a browser would run (svg, html).
_SAFE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class CorrectionForm(forms.ModelForm):
    confirmed_species = forms.CharField(max_length=200, label="Confirm as species")

    class Meta:
        model = FishReview
        fields = ("confirmed_species",)


@admin.register(FishReview)
class FishReviewAdmin(SiteScopedAdmin):
    form = CorrectionForm
    list_display = (
        "thumbnail",
        "top_k",
        "verdict",
        "pack",
        "fish_box",
        "correct_buttons",
        "site",
        "observed_at",
        "officer",
    )
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "status", "pack_version")
    readonly_fields = (
        "thumbnail",
        "top_k",
        "verdict",
        "pack",
        "fish_box",
        "site",
        "observed_at",
        "officer",
        "vessel",
        "trip",
        "haul",
        "count",
        "length_cm",
        "notes",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FishReview]:
        queryset: QuerySet[FishReview] = super().get_queryset(request)
        return queryset.filter(needs_review=True).select_related("site")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("correct/", self.admin_site.admin_view(self.correct_view), name="hub_correct"),
            path(
                "photo/<uuid:photo_uid>/",
                self.admin_site.admin_view(self.photo_view),
                name="hub_review_photo",
            ),
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    @admin.display(description="photo")
    def thumbnail(self, obj: FishObservation) -> str:
        if obj.photo_uid is None:
            return "—"
        url = reverse("admin:hub_review_photo", args=[obj.photo_uid])
        html: str = format_html('<img src="{}" style="max-width:160px;max-height:120px">', url)
        return html

    @admin.display(description="top-k")
    def top_k(self, obj: FishObservation) -> str:
        rows = ((species, f"{confidence:.2f}") for species, confidence in obj.predictions)
        html: str = format_html_join(", ", "{} ({})", rows)
        return html or "—"

    @admin.display(description="pack's verdict", ordering="status")
    def verdict(self, obj: FishObservation) -> str:
        """Whether the pack named the first of the top-k, and if not, why; "—" where the
        device did not say (one older than protocol 4)."""
        if obj.status is None:
            return "—"
        label = str(obj.get_status_display())
        return f"{label} ({obj.status_reason})" if obj.status_reason else label

    @admin.display(description="species pack", ordering="pack_version")
    def pack(self, obj: FishObservation) -> str:
        return obj.pack_version or "—"

    @admin.display(description="fish in photo")
    def fish_box(self, obj: FishObservation) -> str:
        """The box the prediction was made on (one of several fish in the photo), in the
        photo's pixels; the photo beside it is shown whole."""
        if obj.crop is None:
            return "whole photo"
        x, y, width, height = obj.crop
        return f"{width}x{height} px at ({x}, {y})"

    @admin.display(description="confirm as")
    def correct_buttons(self, obj: FishObservation) -> str:
        url = reverse("admin:hub_correct")
        # formaction: the changelist is already one form (with its CSRF token), so each
        # button posts it to the correction view instead of nesting forms.
        html: str = format_html_join(
            " ",
            '<button type="submit" class="button" formaction="{}" name="correction" '
            'value="{}:{}">{}</button>',
            ((url, obj.pk, species, species) for species, _ in obj.predictions),
        )
        return html

    def save_model(self, request: Any, obj: FishReview, form: Any, change: bool) -> None:
        species = form.cleaned_data.get("confirmed_species") or ""
        try:
            review.correct_species(obj.pk, species, str(request.user))
        except review.CorrectionSupersededError as superseded:
            messages.warning(request, f"Not applied: {superseded}.")

    def correct_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        pk, _, species = request.POST.get("correction", "").partition(":")
        found = FishObservation.objects.filter(pk=int(pk) if pk.isdigit() else None)
        if found.exists() and not scoped(found, request.user).exists():
            raise PermissionDenied  # another site's catch
        try:
            observation = review.correct_species(int(pk), species, str(request.user))
        except review.CorrectionSupersededError as superseded:
            messages.warning(request, f"Not applied: {superseded}.")
        except (ValueError, FishObservation.DoesNotExist):
            messages.error(request, "That correction could not be applied.")
        else:
            messages.success(request, f"Confirmed {species}: {observation} leaves the queue.")
        return HttpResponseRedirect(reverse("admin:hub_fishreview_changelist"))

    def photo_view(self, request: HttpRequest, photo_uid: Any) -> HttpResponse:
        """A catch's photo of the reviewer's sites, to whoever may see the review queue;
        never a person's photo (enrolment photos are biometric data, and any staff login
        reaches this URL)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        catches = Photo.objects.filter(uid=photo_uid, person=None).exclude(data=None)
        photo = scoped(catches, request.user).first()
        if photo is None:
            raise Http404("the photo has not been uploaded yet")
        media_type = photo.media_type if photo.media_type in _SAFE_IMAGE_TYPES else None
        return HttpResponse(
            bytes(photo.data), content_type=media_type or "application/octet-stream"
        )
