"""``SyncClient``: one device store and one hub, through an injected ``httpx.Client``.

A sync first erases the people whose consent's retention date has passed
(``People.purge_expired``), so their tombstones leave in its push and the hub erases them
on every device of the site; it does so even when the hub then turns out to be out of
reach, so a device that cannot sync still erases on time (at each attempt of the app's
service or of the ``jaga-sync`` timer). Then it is push, then pull, then photo uploads,
then the audit chain, then the retention of old decisions the hub now holds
(``sync.store.retention``, once a day), then the species pack. Pushing first means the
pulled state already reflects this device's own edits (and a pull that finds the hub's log
renewed, its database restored from a backup, pushes again what it queued again before it
pulls the site from the start: ``sync.client.log_epoch``); uploads come after because the
hub must hold a photo's metadata (pushed) before its bytes matter. Each of those steps raises a
``sync.client.errors`` error and leaves the store consistent, so a caller may simply try
again later; ``SyncService`` does that with back-off. The audit chain's new entries are
then sent for the hub to anchor (``sync.client.audit``); like the species pack, what goes
wrong there is only reported (``SyncReport.audit``), never raised (not even a token refused
there alone): an older hub, or one that refused the chain, never holds records back. A
newly announced species pack is downloaded last, when the records are safe (the one the
hub's answer names, even by a sync that stopped at its page limit: ``sync.client.packs``); its
failure is only reported (``SyncReport.species_pack_error``): a later sync tries it again,
waiting longer after each failure (``sync.client.packs``). So is what is wrong with the pack
kept to fall back on (the one in use while the newest is refused), which is fetched again
when it is damaged on disk (``sync.client.kept_pack``).

What a sync did comes back as a ``SyncReport`` (``sync.client.report``).

A store belongs to the thread that opened it: build the client in the thread that syncs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import httpx

from sync.client.audit import AnchorReport, AuditAnchor
from sync.client.config import SyncConfig, Tuning, resolve_config
from sync.client.errors import RegisteredAgainError, SyncClientError
from sync.client.kept_pack import KeptPackRepairer
from sync.client.lock import sync_lock
from sync.client.packs import PackInstaller, PackOutcome, packs_dir_for
from sync.client.pull import Puller, PullReport
from sync.client.push import Pusher, PushReport
from sync.client.report import SyncReport, both_pushes, first_held_back, held_back_words
from sync.client.state import (
    Unfinished,
    ensure_schema,
    read_values,
    record_result,
    registration_values,
)
from sync.client.stopping import Heeded, Stopping, never
from sync.client.transport import HubTransport, RequestObserver, hub_http_client
from sync.client.uploads import PhotoUploader, UploadReport, count_pending_uploads
from sync.client.withheld import queue_withheld_notices
from sync.errors import StoreError
from sync.store import KeySource, OutboxState, Store, StoreConfig
from sync.store.backup_files import drop_replaced_stores
from sync.store.kiosk_waiting import record_left_waiting
from sync.store.resend import queue_decisions_again

log = logging.getLogger(__name__)


class SyncClient:
    def __init__(
        self,
        store: Store,
        http: httpx.Client,
        config: SyncConfig,
        *,
        observer: RequestObserver | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        packs_dir: Path | None = None,
    ) -> None:
        """``packs_dir`` is where species packs are unpacked (``packs_dir_for`` the store
        by default)."""
        ensure_schema(store.database)
        tuning = config.tuning
        self.store = store
        self.config = config
        self.transport = HubTransport(
            http,
            config.registration,
            timeout=httpx.Timeout(tuning.read_timeout_s, connect=tuning.connect_timeout_s),
            observer=observer,
            monotonic=monotonic,
        )
        self._monotonic = monotonic
        self._pusher = Pusher(store, self.transport, config.device_id, tuning, config.policy)
        self._puller = Puller(store, self.transport, config.site, tuning, config.device_id)
        self._uploader = PhotoUploader(store, self.transport, config.policy, tuning)
        self._audit = AuditAnchor(store, self.transport, config.device_id, tuning)
        self.packs_dir = packs_dir or packs_dir_for(store.path)
        self._packs = PackInstaller(store, self.transport, self.packs_dir)
        self._kept_pack = KeptPackRepairer(store, self._packs)
        self._locked = False
        self._registered = registration_values(store.database)

    def registration_changed(self) -> bool:
        """Whether the store was registered again (``jaga sync register``) since this client
        was made: its hub, device and token are then no longer the ones to sync with."""
        return registration_values(self.store.database) != self._registered

    def push(self) -> PushReport:
        """Push the queue; raises ``ProxyBodyLimitError`` when entries had to wait for it."""
        with self._lock():
            report = self._pusher.push_all()
        if report.held_back is not None:
            raise report.held_back
        return report

    def pull(self) -> PullReport:
        with self._lock():
            return self._puller.pull_all()

    def upload_photos(self) -> UploadReport:
        """Upload pending photos; raises ``ProxyBodyLimitError`` when some had to wait for it."""
        with self._lock():
            report = self._uploader.upload_pending()
        if report.held_back is not None:
            raise report.held_back
        return report

    def anchor_audit(self) -> AnchorReport:
        with self._lock():
            return self._audit.anchor_all()

    def install_species_pack(self, *, force: bool = False) -> PackOutcome:
        """Download and unpack the newest announced species pack if it is not installed;
        ``force`` (someone asked for it) does not wait out the back-off of a failing pack."""
        with self._lock():
            return self._install_packs(force=force)

    def sync_once(self, *, retry_pack: bool = False, stopping: Stopping = never) -> SyncReport:
        """Erase whoever is past retention, then push, pull, upload, the audit chain, then
        the species pack; the outcome is kept in the store for
        ``jaga sync status``. ``retry_pack`` (someone asked) does not wait out the back-off
        of a pack that failed to install. Once ``stopping()`` (the app closing), the sync
        ends after the request in flight; what it did not send waits for the next one. A
        sync that reaches its per-sync limits (``Tuning``) is kept as unfinished, with what
        it left: the next one goes on from there. Entries or photos a proxy's body limit
        held back (``ProxyBodyLimitError``), and an audit entry it held back with the entries
        after it (``AnchorReport.held_back``), wait while the rest of the sync runs; the sync
        is kept as one that ran (``LastResult.held_back``: what waits, and why) but not as
        a success (the last success stays the last sync that held nothing back), then
        raises that error, so the app backs off as from an outage and ``jaga sync now``
        ends non-zero: waiting cannot make them pass, raising that limit does."""
        started = self._monotonic()
        heeded = Heeded(stopping)
        with self._lock():
            try:
                expired = tuple(self.store.people.purge_expired())
                if expired:  # not left whole in a copy a killed restore left either
                    drop_replaced_stores(self.store.path)
                self._record_left_waiting()  # pushed with this sync's
                # Decisions a renewal noted but a killed sync did not queue (resend). Not
                # needed before the push after a renewal: ``note_epoch`` queues them itself
                # once its transaction commits, and a failure there ends this sync.
                queue_decisions_again(self.store, self.config.site)
                learned = self._puller.learn_tip()  # before the push grows the log back
                push = self._push_all(heeded)
                pull = self._puller.pull_all(heeded)
                if learned is not None and pull.full_pull is None:
                    pull = replace(pull, full_pull=learned)
                if pull.log_renewed and not heeded():  # what it queued again goes first
                    push = both_pushes(push, self._push_all(heeded))
                    pull = replace(self._puller.pull_all(heeded), full_pull=pull.full_pull)
                uploads = self._uploader.upload_pending(heeded)
                audit = self._audit.anchor_all(heeded)  # reports its failures
                if not heeded():  # what the hub now holds may go, once old enough
                    self._apply_retention()
                pack = PackOutcome()  # not begun once stopping: a download can take long
                if not heeded() and (pull.complete or pull.pack_named):  # reports failures
                    pack = self._install_packs(force=retry_pack)
                unfinished = (
                    None if heeded.stopped else self._unfinished(push, pull, uploads, audit)
                )
                report = SyncReport(
                    push, pull, uploads, self._monotonic() - started, pack.installed, pack.error,
                    heeded.stopped, unfinished, audit, expired,
                )  # fmt: skip
            except (SyncClientError, StoreError) as error:
                self._record(f"{type(error).__name__}: {error}")
                raise
            held_back = first_held_back(push, uploads, audit)
            self._record(
                None, stopped=heeded.stopped, unfinished=unfinished,
                held_back=held_back_words(push, uploads, audit),
            )  # fmt: skip
            if held_back is not None:  # the rest is done and kept: now the sync says why
                held_back.report = report
                raise held_back
        return report

    def _push_all(self, heeded: Heeded) -> PushReport:
        """Push the queue, after queuing a notice for each face image the policy now keeps
        that the hub still waits for (``sync.client.withheld``): before each push of a sync,
        as a renewal of the hub's log (``sync.client.log_epoch``) queues photos again, their
        bytes to go again, which the policy may now keep here."""
        queue_withheld_notices(self.store, self.config.policy)
        return self._pusher.push_all(heeded)

    def _record_left_waiting(self) -> None:
        """Record the decisions a kiosk no longer running left waiting beside the store
        (``sync.store.kiosk_waiting``). Housekeeping: a failure is logged, not the sync's."""
        try:
            record_left_waiting(self.store)
        except StoreError as error:
            log.warning("kiosk decisions left waiting not recorded this time: %s", error)

    def _apply_retention(self) -> None:
        """Delete the old decisions the hub holds (``sync.store.retention``, once a day).
        Housekeeping: a failure (the kiosk holding the store past the busy timeout) is
        logged, not the sync's; the next sync tries again."""
        try:
            self.store.retention.apply(str(self.config.device_id))
        except StoreError as error:
            log.warning("retention not applied this time: %s", error)

    def _install_packs(self, *, force: bool) -> PackOutcome:
        """The announced pack, then the pack kept beside it; both their problems told."""
        pack = self._packs.install_announced(force=force)
        kept = self._kept_pack.repair(force=force)
        if kept is None:
            return pack
        return replace(pack, error=f"{pack.error}; {kept}" if pack.error else kept)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if self._locked:  # sync_once holds it for all its steps
            yield
            return
        with sync_lock(self.store.path):
            # Registered again between this client's making and its lock (register holds
            # the lock too): the old hub, device and token are no longer the store's.
            if self.registration_changed():
                raise RegisteredAgainError(f"{self.store.path} was registered again")
            self._locked = True
            try:
                yield
            finally:
                self._locked = False

    def _unfinished(
        self, push: PushReport, pull: PullReport, uploads: UploadReport, audit: AnchorReport
    ) -> Unfinished | None:
        """What a sync that stopped at a per-sync limit left; None when it finished."""
        if push.complete and pull.complete and uploads.complete and audit.complete:
            return None
        photos = count_pending_uploads(self.store, self.config.policy)
        behind = 0 if audit.complete else audit.behind  # not a refused or unanchored chain
        return Unfinished(self._waiting(), not pull.complete, photos, behind)

    def _waiting(self) -> int:
        counts = self.store.outbox.counts()
        return counts[OutboxState.QUEUED] + counts[OutboxState.SENT]

    def _record(
        self,
        error: str | None,
        *,
        stopped: bool = False,
        unfinished: Unfinished | None = None,
        held_back: str | None = None,
    ) -> None:
        """Keep the outcome; a sync a stop ended early is kept as stopped, and one that
        reached its limits as unfinished, each with what it left waiting, never as a
        success (neither is a failure either); what a proxy held back goes with any, and
        keeps a finished sync from being a success."""
        with contextlib.suppress(StoreError):  # a full disk must not hide the sync's outcome
            waiting = self._waiting() if stopped else None
            now = self.store.clock.now()
            record_result(
                self.store.database, now, error, stopped_queued=waiting, unfinished=unfinished,
                held_back=held_back,
            )  # fmt: skip


@contextlib.contextmanager
def open_client(
    store_path: Path,
    key_source: KeySource,
    *,
    env: Mapping[str, str] | None = None,
    tuning: Tuning | None = None,
    observer: RequestObserver | None = None,
    store_config: StoreConfig | None = None,
) -> Iterator[SyncClient]:
    """Open the store and an HTTP client in this thread, configured from ``env`` and the
    registration kept in the store; close both on exit (the service's ``open_client``)."""
    env = os.environ if env is None else env
    with Store.open(store_path, key_source, config=store_config) as store:
        ensure_schema(store.database)
        config = resolve_config(env, read_values(store.database), tuning=tuning)
        packs_dir = packs_dir_for(store_path, env)
        with hub_http_client() as http:
            yield SyncClient(store, http, config, observer=observer, packs_dir=packs_dir)
