"""Errors the hub answers with: an HTTP status, a stable code and a reason.

::

    HubError(status, error, reason)     a refusal by a view or service, any status
    UnknownToken                        DRF AuthenticationFailed (401), code unknown_token
    DeviceRevoked                       DRF PermissionDenied (403), code device_revoked
    OpenAuditBreakError                 no new registration code: an audit break is open

``sync.hub.api.errors`` turns each of the first three into an ``ErrorBody``.

Rejections of single outbox entries are not exceptions: they travel in ``PushResult``.
"""

from __future__ import annotations

from rest_framework import exceptions


class HubError(Exception):
    """A request the hub refuses; nothing it would have written is kept."""

    def __init__(
        self, status: int, error: str, reason: str, *, expected_offset: int | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.expected_offset = expected_offset


class UnknownToken(exceptions.AuthenticationFailed):
    default_code = "unknown_token"


class DeviceRevoked(exceptions.PermissionDenied):
    default_code = "device_revoked"


class OpenAuditBreakError(Exception):
    """No new registration code while the device's audit chain has an open break (or an
    open pruned record): the code would start the chain anew, so the break is acknowledged
    first (with a note, under its own permission), or the replacement would close it
    unexamined."""
