"""The hub's own system checks, listed by ``jaga hub manage check`` (and ``migrate``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from sync.protocol.types import SLUG_RULE, check_slug


def sites_devices_cannot_name(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A warning for each site stored, before migration 0020, with a slug the protocol
    refuses: its devices are refused at registration until a hub admin renames it."""
    from sync.hub.models import Site

    try:
        slugs = list(Site.objects.values_list("slug", flat=True))
    except DatabaseError:  # no database yet, or not migrated: no sites to judge
        return []
    return [
        checks.Warning(
            f"site {slug!r} has a slug devices cannot carry ({SLUG_RULE}):"
            " its devices are refused at registration",
            hint="rename it in the hub's admin (Sites, the site, Slug); its devices' codes"
            " stay usable",
            obj=slug,
            id="hub.W001",
        )
        for slug in slugs
        if not carries_slug(slug)
    ]


def carries_slug(slug: str) -> bool:
    """Whether the protocol carries ``slug`` as a site's (``check_slug``)."""
    try:
        check_slug(slug)
    except ValueError:
        return False
    return True
