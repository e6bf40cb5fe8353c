"""A registration ``jaga sync register`` refuses after the one-time code was spent (the hub
named another id than the one the device expected: ``sync.client.register_answer``) is given
back: the device, holding the answer's token for the moment, has the hub revoke it
(``sync.client.give_back``). Before, the hub kept a device with a live token nobody held,
and the operator was told to revoke it by hand; a hub without the endpoint still is. The
hub is the real one; the old hub is a registration kept in the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sync.client import transport
from sync.hub.auth import digest
from sync.hub.models import Device
from sync.protocol import PROTOCOL_VERSION
from tests.sync.client.test_register_hub_answer import (
    OLD_HUB,
    OLD_ID,
    StatusPage,
    _kiosk,
    _naming_old_hub,
    _unavailable,
    status,
)
from tests.sync.client.test_register_moved import env, register
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env", "status"]  # the fixtures, used by name

Answer = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class Registrations:
    """``status``'s page, the tokens the hub's register answers carried, and how
    deregistering is answered (None: by the real hub)."""

    status: StatusPage
    tokens: list[str] = field(default_factory=list)
    deregister: Answer = lambda request: None


@pytest.fixture
def registrations(status: StatusPage) -> Registrations:
    """Around ``status``'s transport: keeps each register answer's token."""
    seen = Registrations(status)
    inner = transport.hub_http_client

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/devices/deregister"):
            instead = seen.deregister(request)
            if instead is not None:
                return instead
        with inner() as http:
            answer = http.send(request)
            answer.read()
        if request.url.path.endswith("/devices/register") and answer.status_code == 200:
            seen.tokens.append(answer.json()["token"])
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    status.env.setattr(
        "sync.client.transport.hub_http_client",
        lambda: httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return seen


def _before_deregister(request: httpx.Request) -> httpx.Response:
    """A hub of a release before the endpoint: not found."""
    return httpx.Response(404, json={"error": "not_found", "reason": "no such page"})


def _pulls(hub: HubProcess, site: str, token: str) -> int:
    """The status of a pull made with ``token``."""
    answer = httpx.get(
        f"{hub.url}/api/v1/sites/{site}/changes",
        params={"protocol_version": PROTOCOL_VERSION},
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.status_code


def _refused(registrations: Registrations, hub: HubProcess, site: str, db: Path) -> str:
    """``jaga sync register`` refused (it prints why): the token the code was spent for."""
    assert register(registrations.status.env, db, hub.url, site) != 0
    assert len(registrations.tokens) == 1
    return registrations.tokens[0]


def test_a_status_naming_another_hub_gives_the_spent_token_back(
    registrations: Registrations,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "lied" / "jaga.db"
    _kiosk(db, OLD_HUB, site_slug, OLD_ID)
    registrations.status.answers.append(_naming_old_hub)
    capsys.readouterr()

    token = _refused(registrations, live_hub, site_slug, db)

    err = capsys.readouterr().err
    assert "revoked by the hub at this device's request" in err and "new code" in err
    assert "revoke it in the hub's admin" not in err
    device = Device.objects.get(token_hash=digest(token))
    assert device.revoked and "refused the registration" in device.revoked_reason
    assert _pulls(live_hub, site_slug, token) == 403


def test_another_hub_after_all_gives_the_spent_token_back(
    registrations: Registrations,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The status failed, the address said the same hub, the answer names another."""
    db = tmp_path / "reinstalled" / "jaga.db"
    _kiosk(db, live_hub.url, site_slug, OLD_ID)
    registrations.status.answers.append(_unavailable)
    capsys.readouterr()

    token = _refused(registrations, live_hub, site_slug, db)

    err = capsys.readouterr().err
    assert "another hub" in err and "revoked by the hub at this device's request" in err
    assert Device.objects.get(token_hash=digest(token)).revoked
    assert _pulls(live_hub, site_slug, token) == 403


def test_a_hub_without_the_endpoint_leaves_the_device_to_the_admin(
    registrations: Registrations,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "older" / "jaga.db"
    _kiosk(db, OLD_HUB, site_slug, OLD_ID)
    registrations.status.answers.append(_naming_old_hub)
    registrations.deregister = _before_deregister
    capsys.readouterr()

    token = _refused(registrations, live_hub, site_slug, db)

    err = capsys.readouterr().err
    assert "revoke it in the hub's admin" in err and "new code" in err
    assert not Device.objects.get(token_hash=digest(token)).revoked
    assert _pulls(live_hub, site_slug, token) == 200
