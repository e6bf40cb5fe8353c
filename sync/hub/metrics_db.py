"""What the hub's database holds, read at scrape time: exact, and the same in every worker.

A handful of ``GROUP BY`` queries per scrape (Prometheus scrapes every 15 to 60 s): records
and the review queue per site, fish observations by the species pack's verdict, photos by
how far their bytes got, devices by when they last synced, the species pack devices are told
to use, the audit trail's families (``sync.hub.metrics_audit``: entries anchored, audit
breaks and chains taken after entries deleted on the device; open ones need an operator:
alert on them), and access events verified after the erasure of the person they name (a
kiosk still letting in someone erased: alert on any). Sites are the only label of open
extent, and operators create them one by one; device ids and uids are never labels. Every
family by site gives every site the hub knows, 0 included (``sync.hub.metrics_sites``): an
alert on a series that is absent never fires, nor clears.

If the database does not answer, the scrape still succeeds with ``jaga_hub_database_up 0``
and none of these families, so the request metrics stay visible while PostgreSQL is down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sync.hub.metrics_audit import audit_families
from sync.hub.metrics_journal import missing_erasures
from sync.hub.metrics_sites import count_by_site, every_site
from sync.hub.models import (
    NEWEST_PACK_FIRST,
    AccessEvent,
    DecisionPurge,
    Device,
    FaceTemplate,
    FishObservation,
    Person,
    Photo,
    Site,
    SpeciesPack,
)
from sync.hub.models.events import verified_after_erasure

_log = logging.getLogger(__name__)
# Last-seen buckets, youngest first: a device falls in the first it fits.
LAST_SEEN = (("under_1h", timedelta(hours=1)), ("under_1d", timedelta(days=1)),
             ("under_7d", timedelta(days=7)))  # fmt: skip
OLDER, NEVER = "over_7d", "never"
# The species pack's verdicts (protocol 4), and none where a device did not send one.
VERDICTS = ("identified", "unknown", "no_fish")
NOT_RECORDED = "not_recorded"


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(_families())
        except DatabaseError as error:
            _log.warning("metrics: the database did not answer: %s", error)
            families = []
        up = GaugeMetricFamily(
            "jaga_hub_database_up", "1 when the hub's database answered this scrape"
        )
        up.add_metric([], 1.0 if families else 0.0)
        yield up
        yield from families


def _families() -> Iterator[GaugeMetricFamily]:
    slugs = dict(Site.objects.values_list("pk", "slug"))
    yield _records(slugs)
    yield _per_site(
        slugs,
        "jaga_hub_review_queue",
        "Fish observations waiting for a reviewer, per site",
        FishObservation.objects.filter(needs_review=True),
    )
    yield _per_site(
        slugs,
        "jaga_hub_access_after_erasure",
        "Access events verified after the erasure of the person they name, per site: a kiosk"
        " that still held an erased person let them in",
        verified_after_erasure(),
    )
    yield _verdicts(slugs)
    yield _photos(slugs)
    yield _devices(slugs)
    yield from audit_families(slugs)
    yield from _species_pack()
    yield from _decision_purges()
    yield missing_erasures()  # the erasure journal's, read from the database


def _records(slugs: dict[int, str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "jaga_hub_site_records", "Records the hub keeps, per site and kind", labels=["site", "kind"]
    )
    kinds: dict[str, QuerySet[Any]] = {
        "people": Person.objects.filter(erased_at__isnull=True),
        "face_templates": FaceTemplate.objects.all(),
        "fish_observations": FishObservation.objects.all(),
        "access_events": AccessEvent.objects.all(),
        "photos": Photo.objects.all(),
    }
    for kind, query in kinds.items():
        for site, counts in every_site(slugs, count_by_site(query), ("n",)).items():
            family.add_metric([site, kind], counts["n"])
    return family


def _per_site(
    slugs: dict[int, str], name: str, documentation: str, query: QuerySet[Any]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["site"])
    for site, counts in every_site(slugs, count_by_site(query), ("n",)).items():
        family.add_metric([site], counts["n"])
    return family


def _verdicts(slugs: dict[int, str]) -> GaugeMetricFamily:
    """Fish observations per site by the pack's verdict on their predictions (a share of
    ``unknown`` or ``no_fish`` that grows says the pack no longer fits the catch or the
    camera); ``not_recorded`` for catches from devices older than protocol 4. Every verdict
    of every site is given, 0 included."""
    family = GaugeMetricFamily(
        "jaga_hub_fish_verdicts",
        "Fish observations per site by the species pack's verdict: identified, unknown,"
        " no_fish, not_recorded",
        labels=["site", "status"],
    )
    rows = FishObservation.objects.values("site_id", "status").annotate(n=Count("pk")).order_by()
    by_verdict = [
        {"site_id": row["site_id"], row["status"] if row["status"] in VERDICTS else NOT_RECORDED:
         row["n"]} for row in rows
    ]  # fmt: skip
    statuses = (*VERDICTS, NOT_RECORDED)
    for site, by_status in every_site(slugs, by_verdict, statuses).items():
        for status in statuses:
            family.add_metric([site, status], by_status[status])
    return family


def _photos(slugs: dict[int, str]) -> GaugeMetricFamily:
    """Photos by how far their bytes got: ``stored``, ``uploading`` (an upload started and
    not finished), ``awaiting_upload`` (the metadata came, the bytes not yet) or ``withheld``
    (face images their device keeps by its site's policy: no bytes will come)."""
    family = GaugeMetricFamily(
        "jaga_hub_photos",
        "Photos per site by state: stored, uploading, awaiting_upload, withheld (face images"
        " the device keeps by site policy)",
        labels=["site", "state"],
    )
    # A photo may have an upload per device: each photo counted once.
    waiting = Q(data__isnull=True, uploads__isnull=True)
    rows = (
        Photo.objects.values("site_id")
        .annotate(
            stored=Count("pk", filter=Q(data__isnull=False), distinct=True),
            uploading=Count(
                "pk", filter=Q(data__isnull=True, uploads__isnull=False), distinct=True
            ),
            awaiting_upload=Count("pk", filter=waiting & Q(withheld=False), distinct=True),
            withheld=Count("pk", filter=waiting & Q(withheld=True), distinct=True),
        )
        .order_by()
    )
    states = ("stored", "uploading", "awaiting_upload", "withheld")
    for site, by_state in every_site(slugs, rows, states).items():
        for state in states:
            family.add_metric([site, state], by_state[state])
    return family


def _devices(slugs: dict[int, str]) -> GaugeMetricFamily:
    """Devices that are not revoked, per site and by how long ago they last synced (a push
    or a pull sets ``last_seen_at``)."""
    family = GaugeMetricFamily(
        "jaga_hub_devices",
        "Devices (not revoked) per site by last sync: under_1h, under_1d, under_7d, over_7d, never",
        labels=["site", "last_seen"],
    )
    now = timezone.now()
    counts = {label: Count("pk", filter=Q(last_seen_at__gte=now - age)) for label, age in LAST_SEEN}
    counts["total"] = Count("pk")
    counts[NEVER] = Count("pk", filter=Q(last_seen_at__isnull=True))
    devices = Device.objects.filter(revoked_at__isnull=True)
    rows = devices.values("site_id").annotate(**counts).order_by()
    for site, row in every_site(slugs, rows, tuple(counts)).items():
        counted = 0.0
        for label, _ in LAST_SEEN:
            family.add_metric([site, label], row[label] - counted)  # buckets are cumulative
            counted = row[label]
        family.add_metric([site, OLDER], row["total"] - row[NEVER] - counted)
        family.add_metric([site, NEVER], row[NEVER])
    return family


def _species_pack() -> Iterator[GaugeMetricFamily]:
    """The newest published pack: what every device is told to install."""
    latest = (  # the hub's own rule for "latest" (review.announce_latest_species_pack)
        SpeciesPack.objects.only("version", "published_at").order_by(*NEWEST_PACK_FIRST).first()
    )
    info = GaugeMetricFamily(
        "jaga_hub_species_pack_info",
        "The species pack devices are told to use (1, labelled with its version)",
        labels=["version"],
    )
    published = GaugeMetricFamily(
        "jaga_hub_species_pack_published_timestamp_seconds",
        "When the species pack in use was published (Unix time)",
    )
    if latest is not None:
        info.add_metric([latest.version], 1.0)
        published.add_metric([], latest.published_at.timestamp())
    yield info
    yield published


def _decision_purges() -> Iterator[GaugeMetricFamily]:
    """What decision retention (``sync.hub.retention.purge_decisions``) deleted, over all
    its runs, when it last ran (a timestamp that stops moving says the timer stopped, or
    that it refuses to run: the hub's clock looks ahead, by as much as the gauge of that
    says), and how many devices' chains that run kept whole while a record of each was
    open."""
    totals = DecisionPurge.objects.aggregate(
        access_events=Sum("access_events"),
        applied_entries=Sum("applied_entries"),
        audit_entries=Sum("audit_entries"),
    )
    deleted = GaugeMetricFamily(
        "jaga_hub_decision_purge_deleted",
        "Rows decision retention deleted, over all its runs, by kind (access_events;"
        " applied_entries: idempotency keys; audit_entries: anchored chains' oldest)",
        labels=["kind"],
    )
    for kind, total in totals.items():
        deleted.add_metric([kind], float(total or 0))
    yield deleted
    last = GaugeMetricFamily(
        "jaga_hub_decision_purge_last_run_timestamp_seconds",
        "When decision retention (jaga hub purge-expired) last finished a run (Unix time)",
    )
    newest = DecisionPurge.objects.filter(complete=True).order_by("-finished_at").first()
    if newest is not None:
        last.add_metric([], newest.finished_at.timestamp())
    yield last
    refused = GaugeMetricFamily(
        "jaga_hub_purge_refused_clock_ahead_seconds",
        "How far ahead the hub's clock looked to the last jaga hub purge-expired, which then"
        " erased and deleted nothing (sync.hub.clock_check); 0 when it ran",
    )
    latest = DecisionPurge.objects.order_by("-pk").values_list("clock_ahead", flat=True).first()
    refused.add_metric([], latest.total_seconds() if latest is not None else 0.0)
    yield refused
    held = GaugeMetricFamily(
        "jaga_hub_decision_purge_held_chains",
        "Devices whose anchored audit chain decision retention last kept whole, with entries"
        " older than the window, because a break or pruned record of it is open: look into"
        " the record and acknowledge it, or the device's decisions are kept for ever (jaga"
        " hub purge-expired names each); as counted by the last run, though it stopped after",
    )
    # The last run that counted them, though it stopped after (in its prune, the longest
    # part): the last complete run's count would hide a record acknowledged or opened since.
    counted = (
        DecisionPurge.objects.filter(refused="", held_chains__isnull=False)
        .order_by("-pk")
        .values_list("held_chains", flat=True)
        .first()
    )
    if counted is not None:
        held.add_metric([], float(counted))
    yield held
