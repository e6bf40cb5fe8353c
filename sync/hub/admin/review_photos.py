"""The review queue's photos: a thumbnail per catch in the list, the photo on its page.

A page of the queue lists up to 100 catches, and a photo may be 32 MiB: the list shows each
catch's thumbnail (``sync.hub.thumbnails``, a few kB), which links to the catch's page, where
the photo itself is shown (and opens alone, at full size, when clicked).

Both are served to whoever may see the review queue, as a catch's photo of the reviewer's
sites, by the catch's site: never a photo no catch of the reviewer's sites names, nor one of
another site than the catch naming it, nor a person's photo (enrolment photos are biometric
data, and any staff login reaches these URLs). Another site's photo is not found (404).

A stored photo's bytes never change, nor then does its thumbnail: the browser may keep them,
in its own cache only (``private``), and asks again at each visit (``no-cache``), which
checks the reviewer's access each time; what it holds is answered 304, without the bytes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import parse_etags

from sync.hub import thumbnails
from sync.hub.admin.staff import scoped
from sync.hub.models import FishObservation, Photo

# Served inline in the admin: only raster types, never one a browser would run (svg, html).
_SAFE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
NO_PREVIEW = (
    "No preview can be made of this photo (not a readable JPEG, PNG or WebP, or larger than"
    " a photo may be): open the catch to download it."
)


class ReviewPhotos:
    """The review queue's admin's photo views and columns (mixed into ``FishReviewAdmin``)."""

    admin_site: Any
    has_view_permission: Any

    def photo_urls(self) -> list[URLPattern]:
        # cacheable: the views say how their images may be kept (never_cache forbade it)
        view = self.admin_site.admin_view
        return [
            path(
                "photo/<uuid:photo_uid>/",
                view(self.photo_view, cacheable=True),
                name="hub_review_photo",
            ),
            path(
                "photo/<uuid:photo_uid>/thumbnail/",
                view(self.thumbnail_view, cacheable=True),
                name="hub_review_thumbnail",
            ),
        ]

    @admin.display(description="photo")
    def thumbnail(self, obj: FishObservation) -> str:
        """The list's column: the thumbnail (the admin links it to the catch's page)."""
        if obj.photo_uid is None:
            return "—"
        url = reverse("admin:hub_review_thumbnail", args=[obj.photo_uid])
        # lazy: fetched as the reviewer scrolls to it; the alt text shows where none is made
        html: str = format_html(
            '<img src="{}" loading="lazy" alt="no preview" style="max-width:160px;'
            'max-height:120px">',
            url,
        )
        return html

    @admin.display(description="photo")
    def photo(self, obj: FishObservation) -> str:
        """The catch's page: the photo itself, which opens alone at full size."""
        if obj.photo_uid is None:
            return "—"
        url = reverse("admin:hub_review_photo", args=[obj.photo_uid])
        html: str = format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="photo not'
            ' uploaded yet" style="max-width:100%;max-height:80vh"></a>',
            url,
            url,
        )
        return html

    def photo_view(self, request: HttpRequest, photo_uid: Any) -> HttpResponse:
        """The stored photo's bytes."""
        photo = self._visible_photo(request, photo_uid)
        etag = f'"{photo.sha256}"'
        if _holds(request, etag):
            return _kept(HttpResponseNotModified(), etag)
        media_type = photo.media_type if photo.media_type in _SAFE_IMAGE_TYPES else None
        data = Photo.objects.filter(pk=photo.pk).values_list("data", flat=True).first()
        if data is None:
            raise Http404("the photo is gone")
        content_type = media_type or "application/octet-stream"
        return _kept(HttpResponse(bytes(data), content_type=content_type), etag)

    def thumbnail_view(self, request: HttpRequest, photo_uid: Any) -> HttpResponse:
        """The photo's thumbnail, made at its first request; 422 where none can be made."""
        photo = self._visible_photo(request, photo_uid)
        etag = f'"{photo.sha256}-{thumbnails.RECIPE}"'
        if _holds(request, etag):
            return _kept(HttpResponseNotModified(), etag)
        try:
            made = thumbnails.stored_thumbnail(photo)
        except thumbnails.ThumbnailRefusedError:
            refused = HttpResponse(NO_PREVIEW, status=422, content_type="text/plain")
            refused["Cache-Control"] = "private, no-cache"
            return refused
        if made is None:
            raise Http404("the photo is gone")
        return _kept(HttpResponse(made, content_type="image/jpeg"), etag)

    def _visible_photo(self, request: HttpRequest, photo_uid: Any) -> Photo:
        if not self.has_view_permission(request):
            raise PermissionDenied
        photo = _catch_photo(photo_uid, request.user)
        if photo is None:
            raise Http404("the photo has not been uploaded yet")
        return photo


def _holds(request: HttpRequest, etag: str) -> bool:
    """Whether the browser holds the image of ``etag`` (asked again, by ``no-cache``)."""
    return etag in parse_etags(request.headers.get("If-None-Match", ""))


def _kept(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def _catch_photo(photo_uid: Any, user: Any) -> Photo | None:
    """The stored photo ``photo_uid`` of a catch of ``user``'s sites, a catch photo of that
    catch's own site; else None. Checked by the catch, not by the photo's site alone: a
    catch may name a uid before its photo comes (``sync.hub.apply.records``), and a photo
    another site pushed under it later is neither that catch's (the corrections export
    never labels it with it) nor a catch of the other site's to review. Its bytes and
    thumbnail are not read: the views read the one they serve, and a 304 neither."""
    catches = scoped(FishObservation.objects.filter(photo_uid=photo_uid), user)
    photos = Photo.objects.filter(uid=photo_uid, person=None).exclude(data=None)
    photos = photos.defer("data", "thumbnail")
    found: Photo | None = photos.filter(Exists(catches.filter(site=OuterRef("site")))).first()
    return found
