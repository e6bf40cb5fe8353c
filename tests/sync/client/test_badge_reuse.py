"""A badge enrolled again (the same subject on another kiosk, or a typo) with real kiosks on a
live hub: the hub keeps one live person per badge and the pushing kiosk learns why, and a
kiosk that pulls a person whose badge it still gives to someone else keeps that change
until it can apply, instead of losing the person for good."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone

from sync.client.config import MAX_RETRYABLE_ATTEMPTS
from sync.client.status import read_status
from sync.hub.clock_check import boot_fields
from sync.hub.models import DecisionPurge, FaceTemplate, Person
from sync.hub.retention import purge_all
from sync.store import Store
from tests.sync.client.devices import MODEL, enrol, new_device
from tests.sync.hub.hubkit import HubProcess


def _quarantined_people(store: Store) -> dict[str, str]:
    return {q.entity_uid: q.reason for q in store.outbox.quarantined() if q.entity == "person"}


def _holder(store: Store, badge: str) -> str | None:
    person = store.people.by_external_id(badge)
    return None if person is None else person.person_uid


def _set_aside(store: Store) -> list[tuple[str, str]]:
    rows = store.database.query("SELECT entity_uid, person_uid FROM deferred_changes")
    return [(str(a), str(b)) for a, b in rows]


def test_a_badge_enrolled_again_elsewhere_is_refused_until_its_holder_is_erased(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    d = new_device(tmp_path, live_hub.url, site_slug, "kiosk-d")
    with a.open() as sa, b.open() as sb, d.open() as sd, httpx.Client() as http:
        ca, cb, cd = a.client(sa, http), b.client(sb, http), d.client(sd, http)
        p = enrol(sa, site_slug, "E1", seed=7)
        ca.sync_once()
        cb.sync_once()
        p2 = enrol(sd, site_slug, "E1", seed=7)  # D was offline: the same subject, again

        cd.sync_once()

        reason = _quarantined_people(sd)[p2]  # D is told, and the operator sees why
        assert f"held by person {p} of this site" in reason and "E1" not in reason
        cb.sync_once()
        assert _holder(sb, "E1") == p  # nothing reached B
        sa.people.erase(p, operator="dpo", reason="subject request")
        ca.sync_once()
        assert sd.outbox.requeue_quarantined(None, operator="officer-7") >= 1
        cd.sync_once()
        cd.sync_once()  # the template, once the hub holds its person
        cb.sync_once()

        assert _holder(sb, "E1") == p2
        assert len(sb.gallery(MODEL)) == 1


def test_a_pulled_person_whose_badge_is_taken_here_arrives_once_the_badge_is_free(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    d = new_device(tmp_path, live_hub.url, site_slug, "kiosk-d")
    caplog.set_level(logging.INFO, logger="sync.client")
    with b.open() as sb, d.open() as sd, httpx.Client() as http:
        cb, cd = b.client(sb, http), d.client(sd, http)
        p2 = enrol(sd, site_slug, "E7", seed=7)
        cd.sync_once()
        q = enrol(sb, site_slug, "E7", seed=8)  # B, offline, gave the badge to someone else

        report = cb.sync_once()

        assert f"held by person {p2} of this site" in _quarantined_people(sb)[q]
        assert report.pull.set_aside == 2  # the person and their template, kept in the store
        assert {person for _, person in _set_aside(sb)} == {p2}
        assert _holder(sb, "E7") == q
        status = "\n".join(read_status(sb, {}).lines())
        assert f"set aside    person {p2} pulled" in status and f"held by person {q}" in status
        cb.sync_once()  # tried again, still held: kept
        assert len(_set_aside(sb)) == 2
        sb.people.erase(q, operator="officer-7", reason="badge typed wrong")

        cb.sync_once()

        assert _holder(sb, "E7") == p2
        assert len(sb.gallery(MODEL)) == 1 and _set_aside(sb) == []
    logged = [r.getMessage() for r in caplog.records if "pulled change" in r.getMessage()]
    assert logged and not any("E7" in line for line in logged)  # logs outlive an erasure


def test_an_erasure_drops_what_was_set_aside_for_the_person(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    b = new_device(tmp_path, live_hub.url, site_slug, "kiosk-b")
    d = new_device(tmp_path, live_hub.url, site_slug, "kiosk-d")
    with b.open() as sb, d.open() as sd, httpx.Client() as http:
        cb, cd = b.client(sb, http), d.client(sd, http)
        p2 = enrol(sd, site_slug, "E8", seed=7)
        cd.sync_once()
        q = enrol(sb, site_slug, "E8", seed=8)
        cb.sync_once()
        assert len(_set_aside(sb)) == 2
        sd.people.erase(p2, operator="dpo", reason="subject request")
        cd.sync_once()

        cb.sync_once()

        assert _set_aside(sb) == []
        sb.people.erase(q, operator="officer-7", reason="badge typed wrong")
        cb.sync_once()
        assert sb.people.by_external_id("E8") is None and len(sb.gallery(MODEL)) == 0


def test_a_badge_put_off_for_the_hubs_clock_is_quarantined_then_requeued_once_trusted(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The live hub's clock check refuses (its last run on this boot read 3 days behind, set
    right since). A holder's consent ran out and kiosk D enrols their badge again: the hub
    keeps the holder and answers "not yet"; D sends it at each sync up to its limit, then
    quarantines it and its template, and the hub's reason says so and what to do. Once the
    operator's ``--trust-clock`` run went ahead, ``jaga sync requeue --all`` enrols them."""
    now = timezone.now()
    DecisionPurge.objects.all().delete()
    behind = now - timedelta(days=3)
    DecisionPurge.objects.create(
        started_at=behind, finished_at=behind, keep_days=365, cutoff=behind - timedelta(days=365),
        access_events=0, applied_entries=0, complete=True, **boot_fields(),
    )  # fmt: skip
    a = new_device(tmp_path, live_hub.url, site_slug, "kiosk-a")
    d = new_device(tmp_path, live_hub.url, site_slug, "kiosk-d")
    with a.open() as sa, d.open() as sd, httpx.Client() as http:
        ca, cd = a.client(sa, http), d.client(sd, http)
        holder = enrol(sa, site_slug, "E9", seed=9)
        ca.sync_once()
        person = Person.objects.get(uid=holder)  # their consent ran out
        person.consent = {**person.consent, "retain_until": (now - timedelta(hours=1)).isoformat()}
        person.save()
        new = enrol(sd, site_slug, "E9", seed=10)
        for _ in range(MAX_RETRYABLE_ATTEMPTS):
            assert _quarantined_people(sd) == {}
            cd.sync_once()

        reason = _quarantined_people(sd)[new]
        assert f"still refused after {MAX_RETRYABLE_ATTEMPTS} attempts" in reason
        assert "then quarantined" in reason and "jaga sync requeue --all" in reason, reason
        assert Person.objects.get(uid=holder).erased_at is None
        with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
            assert purge_all(trust_clock=True).decisions is not None  # the operator's word
        assert sd.outbox.requeue_quarantined(None, operator="officer-7") == 2
        cd.sync_once()

        assert Person.objects.get(uid=new).external_id == "E9"
        assert FaceTemplate.objects.filter(person__uid=new).count() == 1
        assert sd.outbox.quarantined() == []
