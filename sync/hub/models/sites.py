"""Sites, the devices that belong to them, and the staff users who work for them.

A device is created by an operator, gets a one-time code, and exchanges it for a bearer
token (``sync.hub.auth``). Only hashes of codes and tokens are stored. ``last_cursor`` is the
site's change-log counter: bumping it takes the site row's lock, so change cursors of one
site are handed out and committed in order (see ``sync.hub.apply.changes``). ``log_epoch``
names that log: renewed when the log was rewound (a restore from a backup), so devices
that pulled past it pull again from the start (``sync.hub.log_epoch``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from sync.protocol.types import check_slug


def validate_site_slug(value: str) -> None:
    """A slug the protocol carries (``check_slug``), for every form that makes a site:
    Django's slug takes capitals and a leading - or _, which devices cannot register with."""
    try:
        check_slug(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid") from None


class Site(models.Model):
    slug = models.SlugField(max_length=63, unique=True, validators=[validate_site_slug])
    name = models.CharField(max_length=200, blank=True)
    last_cursor = models.BigIntegerField(default=0, editable=False)
    log_epoch = models.UUIDField(default=uuid.uuid4, editable=False)
    log_epoch_renewed_at = models.DateTimeField(null=True, editable=False)
    # Renewed by an admin (``jaga hub renew-log-epoch``, after a restore): what shows the
    # hub's copy of the devices' audit chains may have been rewound (``sync.hub.audit``). A
    # renewal the hub made itself on a device's pull (a tip it sealed) does not set it.
    log_epoch_restored_at = models.DateTimeField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("slug",)

    def __str__(self) -> str:
        return str(self.slug)


class LogEpochRenewal(models.Model):
    """The last renewal of every site's log epoch by ``jaga hub renew-log-epoch`` (one row):
    when, and PostgreSQL's identity of the database then (``sync.hub.log_epoch_once``), so a
    second run with no restore since renews nothing. A restore brings back the row of the
    backup, whose identity names tables ``pg_restore --clean`` has since made anew."""

    renewed_at = models.DateTimeField()
    database = models.CharField(max_length=200)


class Device(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    code_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    code_expires_at = models.DateTimeField(null=True, editable=False)
    registered_at = models.DateTimeField(null=True, editable=False)
    revoked_at = models.DateTimeField(null=True, editable=False)
    revoked_reason = models.CharField(max_length=200, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, editable=False)
    last_sequence = models.BigIntegerField(default=0, editable=False)
    may_search_all_sites = models.BooleanField(
        default=False, help_text="May run 1:N searches across every site (central look-ups)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("site__slug", "name")
        # Central search reaches every site's faces: granting it is not part of managing
        # one site's devices (the add or change permission).
        permissions = (
            ("grant_central_search", "Can let a device search every site (central look-ups)"),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.site.slug})"

    @property
    def is_authenticated(self) -> bool:
        """DRF treats the authenticated device as the request's user."""
        return True

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class SiteMembership(models.Model):
    """A staff user works for a site: the admin's per-site pages (the fish review queue,
    people, access events, devices, audit) show them that site's records only, and its
    review queue's corrections and photos. Superusers see every site; a staff user linked
    to no site sees none of them (``sync.hub.admin.staff``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="site_memberships",
        limit_choices_to={"is_staff": True},
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("site__slug", "user__username")
        constraints = (
            models.UniqueConstraint(fields=["user", "site"], name="site_membership_once"),
        )

    def __str__(self) -> str:
        return f"{self.user} works for {self.site}"
