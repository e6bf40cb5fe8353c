"""Settings from the environment: the Redis cache, the database URL, the host names."""

from __future__ import annotations

from sync.hub.dburl import parse_database_url, with_database
from sync.hub.settings import allowed_hosts, caches_for, trusted_origins


def test_redis_url_selects_the_shared_redis_cache() -> None:
    assert caches_for("redis://cache:6379/1")["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/1",
    }
    assert caches_for("")["default"]["BACKEND"].endswith("LocMemCache")


def test_the_limits_have_a_cache_of_their_own_with_room_to_spare() -> None:
    """The sign-in and registration counters share Redis when there is one; in memory they
    do not share the default cache's room, nor are they dropped after Django's default 300
    entries."""
    assert caches_for("redis://cache:6379/1")["limits"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/1",
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
