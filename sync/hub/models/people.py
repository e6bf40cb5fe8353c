"""People and their face templates.

An erased person stays as a tombstone row (uid, site, ``erased_at``) with every personal
field blanked and every template and photo deleted, so a late edit from an offline device
finds the tombstone and cannot bring the person back. ``field_versions`` holds, per field,
the ``[timestamp, device]`` stamp that last won (last-writer-wins, ``sync.hub.apply.lww``).

A person whose consent's ``retain_until`` has passed (``past_retention``) is treated as gone
before ``sync.hub.retention`` erases them: never matched, never pulled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import QuerySet
from pgvector.django import HnswIndex, VectorField

from sync.hub.models.sites import Device, Site

TEMPLATE_DIM = 128
# HNSW build parameters: pgvector's defaults, measured by `python -m sync.hub.bench_search`.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


class Person(models.Model):
    uid = models.UUIDField(unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="people")
    external_id = models.CharField(max_length=200, blank=True)
    display_name = models.CharField(max_length=200, blank=True)
    consent = models.JSONField(default=dict, blank=True)
    # ``consent["retain_until"]``, kept by ``save``: search and every pull leave out the
    # people past it, through an index of the live ones (a cast of the JSON on every live
    # row cost a search four times its time at 50,000 people).
    retain_until = models.DateTimeField(null=True, editable=False)
    field_versions = models.JSONField(default=dict, editable=False)
    erased_at = models.DateTimeField(null=True, editable=False)
    erasure_reason = models.CharField(max_length=1000, blank=True, editable=False)
    # When the erasure's line was known to be in the erasure journal (set after the append,
    # outside the erasure's transaction, or by a replay that read the line): an erased row
    # without it is journaled by the catch-up (``sync.hub.erasure_catchup``).
    journaled_at = models.DateTimeField(null=True, editable=False)
    created_by = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("site__slug", "display_name")
        verbose_name_plural = "people"
        # Erasing is neither a change nor a delete (the tombstone stays): its own permission,
        # so a staff user who may look at people cannot erase them everywhere.
        permissions = (("erase_person", "Can erase a person everywhere"),)
        indexes = (
            models.Index(
                fields=("retain_until",),
                condition=models.Q(erased_at=None),
                name="person_live_retain_until",
            ),
            models.Index(
                fields=("id",),
                condition=models.Q(erased_at__isnull=False, journaled_at=None),
                name="person_erased_unjournaled",
            ),
        )

    def __str__(self) -> str:
        return f"(erased {self.uid})" if self.erased else f"{self.display_name} ({self.site})"

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, with ``retain_until`` read from the consent (the only way it is set)."""
        self.retain_until = _retention_date(self.consent)
        fields = kwargs.get("update_fields")
        if fields is not None and "consent" in fields:
            kwargs["update_fields"] = {*fields, "retain_until"}
        super().save(*args, **kwargs)


def _retention_date(consent: Any) -> datetime | None:
    """A consent's ``retain_until`` (the protocol checked it at the push), or None."""
    text = consent.get("retain_until") if isinstance(consent, dict) else None
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def past_retention(now: datetime) -> QuerySet[Person]:
    """The people not yet erased whose consent's ``retain_until`` is ``now`` or earlier."""
    return Person.objects.filter(erased_at=None, retain_until__lte=now)


class ErasureRewrite(models.Model):
    """One rewrite of the tables erased data stays in (``sync.hub.reclaim``): when it began
    tells whether an erasure since is still in the files."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()


class SitelessErasure(models.Model):
    """A journaled erasure (``sync.hub.erasure_replay``) of a person the database does not
    hold, of a site it does not hold either (made after the backup it was restored from):
    applied, and deleted, when a site of that slug is made again
    (``erasure_replay.apply_siteless_erasures``), so a kiosk of that site that never pulled
    the tombstone cannot push the person back. Only what the journal line says."""

    person_uid = models.UUIDField(unique=True)
    site_slug = models.CharField(max_length=200, db_index=True)
    erased_at = models.DateTimeField()
    kind = models.CharField(max_length=20)


class FaceTemplate(models.Model):
    uid = models.UUIDField(unique=True)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="templates")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    model_id = models.CharField(max_length=200)
    model_version = models.CharField(max_length=200)
    embedding = VectorField(dimensions=TEMPLATE_DIM)
    quality = models.FloatField()
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = (
            HnswIndex(
                name="face_template_hnsw_cosine",
                fields=["embedding"],
                m=HNSW_M,
                ef_construction=HNSW_EF_CONSTRUCTION,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["model_id", "model_version"], name="face_template_model"),
        )

    def __str__(self) -> str:
        return f"template {self.uid} ({self.model_id}@{self.model_version})"
