"""A kiosk that let an erased person in after their erasure (it was offline and still held
them): the hub keeps the event, append-only, and counts and lists it for an operator."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AccessEvent
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

FAMILY = "jaga_hub_access_after_erasure"


def _event(api: Api, person_uid: str | None, minutes_ago: int, decision: str) -> dict[str, Any]:
    when = format_timestamp(timezone.now() - timedelta(minutes=minutes_ago))
    return e.access_event(api.site, person_uid=person_uid, occurred_at=when, decision=decision)


def _counted(site: str) -> float:
    families: dict[str, GaugeMetricFamily] = {f.name: f for f in DatabaseCollector().collect()}
    values = [s.value for s in families[FAMILY].samples if s.labels == {"site": site}]
    return sum(values)


def test_a_verified_access_after_the_erasure_is_kept_counted_and_listed(
    api: Api, operator: Client
) -> None:
    person = e.person(api.site, name="Eve Late")
    uid = person["person_uid"]
    api.push(e.entry("person", "upsert", person))
    erased_at = timezone.now() - timedelta(minutes=30)
    api.push(e.entry("person", "tombstone", e.tombstone(uid, erased_at)))
    before = _event(api, uid, 60, "verified")  # let in before the erasure: as it should be
    after = _event(api, uid, 10, "verified")  # let in after it: the kiosk still held them
    refused = _event(api, uid, 5, "not_matched")  # claimed, not let in
    stranger = _event(api, None, 5, "verified")
    pushed = api.push(*(e.entry("access_event", "upsert", x) for x in (before, after, refused,
                                                                      stranger)))  # fmt: skip
    assert pushed["rejected"] == []
    kept = AccessEvent.objects.filter(site__slug=api.site)
    assert kept.count() == 4  # append-only: every event stays, the erased uid on it
    assert str(kept.get(uid=after["event_uid"]).person_uid) == uid

    assert _counted(api.site) == 1

    site = {"site__id__exact": str(kept.values_list("site_id", flat=True)[0])}
    assert _listed(operator, site) == set(kept.values_list("pk", flat=True))
    flagged = _listed(operator, {"after_erasure": "yes", **site})
    assert flagged == {kept.get(uid=after["event_uid"]).pk}


def _listed(operator: Client, query: dict[str, str]) -> set[int]:
    """The access events the admin's list shows for ``query``."""
    listing = operator.get("/admin/hub/accessevent/", query)
    assert listing.status_code == 200
    return {int(pk) for pk in re.findall(r"/admin/hub/accessevent/(\d+)/change/", listing.text)}
