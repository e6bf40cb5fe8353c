"""A decision a kiosk records while its clock is judged wrong says so, in its own record: the
store's access event and its ``access.decision`` audit entry carry ``clock_suspect`` (why the
clock was judged wrong), and so does the hub's row once the kiosk has pushed it, so that an
auditor on the hub can tell which times are not to be trusted. A decision made with the
clock judged right carries nothing new: its record is as it was.

A real encrypted store, the kiosk's own session (a scripted pipeline: no camera here), and
the real sync client pushing to the real hub (Django on embedded PostgreSQL, in this
process through WSGI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
from django.core.handlers.wsgi import WSGIHandler
from PySide6.QtWidgets import QApplication

from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.journal import DecisionJournal, journal_path
from desktop.kiosk.session import KioskSession
from desktop.kiosk.writer import EventWriter
from inference.face.decide import Decision, Status
from inference.face.pipeline import DecisionPipeline
from sync.client import Registration, SitePolicy, SyncClient, SyncConfig
from sync.client.state import ensure_schema, save_registration
from sync.client.transport import register_device
from sync.store import AccessEvent, Passphrase, Store
from sync.store.database import Database
from tests.desktop.kiosk.conftest import Ticks
from tests.desktop.kiosk.test_kiosk_controller import IMAGE, _ScriptedPipeline
from tests.sync.client.devices import FAST_TUNING
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubfixtures import site_slug

__all__ = ["site_slug"]

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)
RESET = datetime(2000, 1, 1, tzinfo=UTC)
RIGHT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HUB = "http://testserver"


def refused(track: int) -> tuple[Decision, ...]:
    return (Decision(Status.NOT_MATCHED, 0.8, track, None, 0.5, 0.9),)


def registered(store: Store, site: str, http: httpx.Client) -> SyncConfig:
    """The store registered with the in-process hub as a kiosk of ``site``."""
    from sync.hub.auth import create_device

    answer = register_device(http, HUB, create_device(site, "kiosk-1").code)
    registration = Registration(HUB, answer.site, answer.device_id, answer.token)
    ensure_schema(store.database)
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)
    return SyncConfig(registration, SitePolicy(), FAST_TUNING)


def decision_entry(store: Store, event_uid: str) -> dict[str, object]:
    """The details of the event's ``access.decision`` audit entry."""
    for row in store.audit.links(0, 10_000):
        details = json.loads(row[5])
        if row[3] == "access.decision" and details.get("event_uid") == event_uid:
            return cast(dict[str, object], details)
    raise AssertionError(f"no audit entry of {event_uid}")


def test_a_decision_made_on_a_clock_judged_wrong_is_flagged_on_the_device_and_the_hub(
    hub_database: str, qapp: QApplication, tmp_path: Path, site_slug: str
) -> None:
    """Right at start, then reset to 2000 while running (an RTC reset): the first decision
    is recorded as before; the one after the reset is flagged, in the store, in its audit
    entry and, once pushed, on the hub."""
    from sync.hub.models import AccessEvent as HubEvent

    clock = FakeClock(RIGHT, released=RELEASED)
    ticks = Ticks()
    with (
        Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), clock=clock, config=FAST) as s,
        httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())) as http,
    ):
        config = registered(s, site_slug, http)
        pipeline = cast(DecisionPipeline, _ScriptedPipeline([refused(1), refused(2)], ()))
        session = KioskSession(pipeline, s, KioskIdentity(site_slug, "kiosk-1"), clock=ticks)
        (right,) = session.process(IMAGE).events
        ticks.now += 60.0
        clock.moment = RESET + timedelta(minutes=1)
        (wrong,) = session.process(IMAGE).events
        session.close()
        stored = {e.event_uid: e for e in s.access.between("", "\uffff")}
        flagged = getattr(stored[wrong.event_uid], "clock_suspect", None)
        assert flagged is not None and "clock looks wrong" in flagged, (
            f"the decision recorded on a wrong clock carries no flag: {flagged!r}"
        )
        assert getattr(stored[right.event_uid], "clock_suspect", None) is None
        assert decision_entry(s, wrong.event_uid).get("clock_suspect") == flagged
        assert "clock_suspect" not in decision_entry(s, right.event_uid)  # as it was
        assert s.audit.verify().ok, "the flag keeps each event matching its entry"

        report = SyncClient(s, http, config).sync_once()
        assert report.push.acknowledged == 2 and report.push.rejected == 0

    on_hub = {str(e.uid): e for e in HubEvent.objects.filter(site__slug=site_slug)}
    assert getattr(on_hub[wrong.event_uid], "clock_suspect", "") == flagged, (
        "the hub's row of a decision made on a wrong clock carries no flag"
    )
    assert on_hub[right.event_uid].clock_suspect == ""


OLD_JOURNAL = (
    "CREATE TABLE waiting (event_uid TEXT PRIMARY KEY, occurred_at TEXT NOT NULL,"
    " site TEXT NOT NULL, device TEXT NOT NULL, decision TEXT NOT NULL, person_uid TEXT,"
    " similarity REAL, liveness REAL)"
)


def test_a_flagged_decision_left_waiting_keeps_its_flag_when_written(tmp_path: Path) -> None:
    """Kept in the journal while the store was busy, written at the next start: flagged."""
    why = "this device's clock looks wrong: it reads 9800 days behind the release"
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), config=FAST) as s:
        waiting = AccessEvent(RESET, "gate", "k1", "not_matched", None, 0.2, 0.9, clock_suspect=why)
        journal = DecisionJournal(s)
        journal.keep([waiting])
        journal.close()
        writer = EventWriter(s)  # the next start
        assert [e.clock_suspect for e in writer.flush()] == [why]
        writer.close()
        (stored,) = s.access.between("", "\uffff")
        assert stored.clock_suspect == why and s.audit.verify().ok


def test_a_journal_an_older_release_left_is_written_unflagged(tmp_path: Path) -> None:
    """Its table has no flag column: it gains one, and its decisions are written as made."""
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk pass"), config=FAST) as s:
        old = Database.open(journal_path(s.path), s.key, s.database.config, create=True)
        with old.write() as connection:
            connection.execute(OLD_JOURNAL)
            connection.execute(
                "INSERT INTO waiting VALUES"
                " (?, ?, 'gate', 'k1', 'spoof_detected', NULL, NULL, 0.1)",
                ("7f6c4a1e-0000-4000-8000-0000000000c1", "2026-12-01T09:00:00.000000Z"),
            )
        old.close()
        writer = EventWriter(s)
        (written,) = writer.flush()
        writer.close()
        assert written.clock_suspect is None
        assert [e.event_uid for e in s.access.between("", "\uffff")] == [written.event_uid]
