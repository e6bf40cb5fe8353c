"""Deployment behind the TLS reverse proxy: ``JAGA_HUB_HTTPS`` and packaging/nginx."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

from sync.hub import auth
from sync.hub.admin_guard import FORM_BODY_BYTES
from sync.protocol import MAX_AUDIT_BODY_BYTES, MAX_CHUNK_BYTES, MAX_PUSH_BODY_BYTES
from sync.species_packs import MAX_ARCHIVE_BYTES
from tests.sync.hub.hubkit import REPO, HubProcess, django_admin, example_env, free_port

NGINX_SITE = REPO / "packaging" / "nginx" / "jaga-hub.conf"
MIB = 1024 * 1024

PASSWORD = "correct horse battery staple"
# What the proxy of packaging/nginx/jaga-hub.conf adds to every request.
PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture(scope="module")
def https_hub(hub_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A real ``jaga hub run`` configured as the shipped hub.env.example: behind a TLS proxy."""
    hub = HubProcess(
        hub_database, tmp_path_factory.mktemp("https-hub"), env={"JAGA_HUB_HTTPS": "1"}
    )
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def _cookies(response: httpx.Response) -> dict[str, str]:
    """Each cookie's whole Set-Cookie line, by name."""
    lines = response.headers.get_list("set-cookie")
    return {line.split("=", 1)[0]: line for line in lines}


def _sign_in(hub: HubProcess, host: str, proxy: dict[str, str]) -> httpx.Response:
    """A browser at https://``host`` signing in to the admin through a proxy adding ``proxy``
    (the browser sends the Secure CSRF cookie back: it is on https)."""
    name = f"op-{uuid.uuid4().hex[:8]}"
    User.objects.create_superuser(name, password=PASSWORD)
    headers = {"Host": host, **proxy}
    with httpx.Client(base_url=hub.url, headers=headers) as browser:
        form = browser.get("/admin/login/")
        csrf = _cookies(form)["csrftoken"].split(";", 1)[0]
        return browser.post(
            "/admin/login/",
            data={
                "csrfmiddlewaretoken": _csrf(form.text),
                "username": name,
                "password": PASSWORD,
                "next": "/admin/",
            },
            headers={
                "Origin": f"https://{host}",
                "Referer": f"https://{host}/admin/login/",
                "Cookie": csrf,
            },
        )


def test_sign_in_through_the_tls_proxy_gets_secure_cookies_and_hsts(https_hub: HubProcess) -> None:
    signed_in = _sign_in(https_hub, f"127.0.0.1:{https_hub.port}", PROXY)
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert signed_in.headers["location"] == "/admin/"
    cookies = _cookies(signed_in)
    assert "; secure" in cookies["sessionid"].lower()
    assert "; secure" in cookies["csrftoken"].lower()
    assert signed_in.headers["strict-transport-security"].startswith("max-age=")


def test_the_browsers_https_origin_is_trusted_for_the_hubs_own_names(
    https_hub: HubProcess,
) -> None:
    """A proxy on port 443 that forgets X-Forwarded-Proto: the hub sees http, but the
    browser's https origin is one of its own names, so sign-in still works."""
    signed_in = _sign_in(https_hub, "localhost", {"X-Forwarded-For": "203.0.113.9"})
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert "; secure" in _cookies(signed_in)["sessionid"].lower()


def test_a_prometheus_on_the_hubs_own_host_scrapes_it_with_the_shipped_hub_env(
    hub_database: str, tmp_path: Path
) -> None:
    """hub.env.example names only the public host, yet Prometheus on the hub's host scrapes
    http://127.0.0.1:PORT/metrics (packaging/prometheus/jaga.yml), as the README says."""
    token = secrets.token_urlsafe(24)
    settings = {**example_env(), "JAGA_HUB_METRICS_TOKEN": token}
    del settings["DATABASE_URL"]  # the example's server; the suite's instead
    hub = HubProcess(hub_database, tmp_path / "hub", env=settings)
    hub.start()  # ready: it answers http://127.0.0.1:PORT/api/v1/status
    try:
        scraped = httpx.get(f"{hub.url}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200, scraped.text[:500]
        assert "jaga_hub_http_requests" in scraped.text
        public = httpx.get(f"{hub.url}/api/v1/status", headers={"Host": "hub.example.org"})
        assert public.status_code == 200
        unknown = httpx.get(f"{hub.url}/api/v1/status", headers={"Host": "evil.example"})
        assert unknown.status_code == 400  # the Host check still holds for other names
    finally:
        hub.stop()


def test_check_deploy_leaves_the_redirect_to_the_proxy_and_hsts_reach_to_the_operator() -> None:
    """With JAGA_HUB_HTTPS on, Django's deployment checks find no cookie or HSTS setting
    missing. Left, on purpose: W008 (SECURE_SSL_REDIRECT): the proxy redirects http to https,
    and the hub answers plain http on 127.0.0.1 (the proxy, Prometheus on the same host);
    W005 and W021 (HSTS for subdomains, browsers' preload list): policies for the whole
    domain, not the hub's to make."""
    env = {
        "JAGA_HUB_HTTPS": "1",
        "JAGA_HUB_SECRET_KEY": secrets.token_urlsafe(50),
        "JAGA_HUB_ALLOWED_HOSTS": "hub.example.org",
    }
    done = django_admin("check", "--deploy", env=env)
    assert done.returncode == 0, done.stderr
    assert set(re.findall(r"security\.W\d+", done.stderr + done.stdout)) == {
        "security.W005", "security.W008", "security.W021",
    }  # fmt: skip


# --- the shipped nginx site in front of the hub -------------------------------------------


def _body_limits(site: str) -> tuple[int, int]:
    """The site's client_max_body_size: the server's, and the species pack upload's."""
    sizes = [int(size) * MIB for size in re.findall(r"client_max_body_size (\d+)m;", site)]
    assert len(sizes) == 2, sizes
    return sizes[0], sizes[1]


def test_the_proxys_body_limits_let_the_hub_answer_for_its_own() -> None:
    """nginx's 413 is an HTML page a device cannot read a reason from, and its default (1m)
    is below a full push: every body the hub takes gets through to it."""
    site = NGINX_SITE.read_text(encoding="utf-8")
    default, pack_upload = _body_limits(site)
    largest = max(MAX_PUSH_BODY_BYTES, MAX_AUDIT_BODY_BYTES, MAX_CHUNK_BYTES, FORM_BODY_BYTES)
    assert largest < default
    assert pack_upload > MAX_ARCHIVE_BYTES
    assert "location = /admin/hub/speciespack/add/ {" in site


@pytest.fixture
def nginx(https_hub: HubProcess, tmp_path: Path) -> Iterator[str]:
    """packaging/nginx/jaga-hub.conf served by a real nginx on free ports, with a
    self-signed certificate for localhost, in front of ``https_hub``; yields its https URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed")
    https, http = free_port(), free_port()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(tmp_path / "privkey.pem"),
         "-out", str(tmp_path / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (
        NGINX_SITE.read_text(encoding="utf-8")
        .replace("/etc/ssl/jaga-hub", str(tmp_path))
        .replace("127.0.0.1:8000", f"127.0.0.1:{https_hub.port}")
        .replace("listen 443 ", f"listen 127.0.0.1:{https} ")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
    )
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (tmp_path / "site.conf").write_text(site)
    # As root nginx's workers would run as nobody, who cannot enter the test's folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; daemon off;\n"
        f"events {{}}\nhttp {{ access_log off; client_body_temp_path {tmp_path}/body;"
        f" proxy_temp_path {tmp_path}/proxy; include {tmp_path}/site.conf; }}\n"
    )
    command = [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen(command, stderr=subprocess.PIPE)
    url = f"https://localhost:{https}"
    try:
        _wait_answering(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(20)


def _wait_answering(url: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            httpx.get(f"{url}/api/v1/status", verify=False, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


def test_the_admin_through_the_shipped_nginx_site(nginx: str, https_hub: HubProcess) -> None:
    """A browser on https signs in through nginx, its cookies are Secure and HSTS is sent;
    a pack upload larger than the server's body limit, and a push larger than nginx's
    default, reach the hub."""
    name = f"op-{uuid.uuid4().hex[:8]}"
    User.objects.create_superuser(name, password=PASSWORD)
    with httpx.Client(base_url=nginx, verify=False, timeout=60) as browser:
        form = browser.get("/admin/login/")
        fields = {"csrfmiddlewaretoken": _csrf(form.text), "username": name,
                  "password": PASSWORD, "next": "/admin/"}  # fmt: skip
        signed_in = browser.post("/admin/login/", data=fields, headers={"Referer": str(form.url)})
        assert signed_in.status_code == 302, signed_in.text[:2000]
        assert "; secure" in _cookies(signed_in)["sessionid"].lower()
        assert signed_in.headers["strict-transport-security"].startswith("max-age=")
        add = browser.get("/admin/hub/speciespack/add/")
        upload = browser.post(
            "/admin/hub/speciespack/add/",
            data={"csrfmiddlewaretoken": _csrf(add.text), "version": f"v.{name}", "notes": ""},
            files={"file": ("pack.zip", bytes(6 * MIB), "application/zip")},
            headers={"Referer": str(add.url)},
        )
        assert upload.status_code == 200 and "errorlist" in upload.text  # the hub's form
    # A device's push over nginx's default limit (1m) reaches the hub, which reads it whole.
    code = auth.create_device(f"site-{name}", "boat").code
    registered = httpx.post(f"{nginx}/api/v1/devices/register", json={"code": code}, verify=False)
    push = httpx.post(
        f"{nginx}/api/v1/sites/site-{name}/push",
        content=b'{"padding": "' + b"a" * (2 * MIB) + b'"}',
        headers={
            "Authorization": f"Bearer {registered.json()['token']}",
            "Content-Type": "application/json",
        },
        verify=False,
    )
    assert push.status_code == 400 and push.json()["error"], push.text[:2000]


def _csrf(page: str) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:2000]
    return token.group(1)
