"""WSGI entry point for gunicorn (``sync.hub.wsgi:application``).

Refuses to load without ``JAGA_HUB_SECRET_KEY`` (``jaga hub run`` sets it from its data
folder): a worker started without it would fail at the first request that signs a session
or a CSRF token; this says so at start. Loading the settings refuses, as every ``jaga hub``
command does, a ``DATABASE_URL`` that cannot be read or whose password is still
hub.env.example's public placeholder (``sync.hub.dburl.database_settings``).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sync.hub.settings")
application = get_wsgi_application()

try:
    settings.SECRET_KEY  # noqa: B018 - Django raises when it is empty
except ImproperlyConfigured:
    raise ImproperlyConfigured(
        "jaga hub: set JAGA_HUB_SECRET_KEY (50+ random characters, the same for every worker"
        " and hub host) or start the hub with `jaga hub run`, which keeps one"
    ) from None
