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


class Heeded:
    """A ``Stopping`` that remembers whether it ever said stop. A step that asked and was
    told to stop ended early, so the sync did not finish: it must not be kept as a success.
    """

    def __init__(self, stopping: Stopping) -> None:
        self._stopping = stopping
        self.stopped = False

    def __call__(self) -> bool:
        if not self.stopped:
            self.stopped = self._stopping()
        return self.stopped
