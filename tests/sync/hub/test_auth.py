"""Registration (one-time code -> token), wrong and revoked tokens, re-issued codes."""

from __future__ import annotations

import io
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from sync.hub import auth
from sync.hub.api import sync_views
from sync.hub.api.errors import retry_after
from sync.hub.apply.push import apply_batch
from sync.hub.errors import DeviceRevoked, UnknownToken
from sync.hub.models import Device, Person, Site
from sync.hub.settings import caches_for
from sync.hub.throttle import RegisterThrottle, client_network
from sync.protocol import AUTH_ERROR_CODES, PROTOCOL_VERSION
from tests.sync.conftest import FakeClock
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

REGISTER = "/api/v1/devices/register"


def _register(client: Client, code: str) -> Any:
    return client.post(REGISTER, {"code": code}, content_type="application/json")


def test_code_registers_once_and_only_hashes_are_stored(site_slug: str) -> None:
    issued = auth.create_device(site_slug, "kiosk-1")
    client = Client()
    first = _register(client, issued.code.lower())  # typed by hand: case does not matter
    assert first.status_code == 200
    token = first.json()["token"]
    assert first.json()["site"] == site_slug
    again = _register(client, issued.code)
    assert again.status_code == 404
    assert again.json()["error"] == "unknown_code"
    stored = Device.objects.get(uid=first.json()["device_id"])
    assert stored.token_hash == auth.digest(token)
    assert token not in str(Device.objects.filter(pk=stored.pk).values().first())


def test_expired_code_is_refused(site_slug: str) -> None:
    issued = auth.create_device(site_slug, "kiosk-1")
    Device.objects.filter(pk=issued.device.pk).update(
        code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = _register(Client(), issued.code)
    assert response.status_code == 410
    assert "expired" in response.json()["reason"]


@pytest.mark.parametrize("slug", ["Bad Site", "", "-x", "good\n"])
def test_a_device_of_a_site_slug_devices_cannot_carry_is_not_created(slug: str) -> None:
    """Its registration answer could never be sent (the protocol names its site)."""
    name = f"kiosk-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError, match="not a site slug"):
        auth.create_device(slug, name)
    assert not Site.objects.filter(slug=slug).exists()
    assert not Device.objects.filter(name=name).exists()


def _site_stored_before_slugs_were_checked(site_slug: str) -> tuple[auth.IssuedCode, str]:
    """A device of a site whose slug the old admin took (before migration 0020)."""
    issued = auth.create_device(site_slug, "kiosk-1")
    stored = f"Old-{site_slug}"
    Site.objects.filter(slug=site_slug).update(slug=stored)
    return issued, stored


def test_a_device_of_a_site_with_a_slug_devices_cannot_carry_is_told_to_rename_it(
    site_slug: str, operator: Client
) -> None:
    """It got a 500 ("a bug, not you") on every try. Now the answer names the site and the
    fix, the code stays unspent, a superuser renames the slug in the admin (fixed once a
    site exists, except such a slug: no device of it could register), and the code
    registers the device."""
    issued, stored = _site_stored_before_slugs_were_checked(site_slug)
    refused = _register(Client(), issued.code)
    assert refused.status_code == 409
    assert refused.json()["error"] == "site_slug_invalid"
    assert stored in refused.json()["reason"] and "rename" in refused.json()["reason"]
    device = Device.objects.get(pk=issued.device.pk)
    assert device.code_hash is not None and device.token_hash is None
    renamed = operator.post(
        f"/admin/hub/site/{device.site_id}/change/", {"slug": site_slug, "name": "Harbour"}
    )
    assert renamed.status_code == 302, renamed.content.decode()[-1500:]
    registered = _register(Client(), issued.code)
    assert registered.status_code == 200 and registered.json()["site"] == site_slug
    fixed = operator.get(f"/admin/hub/site/{device.site_id}/change/").content.decode()
    assert 'name="slug"' not in fixed  # a slug devices carry is fixed again


def test_the_hub_check_lists_sites_with_a_slug_devices_cannot_carry(site_slug: str) -> None:
    """`jaga hub manage check` said nothing about them."""
    _, stored = _site_stored_before_slugs_were_checked(site_slug)
    said = io.StringIO()
    try:
        call_command("check", stdout=said, stderr=said)
    finally:
        Site.objects.filter(slug=stored).update(slug=site_slug)
    assert stored in said.getvalue() and "rename" in said.getvalue()


def test_missing_wrong_and_malformed_tokens_are_401_with_reason(api: Api) -> None:
    path = api.site_path("changes")
    cases = {
        "none": {},
        "wrong": api.auth("jaga_not-a-real-token"),
        "scheme": {"Authorization": f"Token {api.token}"},
    }
    for name, headers in cases.items():
        response = api.get(path, headers=headers)
        assert response.status_code == 401, name
        assert response.json()["reason"], name
        assert response["WWW-Authenticate"].startswith("Bearer"), name
        assert response.json()["error"] in AUTH_ERROR_CODES, name  # a device pauses on it
    assert api.get(path, headers=api.auth("jaga_x")).json()["error"] == "unknown_token"


def test_revoked_device_is_403_and_cannot_push(api: Api) -> None:
    auth.revoke(Device.objects.get(uid=api.device_id), "stolen from the boat")
    response = api.push_response(e.entry("person", "upsert", e.person(api.site)))
    assert response.status_code == 403
    assert response.json()["error"] == "device_revoked"
    assert "stolen" in response.json()["reason"]
    assert "device_revoked" in AUTH_ERROR_CODES


def test_every_401_or_403_code_of_the_device_api_is_one_a_device_pauses_on() -> None:
    """A device takes a 401/403 as the hub refusing it only with one of
    ``AUTH_ERROR_CODES`` (any other is a captive portal's, backed off): so every code the
    hub's device API refuses with a 401 or 403 is in it. The metrics endpoint is not the
    device API."""
    hub = Path(auth.__file__).parent
    sent: set[str] = set()
    for path in hub.rglob("*.py"):
        if path.name == "metrics_http.py":
            continue
        text = path.read_text()
        sent.update(re.findall(r'HubError\(\s*40[13],\s*"(\w+)"', text))
        sent.update(re.findall(r'error_response\(\s*40[13],\s*"(\w+)"', text))
        sent.update(re.findall(r'default_code = "(\w+)"', text))
    assert {"wrong_site", "wrong_device", "unknown_token", "device_revoked"} <= sent
    assert sent <= AUTH_ERROR_CODES, sent - AUTH_ERROR_CODES


def test_a_push_authenticated_before_a_revocation_applies_nothing(api: Api) -> None:
    """The device passed authentication, then its push waited for the locks while an
    operator revoked it: once locked, the push sees the revocation and applies nothing."""
    authenticated = Device.objects.get(uid=api.device_id)
    auth.revoke(Device.objects.get(uid=api.device_id), "stolen from the boat")
    person = e.person(api.site)
    batch = e.batch(api.device_id, [e.entry("person", "upsert", person)])
    with pytest.raises(DeviceRevoked, match="stolen"):
        apply_batch(authenticated, batch)
    assert not Person.objects.filter(uid=person["person_uid"]).exists()


def test_new_code_kills_the_old_token_and_re_registers(api: Api) -> None:
    device = Device.objects.get(uid=api.device_id)
    issued = auth.issue_code(device)
    assert api.get(api.site_path("changes")).status_code == 401
    response = _register(api.client, issued.code)
    assert response.status_code == 200
    assert response.json()["device_id"] == api.device_id
    assert Api(api.site, api.device_id, response.json()["token"], api.client).pull() is not None


@pytest.fixture
def three_a_minute(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three registration attempts a minute per client, on a clock that stands still (set on
    DRF's base throttle, which the registration limit is built on)."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"register": "3/minute"})
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: 1_800_000_000.0))
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("three_a_minute")
def test_the_registration_limit_cannot_be_dodged_with_a_forwarded_for_header() -> None:
    """Codes are guessable only by brute force, which the limit slows down per client: a
    client that writes its own X-Forwarded-For is still the same client."""
    client = Client(REMOTE_ADDR="10.9.9.9")
    answers = [
        client.post(
            "/api/v1/devices/register",
            {"code": "AAAAA-AAAAA-AAAAA"},
            content_type="application/json",
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        for n in range(5)
    ]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429, 429]
    # A minute from the attempts, and the slice (half a minute) they were in.
    assert answers[-1]["Retry-After"] == "90"


@pytest.mark.usefixtures("three_a_minute")
def test_the_registration_limit_cannot_be_dodged_by_moving_within_an_ipv6_network() -> None:
    """An IPv6 client holds a /64 (2^64 addresses) and may answer from any of them: counted
    per address, each new one had the whole limit again. So is an IPv4 client written as
    an IPv4-mapped IPv6 address (a dual-stack proxy's ``::ffff:a.b.c.d``) the same client."""
    sources = [f"2001:db8:1:2::{n:x}" for n in range(1, 6)]
    answers = [_register(Client(REMOTE_ADDR=source), "AAAAA-AAAAA-AAAAA") for source in sources]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429, 429]
    mapped = [Client(REMOTE_ADDR=a) for a in ("10.9.6.1", "::ffff:10.9.6.1", "10.9.6.1")]
    answers = [_register(client, "AAAAA-AAAAA-AAAAA") for client in mapped * 2]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429, 429, 429]
    # Another network is another client.
    assert _register(Client(REMOTE_ADDR="2001:db8:1:3::1"), "AAAAA-AAAAA-AAAAA").status_code == 404
    # A server that names no address: every such request one client, as before.
    assert client_network(None) is None and client_network("unknown") == "unknown"


def test_registrations_either_side_of_a_window_boundary_count_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three codes tried in a minute's last second and three in the next one's first: no
    span a minute long lets more than the limit (3) reach the codes."""
    clock = FakeClock()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"register": "3/minute"})
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: clock.now().timestamp()))
    RegisterThrottle.cache.clear()
    client = Client(REMOTE_ADDR="10.9.7.1")
    clock.advance(seconds=59)
    answers = [_register(client, f"AAAAA-AAAAA-{n:05d}").status_code for n in range(3)]
    clock.advance(seconds=1)  # the next minute
    answers += [_register(client, f"AAAAA-AAAAA-{n:05d}").status_code for n in range(3, 6)]
    RegisterThrottle.cache.clear()
    assert answers == [404, 404, 404, 429, 429, 429]


def test_a_lock_ending_within_a_second_says_retry_after_one_second_not_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three codes at a slice's start lock the client until three slices (90 s) later: an
    attempt 0.4 s before then waits 0.4 s. ``Retry-After: 0`` would send a device straight
    back into the same lock; the hub rounds up, to at least one second."""
    clock = FakeClock()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"register": "3/minute"})
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: clock.now().timestamp()))
    RegisterThrottle.cache.clear()
    client = Client(REMOTE_ADDR="10.9.8.1")
    answers = [_register(client, f"AAAAA-AAAAA-{n:05d}") for n in range(3)]
    clock.advance(seconds=89.6)
    late = _register(client, "AAAAA-AAAAA-00003")
    clock.advance(seconds=0.4)
    after = _register(client, "AAAAA-AAAAA-00004")
    RegisterThrottle.cache.clear()
    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert late.status_code == 429 and late["Retry-After"] == "1", late.headers
    assert after.status_code == 404  # the lock did end with the second it named
    # The hub's own rule, whatever DRF's ``Throttled`` rounds (3.18 rounds up already).
    assert [retry_after(wait) for wait in (0, 0.4, 1.0, 89.2)] == ["1", "1", "1", "90"]


def test_a_pull_while_the_database_is_away_is_told_to_come_back_in_five_seconds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same number to every device (each spreads its retry above it: the device's
    back-off), in whole seconds, with the hub's error body."""

    def away(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(sync_views, "changes_after", away)
    params = {"cursor": 0, "protocol_version": PROTOCOL_VERSION}
    answer = api.get(api.site_path("changes"), params)
    assert answer.status_code == 503 and answer["Retry-After"] == "5", answer.headers
    assert answer.json()["error"] == "database_unavailable"


@pytest.mark.usefixtures("three_a_minute")
def test_a_flood_from_many_clients_does_not_lift_a_registration_lock() -> None:
    """Each client's counter is a cache entry: in Django's default in-memory cache (300
    entries, the oldest third dropped when full) a flood from 400 addresses would drop a
    locked client's count, and with it the lock. The limits' counters have a room of
    their own (``settings.caches_for``)."""
    with override_settings(CACHES=caches_for("")):
        RegisterThrottle.cache.clear()
        guesser = Client(REMOTE_ADDR="10.7.0.1")
        answers = [_register(guesser, f"AAAAA-AAAAA-{n:05d}").status_code for n in range(4)]
        assert answers == [404, 404, 404, 429]
        for n in range(400):
            _register(Client(REMOTE_ADDR=f"10.8.{n // 256}.{n % 256}"), "AAAAA-AAAAA-AAAAA")
        assert _register(guesser, "AAAAA-AAAAA-99999").status_code == 429
        RegisterThrottle.cache.clear()


class HeldCache(LocMemCache):
    """Django's in-memory cache, where each request's first use of a registration counter
    (after a read, before a write) waits until every request of the test has made its own:
    all of them read the limit's count before any of them changes it, as requests arriving
    at once may."""

    gate: ClassVar[threading.Barrier]
    _held = threading.local()

    def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        value = super().get(key, *args, **kwargs)
        self._hold(key)
        return value

    def set(self, key: str, *args: Any, **kwargs: Any) -> None:
        self._hold(key)
        super().set(key, *args, **kwargs)

    def add(self, key: str, *args: Any, **kwargs: Any) -> bool:
        self._hold(key)
        return bool(super().add(key, *args, **kwargs))

    def incr(self, key: str, *args: Any, **kwargs: Any) -> int:
        self._hold(key)
        return int(super().incr(key, *args, **kwargs))

    def _hold(self, key: str) -> None:
        if "register" in key and not getattr(self._held, "done", False):
            self._held.done = True
            self.gate.wait(timeout=60)  # only a broken gate waits this long


HELD_CACHE = {
    alias: {"BACKEND": f"{__name__}.HeldCache", "LOCATION": "held-registrations"}
    for alias in ("default", "limits")
}


@pytest.mark.usefixtures("three_a_minute")
def test_parallel_registrations_from_one_client_get_no_more_than_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many codes tried at once from one client: each attempt is counted atomically, so no
    more than the limit's (3) reach the codes, and the others are refused (429)."""
    attempts = 20
    monkeypatch.setattr(HeldCache, "gate", threading.Barrier(attempts), raising=False)
    answers: list[int] = []

    def attempt() -> None:
        try:
            code = f"AAAAA-AAAAA-{len(answers):05d}"
            answers.append(_register(Client(REMOTE_ADDR="10.9.8.7"), code).status_code)
        finally:
            connection.close()  # this thread's own

    with override_settings(CACHES=HELD_CACHE):
        cache.clear()
        threads = [threading.Thread(target=attempt) for _ in range(attempts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cache.clear()
    assert {status: answers.count(status) for status in answers} == {404: 3, 429: attempts - 3}


def test_a_push_authenticated_before_a_new_code_was_issued_applies_nothing(api: Api) -> None:
    """A new code is how an operator cuts off a lost or stolen device: a push that passed
    authentication just before must not apply once it holds the locks."""
    authenticated = Device.objects.get(uid=api.device_id)
    auth.issue_code(Device.objects.get(uid=api.device_id))
    person = e.person(api.site)
    batch = e.batch(api.device_id, [e.entry("person", "upsert", person)])
    with pytest.raises(UnknownToken):
        apply_batch(authenticated, batch)
    assert not Person.objects.filter(uid=person["person_uid"]).exists()
