"""The hub's URL map as a hub from before audit chains were anchored had it: no audit
endpoint (``ROOT_URLCONF`` for the old-hub test)."""

from sync.hub.urls import handler404
from sync.hub.urls import urlpatterns as current_urlpatterns

urlpatterns = [entry for entry in current_urlpatterns if "audit" not in str(entry.pattern)]

__all__ = ["handler404", "urlpatterns"]
