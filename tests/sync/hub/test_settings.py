"""Settings from the environment: the Redis cache, the database URL, the host names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.hub.dburl import (
    DatabaseUrlError,
    database_settings,
    parse_database_url,
    with_database,
)
from sync.hub.settings import REDIS_TIMEOUT_S, allowed_hosts, caches_for, trusted_origins
from tests.sync.hub.hubkit import REPO, django_admin, example_env, free_port


def test_redis_url_selects_the_shared_redis_cache() -> None:
    assert caches_for("redis://cache:6379/1")["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/1",
        "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S},
    }
    assert caches_for("")["default"]["BACKEND"].endswith("LocMemCache")


def test_the_limits_have_a_cache_of_their_own_with_room_to_spare() -> None:
    """The sign-in and registration counters share Redis when there is one; in memory they
    do not share the default cache's room, nor are they dropped after Django's default 300
    entries."""
    assert caches_for("redis://cache:6379/1")["limits"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/1",
        "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_S, "socket_timeout": REDIS_TIMEOUT_S},
    }
    limits, default = caches_for("")["limits"], caches_for("")["default"]
    assert limits["BACKEND"].endswith("LocMemCache")
    assert limits["LOCATION"] != default.get("LOCATION", "")
    assert limits["OPTIONS"]["MAX_ENTRIES"] >= 100_000


def test_database_urls_for_tcp_and_unix_sockets() -> None:
    tcp = parse_database_url("postgresql://jaga:s%40cret@db.example:6543/hub?sslmode=require")
    assert (tcp["USER"], tcp["PASSWORD"], tcp["HOST"], tcp["PORT"], tcp["NAME"]) == (
        "jaga", "s@cret", "db.example", "6543", "hub",
    )  # fmt: skip
    assert tcp["OPTIONS"] == {"sslmode": "require"}
    socket = parse_database_url("postgresql://postgres@/jaga?host=/tmp/pg&port=5432")
    assert (socket["HOST"], socket["PORT"], socket["OPTIONS"]) == ("/tmp/pg", "5432", {})
    assert with_database("postgresql://u@h:1/a?x=1", "b") == "postgresql://u@h:1/b?x=1"


def test_only_a_database_password_that_is_the_examples_placeholder_is_refused() -> None:
    """Compared whole: a real password containing the word was refused as the placeholder,
    and the placeholder given as a ``password`` query parameter (what psycopg is handed)
    was not."""
    for refused in (example_env()["DATABASE_URL"], "postgresql://jaga:change%2Dme@db:5432/jaga",
                    "postgresql://jaga@db/jaga?sslmode=require&password=CHANGE-ME"):  # fmt: skip
        with pytest.raises(DatabaseUrlError, match="placeholder"):
            database_settings(refused)
    for usable in ("postgresql://jaga:s3cret@db/jaga", "postgresql://postgres@/jaga?host=/tmp",
                   "postgresql://change-me:s3cret@change-me/change-me",
                   "postgresql://jaga:Exchange-Meter-7Qz!@db/jaga",
                   "postgresql://jaga@db/jaga?password=change-me-2"):  # fmt: skip
        assert database_settings(usable)["ENGINE"].endswith("postgresql"), usable


def test_a_database_url_that_cannot_be_read_is_refused_by_name_without_its_password() -> None:
    for malformed in ("postgresql://jaga:s3cret@[db/jaga", "postgresql://jaga:s3cret@db:x/jaga"):
        with pytest.raises(DatabaseUrlError, match="DATABASE_URL is not a URL") as refused:
            database_settings(malformed)
        assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["postgresql://jaga:CHANGE-ME@db:5432/jaga", "postgresql://jaga:x@[db/jaga"]
)
def test_plain_django_admin_on_the_hub_settings_refuses_the_database_url_by_name(
    url: str,
) -> None:
    """The check lived in ``jaga hub`` and wsgi.py only: django-admin with the hub's settings
    ran on the placeholder, and a malformed URL was a bare ValueError."""
    done = django_admin("check", env={"DATABASE_URL": url})
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: jaga hub: DATABASE_URL")


@pytest.mark.parametrize(
    ("command", "url"),
    [
        (["run"], None),
        (["purge-expired"], None),
        (["manage", "check"], None),
        (["manage", "check"], "postgresql://jaga@db/jaga?password=CHANGE-ME"),
        (["manage", "check"], "postgresql://jaga:x@[db/jaga"),
    ],
)
def test_hub_commands_refuse_the_examples_database_password_by_name(
    tmp_path: Path, command: list[str], url: str | None
) -> None:
    """An operator who copied hub.env.example and kept its DATABASE_URL line got a traceback
    about the example's host, or a hub on a database whose password anyone can read."""
    name, *rest = command
    env = example_env() | ({"DATABASE_URL": url} if url else {})
    done = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", name, "--data", str(tmp_path), *rest],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("jaga: error: DATABASE_URL") and done.stderr.count("\n") == 1
    assert "placeholder" in done.stderr or "not a URL" in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything started or was written


def test_a_bare_gunicorn_refuses_the_examples_database_password() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "sync.hub.wsgi:application",
        ],
        env={**example_env(), "PATH": "/usr/bin:/bin", "JAGA_HUB_SECRET_KEY": "k" * 50},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "DATABASE_URL" in done.stderr and "placeholder" in done.stderr


def test_the_hub_answers_to_its_own_names_and_always_to_the_local_ones() -> None:
    """Any Host header trusted, the absolute URLs the hub builds point wherever a request
    says: ``*`` only when the operator writes it. Loopback always: Prometheus on the hub's
    host scrapes http://127.0.0.1."""
    local = [".localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts("") == local
    assert allowed_hosts(" , ") == local
    assert allowed_hosts(" hub.example.org, ,10.0.0.5 ") == ["hub.example.org", "10.0.0.5", *local]
    assert allowed_hosts("127.0.0.1,hub.example.org") == [
        "127.0.0.1", "hub.example.org", ".localhost", "[::1]",
    ]  # fmt: skip
    assert allowed_hosts("*") == ["*", *local]


def test_the_browsers_https_origins_are_those_of_the_hubs_own_names() -> None:
    assert trusted_origins(["hub.example.org", ".fish.example", "10.0.0.5", "[::1]"]) == [
        "https://hub.example.org", "https://*.fish.example", "https://10.0.0.5", "https://[::1]",
    ]  # fmt: skip
    assert trusted_origins(["*"]) == []
