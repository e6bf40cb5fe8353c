"""What a device needs to sync: the hub's URL, its site, its device id and token, and the
site's policy on what travels.

Values come from the environment first (a deployment's unit file), then from what
``jaga sync register`` kept in the encrypted store, never from a command-line argument (the
token would show in ``ps`` and shell history). The token is never part of a ``repr``.

``JAGA_HUB_URL``          the hub, ``http(s)://host:port``
``JAGA_SYNC_SITE``        the device's site slug
``JAGA_SYNC_DEVICE_ID``   the device's uuid (from registration)
``JAGA_SYNC_TOKEN``       the device's bearer token (from registration)
``JAGA_SYNC_FACE_IMAGES`` ``1`` lets enrolment photos travel; by default only embeddings do

The token is taken out of the process's environment (``take_token``) before any ``jaga``
command runs (``main``, which hands the commands that read it, ``jaga sync`` and ``jaga
kiosk``, what it returns), and by the app's settings: a process that jaga starts does not
inherit the hub's bearer token for this device.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from uuid import UUID

from sync.client.errors import SyncConfigError
from sync.hub_url import kept_hub_url

# The protocol's numbers from sync.limits, not sync.protocol: `jaga sync`'s parser reads
# this module's variable names, and the wire models would load pydantic with them.
from sync.limits import MAX_BATCH_ENTRIES, MAX_CHUNK_BYTES, MAX_PULL_LIMIT, SLUG_PATTERN
from sync.store.env_secrets import take_secret
from sync.store.key_memory import wipe, zero

HUB_URL_ENV = "JAGA_HUB_URL"
SITE_ENV = "JAGA_SYNC_SITE"
DEVICE_ID_ENV = "JAGA_SYNC_DEVICE_ID"
TOKEN_ENV = "JAGA_SYNC_TOKEN"
FACE_IMAGES_ENV = "JAGA_SYNC_FACE_IMAGES"
_SLUG = re.compile(SLUG_PATTERN)
# Printable ASCII without spaces, as the hub's tokens are (``jaga_`` and URL-safe base64):
# anything else cannot be sent in an HTTP header.
_TOKEN = re.compile(r"[!-~]{1,200}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Sends after which an entry the hub still refuses as retryable is quarantined: a conflict
# that passes clears in a few syncs; one that lasts this long needs an operator.
MAX_RETRYABLE_ATTEMPTS = 20


@dataclass(frozen=True)
class SitePolicy:
    """What leaves the device. Embeddings always travel (1:N search at the hub needs them);
    face images only where the site's operator has allowed it."""

    send_face_images: bool = False


@dataclass(frozen=True)
class Tuning:
    """Sizes and timeouts; the defaults suit a boat's slow link and a kiosk's LAN alike."""

    batch_entries: int = 200
    pull_limit: int = 500
    chunk_bytes: int = 256 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_batches_per_sync: int = 200
    max_pages_per_sync: int = 200
    max_uploads_per_sync: int = 50
    max_retryable_attempts: int = MAX_RETRYABLE_ATTEMPTS

    def __post_init__(self) -> None:
        if not 1 <= self.batch_entries <= MAX_BATCH_ENTRIES:
            raise ValueError(f"batch_entries must lie in 1..{MAX_BATCH_ENTRIES}")
        if not 1 <= self.pull_limit <= MAX_PULL_LIMIT:
            raise ValueError(f"pull_limit must lie in 1..{MAX_PULL_LIMIT}")
        if not 1 <= self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must lie in 1..{MAX_CHUNK_BYTES}")
        if min(self.connect_timeout_s, self.read_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
        if min(self.max_batches_per_sync, self.max_pages_per_sync, self.max_uploads_per_sync) < 1:
            raise ValueError("per-sync limits must be at least 1")
        if self.max_retryable_attempts < 1:
            raise ValueError("max_retryable_attempts must be at least 1")


@dataclass(frozen=True)
class Registration:
    """The identity the hub gave this device (``POST /api/v1/devices/register``)."""

    hub_url: str
    site: str
    device_id: UUID
    token: str = field(repr=False)
    # The id the hub named itself by (``HUB_ID_HEADER``); None from a hub before hub ids.
    hub_id: UUID | None = None

    def __post_init__(self) -> None:
        check_hub_url(self.hub_url)
        if not _SLUG.match(self.site):
            raise SyncConfigError(f"not a site slug: {self.site!r}")
        if not _TOKEN.fullmatch(self.token):  # what an HTTP header can carry, and the hub issues
            raise SyncConfigError("the device token is empty or malformed")


@dataclass(frozen=True)
class SyncConfig:
    registration: Registration
    policy: SitePolicy = SitePolicy()
    tuning: Tuning = Tuning()

    @property
    def hub_url(self) -> str:
        return self.registration.hub_url

    @property
    def site(self) -> str:
        return self.registration.site

    @property
    def device_id(self) -> UUID:
        return self.registration.device_id


def check_hub_url(url: str) -> str:
    """``url`` without a trailing slash; :class:`SyncConfigError` for one that is not
    http(s)://host[:port] (an unclosed IPv6 bracket, a port that is no port number included)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for one that is not a number in 0..65535
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0
    except ValueError:
        usable = False
    if not usable:
        raise SyncConfigError(f"the hub URL must be http(s)://host[:port], not {url!r}")
    if parts.query or parts.fragment:
        raise SyncConfigError("the hub URL takes no query or fragment")
    return kept_hub_url(url)


def resolve_config(
    env: Mapping[str, str],
    stored: Mapping[str, str],
    *,
    tuning: Tuning | None = None,
) -> SyncConfig:
    """The configuration from ``env`` over ``stored`` (``sync.client.state`` names).

    Raises ``SyncConfigError`` naming what is missing, without echoing the token.
    """

    def value(env_name: str, stored_name: str) -> str:
        return env.get(env_name) or stored.get(stored_name, "")

    fields = {
        "hub URL": value(HUB_URL_ENV, "hub_url"),
        "site": value(SITE_ENV, "site"),
        "device id": value(DEVICE_ID_ENV, "device_id"),
        "device token": value(TOKEN_ENV, "device_token"),
    }
    missing = [name for name, text in fields.items() if not text]
    if missing:
        raise SyncConfigError(
            f"no {', '.join(missing)}: run `jaga sync register --hub URL` or set "
            f"{HUB_URL_ENV}, {SITE_ENV}, {DEVICE_ID_ENV} and {TOKEN_ENV}"
        )
    try:
        device_id = UUID(fields["device id"])
    except ValueError:
        raise SyncConfigError(f"the device id is not a uuid: {fields['device id']!r}") from None
    registration = Registration(
        check_hub_url(fields["hub URL"]), fields["site"], device_id, fields["device token"]
    )
    faces = parse_flag(value(FACE_IMAGES_ENV, "policy.send_face_images"), FACE_IMAGES_ENV)
    return SyncConfig(registration, SitePolicy(faces), tuning or Tuning())


def take_token(environ: MutableMapping[str, str]) -> Mapping[str, str]:
    """``environ`` to read the sync settings from, with the device token taken out of
    ``environ`` itself (``os.environ``: unset in the C environment too, so no child process
    inherits it) and kept in the mapping returned alone. Call it once per command, and
    pass what it returns to every reader: a second call finds no token. A child that needs
    the token is given it explicitly."""
    held = take_secret(environ, TOKEN_ENV)  # os.environ's copies, /proc's too, overwritten
    if held is None:
        return ChainMap({}, environ)
    try:
        token = held.decode("utf-8", "surrogateescape")  # as os.environ would have given it
    finally:
        zero(held)
    return ChainMap({TOKEN_ENV: token}, environ)


def forget_token(env: Mapping[str, str]) -> None:
    """Take the token out of a mapping :func:`take_token` made, and overwrite it where
    nothing else holds it (``sync.store.key_memory.wipe``): for a command that has read what
    it needs of the settings and runs on (``jaga kiosk run``). Another mapping is left as it
    is: it is a test's or the app's settings', not this process's copy."""
    if not isinstance(env, ChainMap):
        return
    token = env.maps[0].pop(TOKEN_ENV, None)
    if token is not None:
        wipe(token)


def parse_flag(text: str, name: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (empty: off); anything else is an error."""
    flag = text.strip().lower()
    if flag not in _TRUE | _FALSE:
        raise SyncConfigError(f"{name} must be 1 or 0, not {text!r}")
    return flag in _TRUE
