"""URL map: the device API under /api/v1/, its OpenAPI schema, the admin, /metrics."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path
from django.views.decorators.cache import cache_page
from drf_spectacular.views import SpectacularAPIView

from sync.hub.api import audit_views, device_views, photo_views, sync_views
from sync.hub.metrics_http import metrics_view

site = "api/v1/sites/<slug:site>"

urlpatterns = [
    path("api/v1/status", device_views.StatusView.as_view()),
    path("api/v1/devices/register", device_views.RegisterView.as_view()),
    path("api/v1/devices/deregister", device_views.DeregisterView.as_view()),
    path(f"{site}/push", sync_views.PushView.as_view()),
    path(f"{site}/changes", sync_views.ChangesView.as_view()),
    path(f"{site}/uploads", photo_views.UploadsView.as_view()),
    path(f"{site}/uploads/<uuid:upload_id>", photo_views.UploadView.as_view()),
    path(f"{site}/search", device_views.SearchView.as_view()),
    path(f"{site}/audit", audit_views.AuditView.as_view()),
    path("api/v1/species-packs/latest", device_views.LatestSpeciesPackView.as_view()),
    path("api/v1/species-packs/<str:version>/file", device_views.SpeciesPackFileView.as_view()),
    # Generating the schema walks every view: cache it (Redis when configured).
    path("api/schema/", cache_page(600)(SpectacularAPIView.as_view()), name="schema"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view),  # Prometheus, with JAGA_HUB_METRICS_TOKEN (metrics_http)
    # The admin's CSS and scripts, straight from the installed apps: operators only, a few
    # files, and no collectstatic step or second web server to set up on a boat's laptop.
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]

handler404 = "sync.hub.api.errors.not_found"
