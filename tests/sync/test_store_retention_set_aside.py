"""Kiosk journals set aside under a key the store no longer has
(``<store>.kiosk-waiting.unreadable-<time>``): their decisions, which name people, are never
recorded nor synced, so decision retention deletes the file once the store's window has
passed since it was set aside, as it deletes the decisions it holds
(``sync.store.kiosk_waiting.delete_set_aside``, run by ``sync.store.retention``)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.store import Store
from sync.store.kiosk_journal import waiting_path
from sync.store.kiosk_waiting import SET_ASIDE, set_aside_at
from sync.store.retention import DEFAULT_KEEP_DAYS
from sync.store.store_info import describe
from tests.sync.conftest import FakeClock

DEVICE = "7f6c4a1e-0000-4000-8000-000000000001"


def set_aside(store: Store, clock: FakeClock) -> Path:
    """A journal the kiosk set aside now, as its name records it (UTC), with a log beside
    it; its bytes are another key's database, which nothing here opens."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    path = store.path.with_name(waiting_path(store.path).name + SET_ASIDE + stamp)
    path.write_bytes(b"\x8f" * 4096)
    path.with_name(path.name + "-wal").write_bytes(b"\x11" * 64)
    return path


def test_a_set_aside_journal_goes_once_the_decision_window_has_passed(
    store: Store, clock: FakeClock
) -> None:
    old = set_aside(store, clock)
    clock.advance(days=10)
    young = set_aside(store, clock)
    clock.advance(days=DEFAULT_KEEP_DAYS - 10, seconds=1)  # the window past for ``old`` only

    report = store.retention.apply(DEVICE)

    assert not old.exists() and not old.with_name(old.name + "-wal").exists()
    assert young.exists() and young.with_name(young.name + "-wal").exists()
    assert report.kiosk_journals == 1
    entry = store.audit.entries()[-1]
    assert entry.action == "retention.applied"
    assert json.loads(entry.details_json)["kiosk_journals_deleted"] == 1


def test_a_set_aside_journal_is_kept_for_ever_with_decisions(
    store: Store, clock: FakeClock
) -> None:
    store.retention.set_keep_days(0, operator="cli:ops")
    kept = set_aside(store, clock)
    clock.advance(days=4000)
    store.retention.apply(DEVICE, force=True)
    assert kept.exists()


def test_store_info_says_when_a_set_aside_journal_goes(store: Store, clock: FakeClock) -> None:
    path = set_aside(store, clock)
    goes = (clock.now() + timedelta(days=DEFAULT_KEEP_DAYS)).strftime("%Y-%m-%d")
    lines, _ = describe(store)
    (said,) = [line for line in lines if path.name in line]
    assert f"deleted by decision retention after {goes}" in said, said
    store.retention.set_keep_days(0, operator="cli:ops")
    lines, _ = describe(store)
    (said,) = [line for line in lines if path.name in line]
    assert "kept for ever" in said, said


def test_when_a_journal_was_set_aside_is_read_from_its_name(tmp_path: Path) -> None:
    """In UTC; one named before that said local time; one renamed by hand: when it was last
    written, which is no later."""
    name = waiting_path(tmp_path / "k.db").name + SET_ASIDE
    utc, local, renamed = (
        tmp_path / (name + s) for s in ("20260301T080000Z", "20260301T080000", "x")
    )
    renamed.write_bytes(b"")
    os.utime(renamed, (1_700_000_000, 1_700_000_000))
    assert set_aside_at(utc) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert set_aside_at(local) == datetime(2026, 3, 1, 8, 0).astimezone()
    assert set_aside_at(renamed) == datetime.fromtimestamp(1_700_000_000, UTC)
