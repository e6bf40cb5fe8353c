"""A hub served under a path prefix (``SCRIPT_NAME``, as a proxy mounting it at ``/hub``
sets it): Django routes by the path after the prefix, and the body guards must judge the
same path. They judged ``request.path``, prefix included, so under ``/hub`` the API's
limits were never applied and the admin's 1 MB form limit was applied to the API instead: a
device's ordinary 2 MB push was refused as a form, in text, not JSON."""

from __future__ import annotations

import json
from typing import Any

from sync.hub.models import FishObservation
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

PREFIX = "/hub"


def _post(api: Api, path: str, body: bytes) -> Any:
    return api.client.post(
        path, body, content_type="application/json", headers=api.auth(), SCRIPT_NAME=PREFIX
    )


def test_a_push_under_a_prefix_is_judged_by_the_apis_limit(api: Api) -> None:
    payload = e.observation()
    batch = e.batch(api.device_id, [e.entry("fish_observation", "upsert", payload)])
    padded = json.dumps(batch.model_dump(mode="json")).encode() + b" " * 2_000_000
    response = _post(api, api.site_path("push"), padded)
    assert response.status_code == 200, response.content[:200]
    assert FishObservation.objects.filter(uid=payload["observation_uid"]).exists()


def test_an_oversized_push_under_a_prefix_is_the_apis_413_in_json(api: Api) -> None:
    huge = b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"
    response = _post(api, api.site_path("push"), huge)
    assert response.status_code == 413
    assert "at most" in response.json()["reason"]


def test_a_staff_pack_upload_under_a_prefix_is_judged_as_a_pack_not_a_form(api: Api) -> None:
    """The species pack upload may be as large as a pack; under the prefix it was held to
    the 1 MB of any other admin form."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("pack-publisher"))
    body = b"x" * 2_000_000
    response = client.post(
        "/admin/hub/speciespack/add/", body, content_type="application/octet-stream",
        SCRIPT_NAME=PREFIX,
    )  # fmt: skip
    assert response.status_code != 413, response.content[:200]
