"""The admin's sign-in form, with failed attempts limited per client and per user name.

Without a limit a password is guessable by brute force. The limit takes the device
registration's ``"N/period"`` rate format (``JAGA_HUB_LOGIN_RATE``) and client address
(``JAGA_HUB_TRUSTED_PROXIES``) from DRF's throttle. Each attempt is counted atomically before
its password is checked, so however many arrive at once, at most N passwords are checked per
client and per user name in a window. An attempt over the limit is refused without checking
its password, so a guesser learns nothing from it; a refused attempt, or one whose password
was right, is given back, so only failures count and operators signing in are never held
back by each other. An attempt from a locked client, or for a locked user name, is refused
before anything is counted: it adds no counter to the cache, so no number of them can make
the cache drop the counts that lock others.

The windows are fixed, aligned to the clock (each whole hour for ``/hour``), not sliding: the
lock ends with its window, and a guesser who times the boundary gets up to 2N checks within a
short span around it. The counts live in the ``login`` cache, which is shared by every worker
only with ``REDIS_URL``; without it each worker process counts for itself, so the limit is
per worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle


class LoginThrottle(SimpleRateThrottle):
    """Sign-in attempts in the current window, per client address and per user name.

    One counter per key and window, taken with the cache's atomic ``add`` and ``incr`` (Redis'
    INCR; local memory under its lock), so concurrent attempts cannot all read the same count.
    """

    scope = "login"
    cache = ConnectionProxy(caches, "login")  # its own room: see settings.caches_for
    keys: list[str]  # this attempt's counters, set by take

    def take(self, request: HttpRequest, username: str) -> float:
        """Count an attempt for this client and this user name; 0: counted, check it. Over
        the limit: the seconds until this window ends, the attempt not counted."""
        now = self.timer()
        window = int(now // self.duration)
        self.keys = [f"{key}_{window}" for key in self._keys(request, username)]
        wait_s = float((window + 1) * self.duration - now)
        # Read before counting, the client first: an attempt already over a limit adds and
        # changes no counter (so refused attempts can neither crowd others' counters out of
        # the cache nor lift another's count over the limit), and a locked client's attempt
        # reads no user name's.
        if any(self._locked(key) for key in self.keys):
            self.keys = []
            return wait_s
        if max(self._count(key) for key in self.keys) <= self.num_requests:
            return 0.0
        self.give_back()  # a refused attempt is no guess; counted, it would lock others out
        return wait_s

    def give_back(self) -> None:
        """Uncount the attempt ``take`` counted: refused, or its password was right."""
        for key in self.keys:
            with contextlib.suppress(ValueError):  # the window is over: nothing to give back
                self.cache.decr(key)

    def _locked(self, key: str) -> bool:
        return bool(int(self.cache.get(key, 0)) >= self.num_requests)

    def _count(self, key: str) -> int:
        # Atomic, unlike _locked: of attempts that all read a count below the limit, only
        # as many as it has left get through.
        while True:
            # A key outlives its window; expired or evicted between the two calls, add again.
            self.cache.add(key, 0, self.duration)
            with contextlib.suppress(ValueError):
                return int(self.cache.incr(key))

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
        wait_s = throttle.take(self.request, self.cleaned_data.get("username") or "")
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
