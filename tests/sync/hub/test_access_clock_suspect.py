"""A kiosk decision made while the kiosk judged its clock wrong (``clock_suspect``, protocol
7) is kept with why, shown and filtered in the admin's list and on the event's page; one
without it (the clock judged right, or an older device that does not say) is kept as before,
and a replay cannot add or drop the flag of an event stored (events are append-only)."""

from __future__ import annotations

import html
import re

from django.db import connection
from django.test import Client

from sync.hub.models import AccessEvent, Site
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

WHY = (
    "this device's clock looks wrong: it reads 9800 days behind 2026-11-01T00:00:00.000000Z,"
    " the date of this jaga release (edits are stamped after that time; set the clock right)"
)


def _listed(operator: Client, query: dict[str, str]) -> set[int]:
    listing = operator.get("/admin/hub/accessevent/", query)
    assert listing.status_code == 200
    return {int(pk) for pk in re.findall(r"/admin/hub/accessevent/(\d+)/change/", listing.text)}


def test_a_decision_on_a_clock_judged_wrong_is_kept_flagged_and_shown(
    api: Api, operator: Client
) -> None:
    wrong = e.access_event(api.site, occurred_at="2000-01-01T00:01:00.000000Z", clock_suspect=WHY)
    right = e.access_event(api.site)
    pushed = api.push(*(e.entry("access_event", "upsert", x) for x in (wrong, right)))
    assert pushed["rejected"] == []
    kept = AccessEvent.objects.filter(site__slug=api.site)
    flagged, plain = kept.get(uid=wrong["event_uid"]), kept.get(uid=right["event_uid"])
    assert (flagged.clock_suspect, plain.clock_suspect) == (WHY, "")

    site = {"site__id__exact": str(flagged.site_id)}
    assert _listed(operator, {"clock_suspect": "yes", **site}) == {flagged.pk}
    assert _listed(operator, {"clock_suspect": "no", **site}) == {plain.pk}
    listing = operator.get("/admin/hub/accessevent/", site).content.decode()
    assert "clock judged wrong" in listing.lower()
    page = operator.get(f"/admin/hub/accessevent/{flagged.pk}/change/")
    assert page.status_code == 200 and WHY in html.unescape(page.content.decode())


def test_a_replay_can_neither_drop_nor_add_the_flag(api: Api) -> None:
    wrong = e.access_event(api.site, clock_suspect=WHY)
    right = e.access_event(api.site)
    assert (
        api.push(*(e.entry("access_event", "upsert", x) for x in (wrong, right)))["rejected"] == []
    )
    dropped = {k: v for k, v in wrong.items() if k != "clock_suspect"}
    added = {**right, "clock_suspect": WHY}
    answer = api.push(*(e.entry("access_event", "upsert", x) for x in (dropped, added)))
    reasons = [rejection["reason"] for rejection in answer["rejected"]]
    assert len(reasons) == 2 and all("append-only" in reason for reason in reasons), reasons
    assert AccessEvent.objects.get(uid=wrong["event_uid"]).clock_suspect == WHY


def test_an_older_device_sends_no_flag_and_its_decisions_are_kept_as_before(api: Api) -> None:
    """Protocol 6, before the flag: accepted, the event kept with none."""
    event = e.access_event(api.site)
    body = e.batch(api.device_id, [e.entry("access_event", "upsert", event)])
    answer = api.post(api.site_path("push"), body.model_dump(mode="json") | {"protocol_version": 6})
    assert answer.status_code == 200 and answer.json()["rejected"] == [], answer.content
    assert AccessEvent.objects.get(uid=event["event_uid"]).clock_suspect == ""


def test_an_event_a_worker_of_the_release_before_inserts_reads_as_unflagged(api: Api) -> None:
    """Mid-upgrade, a hub worker still running the release before inserts events without the
    column: the database's own default takes them, unflagged."""
    site = Site.objects.get(slug=api.site)
    uid = e.uid()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO hub_accessevent (uid, site_id, device_name, occurred_at, decision,"
            " received_at) VALUES (%s, %s, 'kiosk-1', now(), 'verified', now())",
            [uid, site.pk],
        )
    assert AccessEvent.objects.get(uid=uid).clock_suspect == ""
