"""The device side of sync: push the outbox, pull the site's changes, upload photos.

::

    from sync.client import SyncClient, hub_http_client, resolve_config

    with hub_http_client() as http:
        client = SyncClient(store, http, resolve_config(os.environ, stored_values))
        report = client.sync_once()

The HTTP seam is the injected ``httpx.Client`` (``httpx.MockTransport`` in tests). Every
failure is a ``sync.client.errors`` error; ``SyncService`` runs syncs in a background
thread with back-off and pauses on authentication failures.

Names are imported on first use (PEP 562), so ``jaga`` loading ``sync.client.cli`` at start-up
does not pay for httpx and pydantic until a sync command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.client.backoff import Backoff
    from sync.client.client import SyncClient, open_client
    from sync.client.config import Registration, SitePolicy, SyncConfig, Tuning, resolve_config
    from sync.client.errors import (
        HubAuthError,
        HubRefusedError,
        HubUnavailableError,
        ProtocolMismatchError,
        SyncBusyError,
        SyncClientError,
        SyncConfigError,
    )
    from sync.client.pull import PullReport
    from sync.client.push import PushReport
    from sync.client.report import SyncReport
    from sync.client.service import Phase, ServiceState, SyncService
    from sync.client.status import SyncStatus, read_status
    from sync.client.transport import (
        HubTransport,
        RequestTiming,
        hub_http_client,
        register_device,
    )
    from sync.client.uploads import UploadReport

_HOMES = {
    "Backoff": "sync.client.backoff",
    "HubAuthError": "sync.client.errors",
    "HubRefusedError": "sync.client.errors",
    "HubTransport": "sync.client.transport",
    "HubUnavailableError": "sync.client.errors",
    "Phase": "sync.client.service",
    "ProtocolMismatchError": "sync.client.errors",
    "PullReport": "sync.client.pull",
    "PushReport": "sync.client.push",
    "Registration": "sync.client.config",
    "RequestTiming": "sync.client.transport",
    "ServiceState": "sync.client.service",
    "SitePolicy": "sync.client.config",
    "SyncBusyError": "sync.client.errors",
    "SyncClient": "sync.client.client",
    "SyncClientError": "sync.client.errors",
    "SyncConfig": "sync.client.config",
    "SyncConfigError": "sync.client.errors",
    "SyncReport": "sync.client.report",
    "SyncService": "sync.client.service",
    "SyncStatus": "sync.client.status",
    "Tuning": "sync.client.config",
    "UploadReport": "sync.client.uploads",
    "hub_http_client": "sync.client.transport",
    "open_client": "sync.client.client",
    "read_status": "sync.client.status",
    "register_device": "sync.client.transport",
    "resolve_config": "sync.client.config",
}
__all__ = [
    "Backoff",
    "HubAuthError",
    "HubRefusedError",
    "HubTransport",
    "HubUnavailableError",
    "Phase",
    "ProtocolMismatchError",
    "PullReport",
    "PushReport",
    "Registration",
    "RequestTiming",
    "ServiceState",
    "SitePolicy",
    "SyncBusyError",
    "SyncClient",
    "SyncClientError",
    "SyncConfig",
    "SyncConfigError",
    "SyncReport",
    "SyncService",
    "SyncStatus",
    "Tuning",
    "UploadReport",
    "hub_http_client",
    "open_client",
    "read_status",
    "register_device",
    "resolve_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sync.client' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
