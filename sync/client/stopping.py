"""Asking a sync in progress to end early: between its requests, never inside one.

A sync of a long backlog is many requests (batches, pages, photos); the app closing should
not wait for all of them. Each step asks ``stopping()`` before its next request and ends
where it is; what it did not send stays queued for the next sync, as after a cut link.
"""

from __future__ import annotations

from collections.abc import Callable

Stopping = Callable[[], bool]  # true once the sync should end after the request in flight


def never() -> bool:
    return False
