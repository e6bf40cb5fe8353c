"""Consecutive ``jaga hub export-corrections`` runs, each from the ``--since`` the last one
printed, against hub workers writing at the same time on their own connections: no
confirmed observation falls between two exports, whatever the workers' clocks say."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from sync.hub import review
from sync.hub.corrections import HubExportReport, export_corrections
from sync.hub.models import FishObservation
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_corrections import catch, rows, upload
from tests.sync.images import photo_bytes as image

LAG = timedelta(minutes=15)  # longer than any margin an export could keep "to be safe"
LAGGING = "hub-worker-with-a-lagging-clock"


@pytest.fixture
def lagging_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """``timezone.now()`` in threads named ``LAGGING`` is ``LAG`` behind: a hub worker on a
    machine whose clock lags the one that exports (or a worker stalled that long between
    stamping a row and committing it: its stamp is as old)."""
    real = timezone.now

    def now() -> datetime:
        moment: datetime = real()
        return moment - LAG if threading.current_thread().name == LAGGING else moment

    monkeypatch.setattr(timezone, "now", now)


def on_worker(work: Callable[[], object], name: str = "hub-worker") -> threading.Thread:
    """Run ``work`` in a thread of its own, on its own database connection (closed after)."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


@transaction.atomic
def correct_and_hold(pk: int, stamped: threading.Event, commit: threading.Event) -> None:
    """A reviewer's correction whose transaction stays open until ``commit`` is set."""
    review.correct_species(pk, "Gadus morhua", "slow-reviewer")
    stamped.set()
    assert commit.wait(60), "the test never let the correction commit"


def blocked_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


class BackgroundExport:
    """An export of one site, in a thread on its own connection."""

    def __init__(self, folder: Path, site: str) -> None:
        self.folder, self.site = folder, site
        self.report: HubExportReport | None = None
        self._pid: list[int] = []
        self._ready, self._done = threading.Event(), threading.Event()
        self._thread = on_worker(self._run, "exporter")
        assert self._ready.wait(30), "the export never started"

    def _run(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._pid.append(int(cursor.fetchone()[0]))
        self._ready.set()
        try:
            self.report = export_corrections(self.folder, site=self.site)
        finally:
            self._done.set()

    def finished_or_blocked(self) -> bool:
        """Whether it is done, or waiting for a lock another transaction holds."""
        return self._done.is_set() or blocked_on_a_lock(self._pid[0])

    def result(self) -> HubExportReport:
        self._thread.join(60)
        assert self.report is not None, "the export failed"
        return self.report


def uids(folder: Path) -> set[str]:
    return {row["observation_uid"] for row in rows(folder)}


@pytest.mark.usefixtures("lagging_clock")
def test_no_confirmed_observation_falls_between_two_exports(api: Api, tmp_path: Path) -> None:
    """A correction stamped before the first export began and still open when it reads the
    table, and another made after it, both by a worker whose clock lags 15 minutes: the
    first is in the first export (it waits for the commit), the second in the one from the
    printed --since, and what the first export had long settled is not exported again."""
    settled = catch(api, 1, photo=image(5), species="Gadus morhua")
    held = catch(api, 2, photo=image(6))  # flagged; corrected below, in a held transaction
    late = catch(api, 3, photo=image(7))
    held_pk = FishObservation.objects.get(uid=held["observation_uid"]).pk
    late_pk = FishObservation.objects.get(uid=late["observation_uid"]).pk

    stamped, commit = threading.Event(), threading.Event()
    writer = on_worker(lambda: correct_and_hold(held_pk, stamped, commit), LAGGING)
    try:
        assert stamped.wait(30), "the correction never reached the database"
        first_export = BackgroundExport(tmp_path / "first", api.site)
        deadline = time.monotonic() + 60
        while not first_export.finished_or_blocked() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        commit.set()
        writer.join(60)
    first = first_export.result()
    on_worker(lambda: review.correct_species(late_pk, "Gadus morhua", "r"), LAGGING).join(60)

    second = export_corrections(tmp_path / "second", site=api.site, since=first.resume_from)

    in_first, in_second = uids(tmp_path / "first"), uids(tmp_path / "second")
    assert held["observation_uid"] in in_first | in_second
    assert held["observation_uid"] in in_first  # the first export waited for its commit
    assert late["observation_uid"] in in_second
    assert settled["observation_uid"] in in_first - in_second
    assert second.summary.written == len(in_second)


def test_an_observation_left_waiting_for_its_photo_is_in_the_next_export(
    api: Api, tmp_path: Path
) -> None:
    """The first export leaves out a confirmed fish whose photo is still uploading and says
    to export again once it has arrived: the export from its printed --since has it."""
    photo = image(8)
    waiting = catch(api, 1, photo=photo, stored=False, species="Gadus morhua")
    an_hour_ago = Now() - timedelta(hours=1)  # confirmed then; its photo is still on the way
    FishObservation.objects.filter(uid=waiting["observation_uid"]).update(updated_at=an_hour_ago)
    first = export_corrections(tmp_path / "first", site=api.site)
    assert (first.summary.written, first.awaiting_photo) == (0, 1)
    upload(api, waiting["photo_uid"], photo)  # the device's next sync finishes it

    second = export_corrections(tmp_path / "second", site=api.site, since=first.resume_from)

    assert uids(tmp_path / "second") == {waiting["observation_uid"]}
    assert (second.summary.written, second.awaiting_photo) == (1, 0)
