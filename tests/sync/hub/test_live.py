"""A real hub process (``jaga hub run``: gunicorn workers) on loopback, killed and restarted."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx

from sync.hub import auth
from sync.hub.models import Device, FishObservation, Site
from sync.protocol import PROTOCOL_VERSION
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import HubProcess, free_port, jaga_hub, one_shot_token


def _register(hub_url: str, site: str) -> tuple[str, dict[str, str]]:
    code = auth.create_device(site, "boat-1").code
    body = httpx.post(f"{hub_url}/api/v1/devices/register", json={"code": code}).json()
    return body["device_id"], {"Authorization": f"Bearer {body['token']}"}


def test_push_and_pull_over_http(live_hub: HubProcess, site_slug: str) -> None:
    device_id, headers = _register(live_hub.url, site_slug)
    base = f"{live_hub.url}/api/v1/sites/{site_slug}"
    pushed = e.batch(device_id, [e.entry("fish_observation", "upsert", e.observation())])
    result = httpx.post(f"{base}/push", json=pushed.model_dump(mode="json"), headers=headers)
    assert result.json()["acknowledged"] == [str(pushed.entries[0].idempotency_key)]
    params = {"cursor": 0, "protocol_version": PROTOCOL_VERSION}
    changes = httpx.get(f"{base}/changes", params=params, headers=headers).json()
    observations = [c for c in changes["changes"] if c["entity"] == "fish_observation"]
    assert [c["entity_uid"] for c in observations] == [str(pushed.entries[0].entity_uid)]
    wrong = httpx.get(f"{base}/changes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unknown_token"
    schema = httpx.get(f"{live_hub.url}/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/sites/{site}/push" in schema.content


def test_a_host_name_the_hub_was_not_given_is_refused(live_hub: HubProcess) -> None:
    """With any Host header trusted, the absolute URLs the hub builds (redirects, links)
    would point wherever a request says."""
    assert httpx.get(f"{live_hub.url}/admin/login/").status_code == 200
    forged = httpx.get(f"{live_hub.url}/admin/login/", headers={"Host": "attacker.example"})
    assert forged.status_code == 400


def test_hub_run_without_its_host_names_says_so_and_starts_nothing(
    hub_database: str, tmp_path: Path
) -> None:
    """Not a hub that answers 400 to every device: the operator is told what to set."""
    data = tmp_path / "hub"
    done = jaga_hub(
        "run", "--data", str(data), "--port", str(free_port()), database_url=hub_database
    )
    assert done.returncode == 1
    assert "JAGA_HUB_ALLOWED_HOSTS" in done.stderr
    assert not data.exists()


def test_a_killed_hub_restarts_and_a_replayed_batch_is_stored_once(
    hub_database: str, tmp_path: Path, site_slug: str
) -> None:
    hub = HubProcess(hub_database, tmp_path / "hub")
    hub.start()
    try:
        device_id, headers = _register(hub.url, site_slug)
        pushed = e.batch(device_id, [e.entry("fish_observation", "upsert", e.observation())])
        url = f"{hub.url}/api/v1/sites/{site_slug}/push"
        httpx.post(url, json=pushed.model_dump(mode="json"), headers=headers)
        hub.kill()  # SIGKILL: the device never heard back, so it will push the batch again
        hub.start()
        again = httpx.post(url, json=pushed.model_dump(mode="json"), headers=headers).json()
        assert again["acknowledged"] == [str(pushed.entries[0].idempotency_key)]
        assert FishObservation.objects.filter(uid=pushed.entries[0].entity_uid).count() == 1
    finally:
        hub.stop()


def test_create_device_command_prints_a_working_code(
    hub_database: str, site_slug: str, tmp_path: Path
) -> None:
    done = jaga_hub(
        "create-device", "--site", site_slug, "--name", "kiosk-cli",
        "--data", str(tmp_path / "hub"), database_url=hub_database,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    code = re.search(r"one-time code: (\S+)", done.stdout)
    assert code, done.stdout
    device, _ = auth.register(code.group(1))
    assert device.site.slug == site_slug


def _form_token(page: str, path: str) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, path
    return token.group(1)


def test_a_one_time_code_is_never_sent_in_a_cookie(live_hub: HubProcess, site_slug: str) -> None:
    """The admin's messages were kept in a cookie: the code of an added device, or of the
    "issue a new code" action, came back signed but readable in ``messages`` on the
    redirect, and then in the browser's cookie jar. A code is now the answer's own page,
    never stored (not in the session either: ``test_admin``)."""
    from django.contrib.auth.models import User

    name, password = f"op-{uuid.uuid4().hex[:8]}", "a long and correct password"
    User.objects.create_superuser(name, password=password)
    site = Site.objects.create(slug=site_slug)
    cookies: list[str] = []
    codes: list[str] = []
    with httpx.Client(base_url=live_hub.url) as browser:

        def post(path: str, form: dict[str, Any]) -> None:
            """Post a form and follow its redirect, if any, as a browser does."""
            page = browser.get(path).text
            tokens = {"csrfmiddlewaretoken": _form_token(page, path)}
            if 'name="_once"' in page:
                tokens["_once"] = one_shot_token(page)
            form = {**form, **tokens}
            shown = browser.post(path, data=form)
            cookies.extend(shown.headers.get_list("set-cookie"))
            if shown.status_code == 302:
                shown = browser.get(shown.headers["location"])
                cookies.extend(shown.headers.get_list("set-cookie"))
            assert shown.status_code == 200, shown.text[-1000:]
            codes.extend(re.findall(r"One-time code for .*?: ([0-9A-Z-]{17})", shown.text))

        post("/admin/login/", {"username": name, "password": password, "next": "/admin/"})
        post("/admin/hub/device/add/", {"site": site.pk, "name": "kiosk-live", "_save": "Save"})
        device = Device.objects.get(site=site, name="kiosk-live")
        post("/admin/hub/device/",
             {"action": "issue_code", "post": "yes", "_selected_action": device.pk})  # fmt: skip
    assert not [c for c in cookies if c.startswith("messages=")], cookies
    assert len(codes) == 2
    assert auth.register(codes[-1])[0].pk == device.pk
