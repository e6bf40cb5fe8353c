"""Device credentials: one-time registration codes, bearer tokens, revocation.

Codes and tokens are random secrets shown once; the hub stores only their SHA-256 (a fast
hash is enough for 60+ bits of randomness, unlike a password). A wrong or unknown token is
401, a revoked device is 403 — the client pauses sync on either and tells its operator.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from sync.hub.audit_breaks import start_anew
from sync.hub.erasure_replay import apply_siteless_erasures
from sync.hub.errors import DeviceRevoked, HubError, UnknownToken
from sync.hub.models import Device, Site
from sync.hub.review import announce_latest_species_pack
from sync.protocol import RegisterResult
from sync.protocol.types import SLUG_RULE, check_slug

# Crockford base32 without I, L, O, U: codes are read aloud and typed on a kiosk keypad.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS = 3
_CODE_GROUP_LENGTH = 5
TOKEN_PREFIX = "jaga_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalize_code(code: str) -> str:
    return code.replace("-", "").upper()


def new_code() -> str:
    groups = (
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP_LENGTH))
        for _ in range(_CODE_GROUPS)
    )
    return "-".join(groups)


@dataclass(frozen=True)
class IssuedCode:
    device: Device
    code: str


def create_device(site_slug: str, name: str) -> IssuedCode:
    """A new device of ``site_slug`` (created if new) with its first one-time code;
    ``ValueError``, storing nothing, for a slug the protocol does not carry (``check_slug``)."""
    check_slug(site_slug)
    with transaction.atomic():
        site, created = Site.objects.get_or_create(slug=site_slug, defaults={"name": site_slug})
        if created:  # a new site's change log starts empty: tell it of the current pack
            announce_latest_species_pack(site)
            apply_siteless_erasures(site)  # its people a restore lost, erased since
        device = Device.objects.create(site=site, name=name)
        return issue_code(device)


def issue_code(device: Device, by: str = "") -> IssuedCode:
    """A fresh one-time code. The current token dies now (a lost or stolen device must not
    keep working until the replacement registers), and a revoked device is re-enabled. The
    device's audit chain starts anew (``sync.hub.audit_breaks.start_anew``): the replacement's
    store has its own; ``by`` (who issued it) is kept with that record. Raises
    ``OpenAuditBreakError``, changing nothing, while the device's chain has an open break
    or an open pruned record."""
    code = new_code()
    device.token_hash = None
    device.code_hash = digest(normalize_code(code))
    device.code_expires_at = timezone.now() + timedelta(seconds=settings.JAGA_HUB_CODE_TTL_S)
    device.revoked_at = None
    device.revoked_reason = ""
    with transaction.atomic():
        device.save(
            update_fields=[
                "token_hash", "code_hash", "code_expires_at", "revoked_at", "revoked_reason"
            ]
        )  # fmt: skip
        start_anew(device, by)
    return IssuedCode(device, code)


def register(code: str, sites: Sequence[str] | None = None) -> tuple[Device, RegisterResult]:
    """Consume a one-time code; returns the device and the answer that carries its new token
    (shown once). The answer is built before the code is spent, in the same transaction: one
    that cannot be built (a hub bug) leaves the code usable. So does a code of another site
    than ``sites``, those the device has records of to push (``refuse_other_site``)."""
    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .select_related("site")
            .filter(code_hash=digest(normalize_code(code)))
            .first()
        )
        if device is None:
            raise HubError(404, "unknown_code", "no device waits for this registration code")
        if device.code_expires_at is None or device.code_expires_at < timezone.now():
            raise HubError(410, "expired_code", "this registration code has expired")
        refuse_uncarried_slug(device.site)
        refuse_other_site(device.site, sites)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        result = RegisterResult(device_id=device.uid, site=device.site.slug, token=token)
        device.token_hash = digest(token)
        device.code_hash = None
        device.code_expires_at = None
        device.registered_at = timezone.now()
        device.save()
        return device, result


def refuse_other_site(site: Site, sites: Sequence[str] | None) -> None:
    """409 ``site_mismatch`` when the device has records of ``sites`` to push and the code is
    for none of them: registered, it would see each refused as forbidden, for good."""
    if sites is None or site.slug in sites:
        return
    raise HubError(
        409,
        "site_mismatch",
        f"the code is for site {site.slug}, and the device has records of"
        f" {', '.join(sorted(sites))} to push: the code was not used",
    )


def refuse_uncarried_slug(site: Site) -> None:
    """409 naming ``site`` when its slug is one the protocol does not carry (stored before
    migration 0020 checked slugs): the device is told what the hub's admin must do, and
    its code stays usable for after the rename."""
    try:
        check_slug(site.slug)
    except ValueError:
        raise HubError(
            409,
            "site_slug_invalid",
            f"this device's site {site.slug!r} has a slug devices cannot carry ({SLUG_RULE}):"
            " a hub admin must rename it (the hub's admin, Sites); then register again"
            " with the same code",
        ) from None


def revoke(device: Device, reason: str) -> None:
    device.revoked_at = timezone.now()
    device.revoked_reason = reason[:200]
    device.code_hash = None
    device.save(update_fields=["revoked_at", "revoked_reason", "code_hash"])


def give_back(token: str, reason: str) -> None:
    """Revoke the device ``token`` names while it still does: one whose token a new code
    replaced meanwhile keeps that code (``revoke`` would spend it)."""
    Device.objects.filter(token_hash=digest(token), revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:200]
    )


def usable(device: Device | None) -> Device:
    """The device a token names, if it may still act; else what the device is told (an
    unknown token: none, or one a new code replaced; a revoked device)."""
    if device is None:
        raise UnknownToken("unknown token: register the device again")
    if device.revoked:
        raise DeviceRevoked(f"device revoked: {device.revoked_reason or 'by an operator'}")
    return device


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` → the device, or 401/403 with a reason."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Device, str] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # IsAuthenticated answers 401 "credentials were not provided"
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme != self.keyword or not token or len(token) > 200:
            raise exceptions.AuthenticationFailed("use 'Authorization: Bearer <device token>'")
        device = Device.objects.select_related("site").filter(token_hash=digest(token)).first()
        return usable(device), token

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="jaga-hub"'
