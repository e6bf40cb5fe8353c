"""Pull the site's change log after the stored cursor, one page per store transaction.

Each page's records and the cursor after it commit together (``sync.client.apply``): a
crash or a cut link between pages leaves the device at the last page it applied, and the
next pull asks for exactly what follows. A page is checked before it is applied, so a
confused hub cannot move the cursor backwards or make the client loop. A cursor moved by
older code, which kept less of each change, starts again from 0, once
(``sync.client.full_pull``). A page that names another log epoch than the one this device
kept (the hub's database restored from a backup) is not applied: the device queues again
what it sent and starts again from 0 (``sync.client.log_epoch``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from uuid import UUID

from sync.client.apply import PageReport, apply_page, keep_tip, tip_value
from sync.client.config import Tuning
from sync.client.errors import HubUnavailableError
from sync.client.full_pull import FullPull, start_cursor
from sync.client.hub_identity import hub_of, learn_hub_id
from sync.client.log_epoch import known_epoch, known_tip, note_epoch, sealed_cursor
from sync.client.restated_photos import requeue_restated_face_photos
from sync.client.site_state import cursor_name
from sync.client.stopping import Stopping, never
from sync.client.transport import HubTransport
from sync.protocol import NO_LOG_EPOCH, PullResult
from sync.store import OutboxState, Store
from sync.store.clock_floor import device_clock_warning
from sync.store.state_rows import get_value

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullReport:
    pages: int = 0
    applied: int = 0
    erased: int = 0
    skipped: int = 0
    cursor: int = 0
    complete: bool = True
    set_aside: int = 0  # changes kept to try again with later pulls (``sync.client.apply``)
    full_pull: FullPull | None = None  # the pull of the site from the start it began
    pack_named: bool = False  # an answer named the pack to install (a hub that knows how)
    log_renewed: bool = False  # the hub renewed its log: this pull queued again and stopped

    def add(self, page: PageReport) -> PullReport:
        return replace(
            self,
            pages=self.pages + 1,
            applied=self.applied + page.applied,
            erased=self.erased + page.erased,
            skipped=self.skipped + len(page.skipped),
            cursor=page.cursor,
            set_aside=self.set_aside + page.set_aside,
        )


class Puller:
    def __init__(
        self,
        store: Store,
        transport: HubTransport,
        site: str,
        tuning: Tuning,
        device: UUID | None = None,
    ) -> None:
        self._store = store
        self._transport = transport
        self._site = site
        self._tuning = tuning
        self._device = device  # this device: tells its own catches from others' (apply)

    def pull_all(self, stopping: Stopping = never) -> PullReport:
        """Pull and apply pages until the hub has no more (or the per-sync page limit, or
        ``stopping()``)."""
        report = self._pull_pages(stopping)
        warn_if_clock_behind(self._store)
        return report

    def learn_tip(self) -> FullPull | None:
        """Ask the hub for the change at this device's cursor, and its seal, when it kept no
        sealed tip there (a store upgraded from a release that kept no tip, or no seal, or a
        page whose last change was not at its end), and keep them as the tip: once per
        cursor (a hub that gives no seal is not asked again: each pull sends the tip, and
        once that hub is upgraded an answer with no changes brings its seal,
        ``sync.client.apply.reseal_tip``; one with changes, a new tip's). Called before the
        sync pushes,
        so that a hub restored from a backup later (its command forgotten) is shown the tip
        it sealed, and renews (``sync.hub.log_epoch``). A tip learned from a hub already
        restored is that hub's: no evidence; nor is a cursor past its log, which the hub
        takes as the device's word only: that hub waits for its admin's command. A hub that
        answers another epoch is noted (``note_epoch``: the full pull it began is
        returned)."""
        with self._store.database.read() as connection:
            cursor = int(get_value(connection, cursor_name(self._site)) or 0)
        epoch = known_epoch(self._store, self._site)
        if not cursor or epoch == NO_LOG_EPOCH or sealed_cursor(self._store, self._site) == cursor:
            return None  # a hub of a release before epochs has no tips either
        pulled = self._transport.changes(cursor - 1, 1, epoch, None)
        page = pulled.page
        check_page(page, cursor - 1)
        if page.log_epoch is not None and str(page.log_epoch) != epoch:
            return note_epoch(self._store, self._site, page.log_epoch, cursor, self._device)
        at = [change for change in page.changes if change.cursor == cursor]
        # What it holds there ("cursor:" when nothing: an erasure deleted it, or the log
        # ends before it), sealed only when the answer's last change is that one.
        tip, seal = (tip_value(at[0]), pulled.seal) if at else (f"{cursor}:", None)
        with self._store.database.write() as connection:
            keep_tip(connection, self._site, tip, seal, self._store.clock.now())
        return None

    def _pull_pages(self, stopping: Stopping) -> PullReport:
        cursor, full_pull = self._start()
        report = PullReport(cursor=cursor, full_pull=full_pull)
        epoch = known_epoch(self._store, self._site)
        for page_number in range(self._tuning.max_pages_per_sync):
            if stopping():
                break
            tip, seal = known_tip(self._store, self._site, cursor)
            pulled = self._transport.changes(cursor, self._tuning.pull_limit, epoch, tip, seal)
            if pulled.restates_face_photos and not page_number:  # for the next push
                requeue_restated_face_photos(self._store)
            made_with = self._transport.registration
            learn_hub_id(self._store, pulled.hub_id, made_with.hub_url, made_with.device_id)
            hub = hub_of(self._store, made_with, pulled.hub_id)
            page = pulled.page
            check_page(page, cursor)
            if page.log_epoch is not None and str(page.log_epoch) != epoch:
                renewed = note_epoch(self._store, self._site, page.log_epoch, cursor, self._device)
                if renewed is not None:  # this page is of the log it rewound: not applied
                    return replace(
                        report, cursor=0, full_pull=renewed, log_renewed=True, complete=False
                    )
                epoch = str(page.log_epoch)
            applied = apply_page(
                self._store,
                self._site,
                page.changes,
                page.next_cursor,
                device=self._device,
                hub_now=pulled.hub_now,
                newest_pack=page.species_pack,
                # Present, even as null, only in the answer of a hub that names packs.
                names_pack="species_pack" in page.model_fields_set,
                more=page.has_more,
                seal=pulled.seal,
                hub=hub,
            )
            report = report.add(applied)
            if page.species_pack is not None:
                report = replace(report, pack_named=True)
            cursor = page.next_cursor
            if not page.has_more:
                return report
        return replace(report, cursor=cursor, complete=False)

    def _start(self) -> tuple[int, FullPull | None]:
        """The cursor to pull from, and the full pull that begins now, if one does."""
        counts = self._store.outbox.counts()
        waiting = counts[OutboxState.QUEUED] + counts[OutboxState.SENT]
        with self._store.database.write() as connection:
            schema = int(connection.execute("PRAGMA user_version").fetchone()[0])
            now = self._store.clock.now()
            return start_cursor(connection, self._site, schema, waiting, now)


def warn_if_clock_behind(store: Store) -> str | None:
    """Log (and return) a warning when this device's clock reads before the hub time it has
    seen, or before the date of its release: its edits still win over what it pulled
    (``sync.store.edit_clock``), but every other time it records is wrong. And when it reads
    before a time this store recorded by it (``clock_floor.device_clock_warning``)."""
    with store.database.read() as connection:
        warning = device_clock_warning(connection, store.clock)
    if warning is not None:
        _log.warning("%s", warning)
    return warning


def check_page(page: PullResult, cursor: int) -> None:
    """Refuse a page that would move the cursor back, repeat changes, or promise more and
    bring nothing (an answer like that is treated as garbled: retry later)."""
    previous = cursor
    for change in page.changes:
        if change.cursor <= previous:
            raise HubUnavailableError(f"the hub sent change {change.cursor} after {previous}")
        previous = change.cursor
    if page.next_cursor < previous or (page.has_more and not page.changes):
        raise HubUnavailableError(f"the hub's next cursor {page.next_cursor} does not follow")
