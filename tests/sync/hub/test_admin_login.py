"""The admin's sign-in limits failed attempts per client and per user name, so a password
cannot be guessed by brute force; the limit's rate, cache and client rule are the ones the
device registration limit uses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.test import Client

from sync.hub.admin.login import LoginThrottle
from tests.sync.conftest import FakeClock

LOGIN = "/admin/login/"
PASSWORD = "a long and correct password"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """Three failures a minute allowed, on a clock that moves only when told."""
    clock = FakeClock()
    monkeypatch.setattr(LoginThrottle, "THROTTLE_RATES", {"login": "3/minute"})
    monkeypatch.setattr(LoginThrottle, "timer", staticmethod(lambda: clock.now().timestamp()))
    cache.clear()
    yield clock
    cache.clear()


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
    too, and an X-Forwarded-For it writes itself does not change it (no trusted proxy)."""
    client = Client(REMOTE_ADDR="10.2.0.1")
    for n in range(3):
        _sign_in(client, _staff(), "guess", forwarded_for=f"203.0.113.{n}")
    locked = _sign_in(client, _staff(), PASSWORD, forwarded_for="203.0.113.99")
    assert "Too many failed sign-ins" in _said(locked)
    assert _sign_in(Client(REMOTE_ADDR="10.2.0.2"), _staff(), PASSWORD).status_code == 302


def test_signing_in_below_the_limit_works_and_the_lock_expires(clock: FakeClock) -> None:
    name = _staff()
    client = Client(REMOTE_ADDR="10.3.0.1")
    for _ in range(2):
        assert "correct username and password" in _said(_sign_in(client, name, "typo"))
    assert _sign_in(client, name, PASSWORD).status_code == 302
    client.logout()
    _sign_in(client, name, "typo")
    assert "try again in 1 minute(s)" in _said(_sign_in(client, name, PASSWORD))
    clock.advance(seconds=61)
    assert _sign_in(client, name, PASSWORD).status_code == 302
