"""The hub's Django app (label ``hub``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class HubConfig(AppConfig):
    name = "sync.hub"
    label = "hub"
    verbose_name = "Jaga hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the bearer-token scheme with drf-spectacular.
        from sync.hub.api import schema_extensions  # noqa: F401
        from sync.hub.checks import sites_devices_cannot_name

        checks.register(sites_devices_cannot_name)
