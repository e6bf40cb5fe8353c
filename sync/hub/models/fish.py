"""Photos (with their resumable uploads), fish observations and species packs.

Photo bytes live in PostgreSQL (``bytea``), not on a worker's disk, so hub workers stay
stateless behind a load balancer. An upload keeps its chunks as rows until the last one
arrives; the photo's checksum is checked over the joined bytes before they are kept.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models.functions import Now

from sync.hub.models.people import Person
from sync.hub.models.sites import Device, Site


class Photo(models.Model):
    uid = models.UUIDField(unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="photos"
    )
    media_type = models.CharField(max_length=80)
    # The bytes the device declared (its push and upload are matched by them); a face
    # photo's ``data`` is those bytes without their metadata (``sync.hub.face_photos``).
    sha256 = models.CharField(max_length=64)
    byte_size = models.BigIntegerField()
    taken_at = models.DateTimeField(null=True)
    data = models.BinaryField(null=True, editable=False)
    # The review queue's downscaled JPEG of a catch photo, made at its first request
    # (``sync.hub.thumbnails``): in the photo's row, so nothing deletes the photo and keeps
    # it. NULL: not made yet; empty: none can be made (corrupt, or a decompression bomb).
    thumbnail = models.BinaryField(null=True, editable=False)
    # A face image the device keeps by its site's policy (``PhotoUpsert.withheld``): no
    # upload is awaited for it.
    withheld = models.BooleanField(default=False)
    # The device that pushed the photo first: the only one that may change its contents
    # (sha256, size) before its bytes are stored (``sync.hub.apply.photos``). NULL: not
    # known (pushed before the hub kept it, with no catch or upload to tell; or the device
    # row is gone): then no device may.
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"photo {self.uid}"

    @property
    def stored(self) -> bool:
        return self.data is not None


class PhotoUpload(models.Model):
    """One device's upload of a photo's bytes (``sync.hub.uploads``): only the device that
    started it adds to it, so another device of the site cannot make the hub drop it."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True)
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="uploads")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    total_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    received = models.BigIntegerField(default=0)
    completed_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["photo", "device"], name="photo_upload_per_device"),
        )


class UploadChunk(models.Model):
    upload = models.ForeignKey(PhotoUpload, on_delete=models.CASCADE, related_name="chunks")
    offset = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["upload", "offset"], name="upload_chunk_offset"),
        )


class DatabaseTimeField(models.DateTimeField):
    """A time the database stamps at every save: its own clock when the statement that
    writes the row starts (``STATEMENT_TIMESTAMP()``), never the clock of the hub worker
    that saves it, which on another machine may lag. Until the instance is read again,
    its attribute holds the expression, not the time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = Now()
        setattr(model_instance, self.attname, value)
        return value


UNKNOWN, NO_FISH = "unknown", "no_fish"
STATUS_CHOICES = (
    ("identified", "identified"),
    (UNKNOWN, "unknown: below the pack's open-set threshold"),
    (NO_FISH, "no fish: failed the pack's quality gate, or like none of its species"),
)


class FishObservation(models.Model):
    uid = models.UUIDField(unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    # The catch's author, whose push created it: the only device that may change its facts;
    # any other may change only its review (``sync.hub.apply.records``). NULL: none, for
    # good (its device row is gone), or not yet (``author_pending``).
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, related_name="+")
    # Made from a review, pushed by a device that said it did not record the catch (a hub
    # restored from a backup that lost it): no author yet. The first device to push it
    # saying it recorded it becomes its author (``sync.hub.apply.records``).
    author_pending = models.BooleanField(default=False, editable=False)
    observed_at = models.DateTimeField()
    predictions = models.JSONField(default=list)
    confirmed_species = models.CharField(max_length=200, null=True, blank=True)
    needs_review = models.BooleanField(default=False)
    photo_uid = models.UUIDField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    vessel = models.CharField(max_length=200, null=True, blank=True)
    trip = models.CharField(max_length=200, null=True, blank=True)
    haul = models.CharField(max_length=200, null=True, blank=True)
    count = models.IntegerField(default=1)
    length_cm = models.FloatField(null=True, blank=True)
    officer = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    field_versions = models.JSONField(default=dict, editable=False)
    # Who confirmed the species: a hub user, or the officer a device names (a wire ``Name``,
    # up to 200 characters). Changed with the species, never alone (``sync.hub.apply``).
    # Given with no species, the reviewer answered "not a fish" (``not_a_fish``).
    reviewed_by = models.CharField(max_length=200, blank=True, editable=False)
    reviewed_at = models.DateTimeField(null=True, editable=False)
    # The species pack that made ``predictions`` (protocol 3), as the device reported it; NULL
    # when unknown (recorded before devices sent it, or without a classifier). Changed with
    # the predictions, never alone (``sync.hub.apply``).
    pack_version = models.CharField(max_length=200, null=True, blank=True, editable=False)
    # The fish's box in the photo's pixels when one photo holds several fish (protocol 3):
    # all four or none (NULL is the whole photo). What the predictions were made on, so it
    # changes with them, never alone (``sync.hub.apply``).
    crop_x = models.IntegerField(null=True, blank=True, editable=False)
    crop_y = models.IntegerField(null=True, blank=True, editable=False)
    crop_w = models.IntegerField(null=True, blank=True, editable=False)
    crop_h = models.IntegerField(null=True, blank=True, editable=False)
    # The species pack's verdict on ``predictions`` (protocol 4): only ``identified`` makes
    # the first of them its answer; ``status_reason`` says why there was no fish. NULL: not
    # known (recorded before devices sent it). Changed with the predictions, never alone.
    status = models.CharField(
        max_length=16, null=True, blank=True, editable=False, choices=STATUS_CHOICES
    )
    status_reason = models.CharField(max_length=200, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # The database's time of the last change, after which its writer held the site's lock
    # until it committed: what `export-corrections --since` selects on (sync.hub.corrections).
    updated_at = DatabaseTimeField()

    class Meta:
        ordering = ("-observed_at",)
        indexes = (
            models.Index(fields=["site", "needs_review"], name="fish_review_queue"),
            # A photo's catches: what a push of a catch new to the hub is checked against
            # (``sync.hub.apply.same_catch``), once per catch.
            models.Index(
                fields=["photo_uid"], name="fish_photo", condition=models.Q(photo_uid__isnull=False)
            ),
        )

    def __str__(self) -> str:
        return f"{self.answer} at {self.observed_at:%Y-%m-%d %H:%M} ({self.site})"

    @property
    def answer(self) -> str:
        """The species: the confirmed one, else the pack's top-1 where it named one (or its
        verdict was not recorded); "unknown species" or "no fish" where it named none; "not
        a fish" where a reviewer answered so."""
        if self.confirmed_species:
            return str(self.confirmed_species)
        if self.not_a_fish:
            return "not a fish"
        if self.status in (UNKNOWN, NO_FISH):
            return "unknown species" if self.status == UNKNOWN else "no fish"
        return str(self.predictions[0][0]) if self.predictions else "?"

    @property
    def not_a_fish(self) -> bool:
        """A reviewer answered that the photo shows no fish: reviewed, and no species. It is
        resolved, and never a label to train on (``sync.hub.corrections`` exports species)."""
        return bool(self.reviewed_by) and not self.confirmed_species

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        """``(x, y, width, height)`` in the photo's pixels, or None for the whole photo."""
        box = (self.crop_x, self.crop_y, self.crop_w, self.crop_h)
        return None if None in box else box


class FishReview(FishObservation):
    """The review queue: observations the classifier was unsure of (admin only)."""

    class Meta:
        proxy = True
        verbose_name = "fish review"
        verbose_name_plural = "fish review queue"


NEWEST_PACK_FIRST = ("-pk",)
"""Species packs newest first: the order they were published in, which is the order every
site's change log announces them in (``sync.hub.review.publish_species_pack`` takes the
sites' locks before the pack's row, so its key is drawn in that order)."""


class SpeciesPack(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.CharField(max_length=200, unique=True)
    sha256 = models.CharField(max_length=64, editable=False)
    byte_size = models.BigIntegerField(editable=False)
    data = models.BinaryField(editable=False)
    # The manifest's pack schema (``sync.species_packs.archive_schema``): the pack is
    # announced only to devices that read it (``sync.hub.apply.changes``).
    schema = models.PositiveSmallIntegerField(default=1, editable=False)
    notes = models.TextField(blank=True)
    # The hub's clock when it was published, for people: never the order of packs (a clock
    # that ran ahead would make an older pack the newest for good); ``NEWEST_PACK_FIRST`` is.
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = NEWEST_PACK_FIRST

    def __str__(self) -> str:
        return f"species pack {self.version}"
