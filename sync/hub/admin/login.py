"""The admin's sign-in form, with failed attempts limited per client and per user name.

Without a limit a password is guessable by brute force. The limit is the device
registration's machinery (DRF's throttle): its ``"N/period"`` rate (``JAGA_HUB_LOGIN_RATE``),
its cache (Redis when configured, shared by every worker) and its client address
(``JAGA_HUB_TRUSTED_PROXIES``). Unlike that limit it counts failures only, so operators
signing in are never held back by each other; and an attempt over it is refused before the
password is checked, so a guesser learns nothing from it. The lock ends when the oldest
counted failure is a period old.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from rest_framework.throttling import SimpleRateThrottle


class LoginThrottle(SimpleRateThrottle):
    """Failed sign-ins within the last period, per client address and per user name."""

    scope = "login"

    def wait_s(self, request: HttpRequest, username: str) -> float:
        """Seconds until this client may try this user name again; 0: now."""
        now = self.timer()
        waits = [
            history[self.num_requests - 1] + self.duration - now  # newest first
            for history in (self._recent(key, now) for key in self._keys(request, username))
            if len(history) >= self.num_requests
        ]
        return max(waits, default=0.0)

    def record_failure(self, request: HttpRequest, username: str) -> None:
        now = self.timer()
        for key in self._keys(request, username):
            self.cache.set(key, [now, *self._recent(key, now)], self.duration)

    def _recent(self, key: str, now: float) -> list[float]:
        return [moment for moment in self.cache.get(key, []) if moment > now - self.duration]

    def _keys(self, request: HttpRequest, username: str) -> tuple[str, str]:
        # Hashed: a user name is the client's text, of any length and alphabet.
        user = hashlib.sha256(username.casefold().encode()).hexdigest()
        return (
            self.cache_format % {"scope": "login_client", "ident": self.get_ident(request)},
            self.cache_format % {"scope": "login_user", "ident": user},
        )


class ThrottledLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form; over the limit it answers without checking the password."""

    def clean(self) -> Any:
        throttle = LoginThrottle()
        username = self.cleaned_data.get("username") or ""
        wait_s = throttle.wait_s(self.request, username)
        if wait_s > 0:
            raise ValidationError(
                "Too many failed sign-ins from this address or for this user name: try again"
                " in %(minutes)d minute(s).",
                code="locked",
                params={"minutes": math.ceil(wait_s / 60)},
            )
        try:
            return super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                throttle.record_failure(self.request, username)
            raise
