"""A device gives its own token back (``POST /api/v1/devices/deregister``): a registration
it refused once the code was spent (``sync.client.give_back``) leaves no live token nobody
holds. The device is revoked, as the admin's "Revoke" does; a new code enables it again."""

from __future__ import annotations

from sync.hub.auth import issue_code
from sync.hub.models import Device
from sync.protocol import PROTOCOL_VERSION
from tests.sync.hub.hubkit import Api

DEREGISTER = "/api/v1/devices/deregister"


def _device(api: Api) -> Device:
    device: Device = Device.objects.get(uid=api.device_id)
    return device


def test_a_device_that_deregisters_is_revoked_and_its_token_no_longer_pulls(
    site_slug: str,
) -> None:
    api = Api.register_new(site_slug)

    assert api.client.post(DEREGISTER, headers=api.auth()).status_code == 204

    assert "refused the registration" in _device(api).revoked_reason
    refused = api.get(api.site_path("changes"), {"protocol_version": PROTOCOL_VERSION})
    assert (refused.status_code, refused.json()["error"]) == (403, "device_revoked")


def test_a_new_code_given_meanwhile_stays_usable(site_slug: str) -> None:
    """The old token no longer names the device: it deregisters nothing, and the code the
    admin gave the device since still registers it."""
    api = Api.register_new(site_slug)
    code = issue_code(_device(api)).code

    assert api.client.post(DEREGISTER, headers=api.auth()).status_code == 401

    registered = api.client.post(
        "/api/v1/devices/register", {"code": code}, content_type="application/json"
    )
    assert registered.status_code == 200
    assert not _device(api).revoked


def test_without_a_token_nothing_is_deregistered(site_slug: str) -> None:
    api = Api.register_new(site_slug)

    assert api.client.post(DEREGISTER).status_code == 401

    assert not _device(api).revoked
