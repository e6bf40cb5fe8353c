"""A kiosk whose clock was reset (a flat RTC battery: the year 2000) writes audit entries
dated 2000 after entries dated 2026. The chain keeps them (they are what the clock said,
and hashed), but ``jaga audit verify`` and ``jaga store info`` tell the auditor those times
go back and cannot be trusted, and that the clock looks wrong now, if it does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.store import AccessEvent, Passphrase, Store, SystemClock
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_cli import PASSPHRASE, cli_store, jaga  # noqa: F401 (a fixture)

# After ``jaga store init`` made the store's first entry by the real clock.
RIGHT = SystemClock().now() + timedelta(hours=1)
SET_RIGHT = RIGHT + timedelta(days=1)
RESET = datetime(2000, 1, 1, tzinfo=UTC)


def decide(db: Path, at: datetime) -> None:
    """A kiosk's decision, with its audit entry, recorded by a clock reading ``at``."""
    with Store.open(db, Passphrase(PASSPHRASE), clock=FakeClock(at), config=FAST) as store:
        store.access.record(AccessEvent(store.clock.now(), "gate", "k1", "not_matched"))


@pytest.fixture
def reset_then(cli_store: Path) -> Path:  # noqa: F811
    """Two decisions on a right clock, then two after it was reset to 2000."""
    for at in (RIGHT, RIGHT, RESET, RESET):
        decide(cli_store, at)
    return cli_store


def clock_reads(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    monkeypatch.setattr(SystemClock, "now", lambda self: at)


def test_audit_verify_names_entries_dated_back_and_a_clock_wrong_now(
    reset_then: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock_reads(monkeypatch, RESET)
    assert jaga("audit", "verify") == 0  # the chain is whole: its times are another matter
    out = capsys.readouterr().out
    assert "audit chain ok" in out
    assert "2 audit entries dated more than 5 minutes before an earlier one" in out, out
    assert "2000-01-01" in out and f"{RIGHT:%Y-%m-%d}" in out
    assert "clock looks wrong" in out


def test_audit_verify_still_names_them_once_the_clock_is_set_right(
    reset_then: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock_reads(monkeypatch, SET_RIGHT)
    assert jaga("audit", "verify") == 0
    out = capsys.readouterr().out
    assert "2 audit entries dated more than 5 minutes before an earlier one" in out, out
    assert "clock looks wrong" not in out


def test_store_info_says_the_clock_looks_wrong_and_the_times_go_back(
    reset_then: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock_reads(monkeypatch, RESET)
    assert jaga("store", "info") == 0
    clock = [line for line in capsys.readouterr().out.splitlines() if line.startswith("clock ")]
    assert len(clock) == 1 and "clock looks wrong" in clock[0], clock
    assert "2 audit entries dated more than 5 minutes before an earlier one" in clock[0]


def test_a_store_whose_times_only_go_forward_has_nothing_said(
    cli_store: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    decide(cli_store, RIGHT)
    clock_reads(monkeypatch, SET_RIGHT)
    assert jaga("audit", "verify") == 0
    assert "dated" not in capsys.readouterr().out
    assert jaga("store", "info") == 0
    assert "clock        ok" in capsys.readouterr().out
