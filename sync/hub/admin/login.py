"""The admin's sign-in form, with failed attempts limited per client and per user name.

Without a limit a password is guessable by brute force. The limit is the device
registration's (``sync.hub.throttle``): its ``"N/period"`` rate (``JAGA_HUB_LOGIN_RATE``),
client address (``JAGA_HUB_TRUSTED_PROXIES``) and counters taken atomically. Each attempt is
counted before its password is checked, so however many arrive at once, at most N passwords
are checked per client and per user name in any span of the window's length (an hour for
``/hour``), wherever it starts. An attempt over the limit is refused without checking its
password, so a guesser learns nothing from it; a refused attempt, or one whose password was
right, is given back, so only failures count and operators signing in are never held back by
each other. An attempt from a locked client, or for a locked user name, is refused before
anything is counted: it adds no counter to the cache, so no number of them can make the
cache drop the counts that lock others.

A lock lasts until no span of the window's length holding now holds N failures: from a window
after the failures to half a window more (the throttle's slices). The counts live in the
``limits`` cache, which is shared by every worker only with ``REDIS_URL``; without it each
worker process counts for itself, so the limit is per worker.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from sync.hub.throttle import SlidingWindowThrottle


class LoginThrottle(SlidingWindowThrottle):
    """Sign-in attempts over the window's length, per client address and per user name,
    counted atomically (``sync.hub.throttle``), the client's counter first."""

    scope = "login"

    def take_attempt(self, request: HttpRequest, username: str) -> float:
        """Count an attempt for this client and this user name; 0: counted, check it. Over
        the limit: the seconds until one would be checked, the attempt not counted."""
        return self.take(self._keys(request, username))

    def _keys(self, request: HttpRequest, username: str) -> tuple[str, str]:
        # Hashed: a user name is the client's text, of any length and alphabet.
        user = hashlib.sha256(username.casefold().encode()).hexdigest()
        return (
            self.client_key(request, "login_client"),
            self.cache_format % {"scope": "login_user", "ident": user},
        )


class ThrottledLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form; over the limit it answers without checking the password."""

    def clean(self) -> Any:
        throttle = LoginThrottle()
        wait_s = throttle.take_attempt(self.request, self.cleaned_data.get("username") or "")
        if wait_s > 0:
            raise ValidationError(
                "Too many failed sign-ins from this address or for this user name: try again"
                " in %(minutes)d minute(s).",
                code="locked",
                params={"minutes": math.ceil(wait_s / 60)},
            )
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if error.code != "invalid_login":  # the password was right
                throttle.give_back()
            raise
        throttle.give_back()  # signed in, or no password given: no failure
        return cleaned
