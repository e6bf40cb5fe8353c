"""The admin's sign-in limits failed attempts per client and per user name, so a password
cannot be guessed by brute force; the limit's rate, cache and client rule are the ones the
device registration limit uses."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.test import Client, RequestFactory, override_settings

from sync.hub.admin.login import LoginThrottle, ThrottledLoginForm
from tests.sync.conftest import FakeClock

LOGIN = "/admin/login/"
PASSWORD = "a long and correct password"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """Three failures a minute allowed, on a clock that moves only when told."""
    clock = FakeClock()
    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/minute"})
    monkeypatch.setattr(LoginThrottle, "timer", staticmethod(lambda: clock.now().timestamp()))
    LoginThrottle.cache.clear()
    yield clock
    LoginThrottle.cache.clear()


@pytest.fixture
def failures() -> Iterator[list[str]]:
    """The user names each password check refused (Django's own signal)."""
    refused: list[str] = []

    def record(sender: Any, credentials: dict[str, Any], **_: Any) -> None:
        refused.append(credentials["username"])

    user_login_failed.connect(record)
    yield refused
    user_login_failed.disconnect(record)


def _staff() -> str:
    name = f"op-{uuid.uuid4().hex[:8]}"
    User.objects.create_user(name, password=PASSWORD, is_staff=True)
    return name


def _sign_in(client: Client, username: str, password: str, forwarded_for: str = "") -> Any:
    form = {"username": username, "password": password, "next": "/admin/"}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(LOGIN, form, headers=headers)


def _said(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_user_name_is_locked_after_too_many_failures_from_anywhere(
    clock: FakeClock, failures: list[str]
) -> None:
    name = _staff()
    for n in range(3):
        _sign_in(Client(REMOTE_ADDR=f"10.1.0.{n}"), name, "guess")
    locked = _sign_in(Client(REMOTE_ADDR="10.1.0.9"), name, PASSWORD)
    assert locked.status_code == 200  # the form again, not the redirect into the admin
    assert "Too many failed sign-ins" in _said(locked)
    _sign_in(Client(REMOTE_ADDR="10.1.0.9"), name, "guess")
    assert failures == [name] * 3  # a locked attempt's password is not even checked
    other = _sign_in(Client(REMOTE_ADDR="10.1.0.10"), _staff(), PASSWORD)
    assert other.status_code == 302  # other users and clients sign in as before


def test_a_client_is_locked_after_too_many_failures_whatever_it_forwards(
    clock: FakeClock,
) -> None:
    """Guessing one password per user name is still guessing: the client's address counts
    too, and an X-Forwarded-For it writes itself does not change it (no trusted proxy).
    Attempts refused unchecked do not count against the user names they name."""
    client = Client(REMOTE_ADDR="10.2.0.1")
    for n in range(3):
        _sign_in(client, _staff(), "guess", forwarded_for=f"203.0.113.{n}")
    name = _staff()
    for _ in range(3):
        locked = _sign_in(client, name, PASSWORD, forwarded_for="203.0.113.99")
        assert "Too many failed sign-ins" in _said(locked)
    assert _sign_in(Client(REMOTE_ADDR="10.2.0.2"), name, PASSWORD).status_code == 302


# Django's in-memory cache as it comes: 300 entries, a third dropped when full.
SMALL_CACHE = {
    alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "small"}
    for alias in ("default", "limits")
}


def test_a_locked_client_cannot_flood_a_locked_user_name_out_of_the_cache(
    clock: FakeClock, failures: list[str]
) -> None:
    """A locked client's attempts are refused before any user name is counted, so naming a
    new one each time adds nothing to the cache: even a small one keeps the counts that lock
    others, however many such attempts it is sent."""
    with override_settings(CACHES=SMALL_CACHE):
        LoginThrottle.cache.clear()
        admin = _staff()
        for n in range(3):
            _sign_in(Client(REMOTE_ADDR=f"10.6.0.{n}"), admin, "guess")
        guesser = Client(REMOTE_ADDR="10.6.1.1")
        for n in range(3):
            _sign_in(guesser, f"junk-{n}", "guess")
        for n in range(400):
            assert "Too many failed sign-ins" in _said(_sign_in(guesser, f"flood-{n}", "guess"))
        again = _sign_in(Client(REMOTE_ADDR="10.6.0.9"), admin, "guess")
        assert "Too many failed sign-ins" in _said(again)
        assert failures.count(admin) == 3
        assert len(failures) == 6  # the flood's passwords were not checked either
        LoginThrottle.cache.clear()


def test_signing_in_below_the_limit_works_and_the_lock_expires(clock: FakeClock) -> None:
    name = _staff()
    client = Client(REMOTE_ADDR="10.3.0.1")
    for _ in range(2):
        assert "correct username and password" in _said(_sign_in(client, name, "typo"))
    assert _sign_in(client, name, PASSWORD).status_code == 302
    client.logout()
    # A right password is no failure: this typo is checked, the one after it is not.
    assert "correct username and password" in _said(_sign_in(client, name, "typo"))
    assert "try again in 2 minute(s)" in _said(_sign_in(client, name, PASSWORD))
    clock.advance(seconds=90)  # a minute and a slice (half a minute) after the failures
    assert _sign_in(client, name, PASSWORD).status_code == 302


def test_a_lock_lasts_until_no_window_long_span_holding_now_is_full(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock is cut into half windows (here half hours, from 08:00): failures at 08:44
    are counted in every span of three slices holding them, up to 08:30-10:00, so the lock
    says it lasts until 10:00, and ends then."""
    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/hour"})
    clock.advance(minutes=44, seconds=30)
    name = _staff()
    client = Client(REMOTE_ADDR="10.5.0.1")
    for _ in range(3):
        _sign_in(client, name, "typo")
    assert "try again in 76 minute(s)" in _said(_sign_in(client, name, PASSWORD))
    clock.advance(minutes=75, seconds=29)
    assert "try again in 1 minute(s)" in _said(_sign_in(client, name, PASSWORD))
    clock.advance(seconds=1)  # 10:00
    assert _sign_in(client, name, PASSWORD).status_code == 302


def test_failures_either_side_of_a_window_boundary_count_together(
    clock: FakeClock, failures: list[str]
) -> None:
    """Three failures in the minute's last second and three in the next minute's first:
    counted in windows fixed to the clock, the second three would be checked too (twice the
    limit within two seconds). No span a minute long checks more than the limit."""
    name = _staff()
    client = Client(REMOTE_ADDR="10.5.1.1")
    clock.advance(seconds=59)
    for _ in range(3):
        _sign_in(client, name, "typo")
    clock.advance(seconds=1)  # 08:01:00, the next minute
    for _ in range(3):
        assert "Too many failed sign-ins" in _said(_sign_in(client, name, "typo"))
    assert failures == [name] * 3


def test_no_minute_checks_more_failures_than_the_limit(
    clock: FakeClock, failures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guesser trying every few seconds for several minutes: every span a minute long
    holds at most the limit's (3) checked passwords, wherever it starts."""
    name = _staff()
    client = Client(REMOTE_ADDR="10.5.2.1")
    checked: list[float] = []
    monkeypatch.setattr(
        LoginThrottle, "take_attempt", _noting(LoginThrottle.take_attempt, clock, checked)
    )
    for _ in range(100):
        _sign_in(client, name, "typo")
        clock.advance(seconds=7)
    assert len(failures) == len(checked) >= 6  # it did get some through, minutes apart
    for start in checked:
        assert len([at for at in checked if start <= at < start + 60]) <= 3


def _noting(take: Any, clock: FakeClock, checked: list[float]) -> Any:
    def noted(self: LoginThrottle, request: Any, username: str) -> float:
        wait_s = float(take(self, request, username))
        if wait_s == 0:
            checked.append(clock.now().timestamp())
        return wait_s

    return noted


class _Gate:
    """Holds every password check until each of a test's attempts has either reached one or
    been refused: all the checks the limit lets through are then in flight at once."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.checked: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._all_in = threading.Event()

    def check(self, password: str) -> None:
        with self._lock:
            self.checked.append(password)
            self._open_when_all_in()
        self._all_in.wait(timeout=60)  # only a broken gate waits this long

    def refuse(self) -> None:
        with self._lock:
            self.refused += 1
            self._open_when_all_in()

    def _open_when_all_in(self) -> None:
        if len(self.checked) + self.refused == self.attempts:
            self._all_in.set()


class HeldPasswordCheck:
    """An authentication backend for which every password is wrong, checked as slowly as the
    gate says: the limit is under test here, not the password hasher."""

    gate: ClassVar[_Gate]

    def authenticate(self, request: Any, username: str = "", password: str = "") -> None:
        self.gate.check(password)


@pytest.mark.parametrize("same", ["client", "user name"])
def test_parallel_failures_check_no_more_passwords_than_the_limit(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, same: str
) -> None:
    """Many guesses at once, from one client or for one user name: each is counted before
    its password is checked, so no more than the limit's (3) are ever checked."""
    attempts = 20
    gate = _Gate(attempts)
    monkeypatch.setattr(HeldPasswordCheck, "gate", gate, raising=False)
    factory = RequestFactory()

    def attempt(n: int) -> None:
        address = "10.4.0.1" if same == "client" else f"10.4.1.{n}"
        username = "admin" if same == "user name" else f"user-{n}"
        request = factory.post(LOGIN, REMOTE_ADDR=address)
        form = ThrottledLoginForm(request, data={"username": username, "password": f"guess-{n}"})
        if not form.is_valid() and form.errors.as_data()["__all__"][0].code == "locked":
            gate.refuse()

    with (
        override_settings(AUTHENTICATION_BACKENDS=[f"{__name__}.HeldPasswordCheck"]),
        ThreadPoolExecutor(max_workers=attempts) as pool,
    ):
        list(pool.map(attempt, range(attempts)))
    assert len(gate.checked) == 3
    assert gate.refused == attempts - 3
