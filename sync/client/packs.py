"""Species packs on the device: download the announced pack, verify it, unpack it safely.

The hub announces a new pack in the pull stream, and names in each pull's answer the newest
pack this release reads (``PullResult.species_pack``: a pack whose schema it does not read is
never announced to it); ``sync.client.apply`` keeps the newest announcement as
``species_pack.latest``. After a sync's records are done, ``PackInstaller``
fetches that version's archive into a hidden file in the packs folder, checks its size and
sha256 against the announcement, unpacks it into ``<packs folder>/<version>/`` through a
staging folder renamed into place (``sync.species_packs``), and only then records it as
installed. A failure at any step (the link, a wrong byte, an unsafe archive, a full disk)
leaves the installed pack as it was; it is reported, never raised, because the records have
synced and must stay synced. Nothing half-written is left behind but one thing: a download
the link cut short, named after the pack's version and sha256, which the next try resumes
(``Range``, with ``If-Range`` on that sha256) instead of paying for its first bytes again;
the whole file is checked against the announcement all the same, and dropped if it fails.

The pack to install is the one the hub's answer names, on every page of every pull: a hub
that knows ``PACK_SCHEMA_HEADER`` names, in each answer, the newest pack this device reads,
by publication order. A device catching up a long log over several syncs (a new device of
an established site, one registered to another site, one of a site whose log grows faster
than it pulls) so installs the newest pack at its first sync, never each older one its log
announces on the way, nor an older one a site's log announced last; one of a site whose log
missed the newest pack, or upgraded from a release that read fewer schemas (its cursor past
the newer packs' announcements), gets it too. Only a hub that names no pack (one before the
answer) leaves the log's announcements to count: the pack announced last, installed only
after a sync whose pull reached the end of the log (``SyncClient.sync_once``), so that such a
device catching up neither downloads each pack on the way nor installs, moved to another
site, an older one that site's log announced first.

A hub whose answer names no pack this device reads holds none any more (restored from a
backup taken before its packs, a pack removed by hand): the pack it announced before would
answer 404 at every try, for ever. The device drops it (``forget_withdrawn_pack``: the
announcement, its failures and error), notes its version for ``jaga sync status`` ("the hub
no longer offers species pack ..."), and goes on with the packs it has; the next pack the
hub names is installed at once. Only a hub that names packs in its answer says so; with an
older one the announcement stands and a failing download backs off as below.

A hub restored from a backup taken before its newest pack names the pack before it, and
would take every device back to it. A device never installs again a pack it installed and
then replaced (``sync.client.replaced_packs``): it keeps its packs, and the error (``jaga
sync status``) says why. Any pack it never installed installs as before.

A pack that keeps failing is not downloaded again at every sync: on a metered satellite link
each try of a 16 MB pack costs its full size, and syncs can be a minute apart. The failures of
the announced pack are counted in ``species_pack.failures``; the next try waits
``PACK_RETRY.ceiling_s(failures)`` after the last one (a minute, doubling, at most six hours),
while records keep syncing. A new announcement is tried at once, a success clears the count,
and ``install_announced(force=True)`` (an explicit request) tries regardless.

Each sync also checks the installed pack's files against its manifest (``check_folder_files``;
a read of the pack, about 19 MB for the default one) and downloads a pack damaged on disk
since (a failing card) again, keeping what it kept beside it; meanwhile the app goes on with
the pack before it. A card that damages the pack again after each repair must not cost the
pack's size at every sync: the repairs of one pack are counted in ``species_pack.repairs``,
and the next one waits ``PACK_RETRY.ceiling_s(repairs)`` after the last (the same minute,
doubling, at most six hours), the damage reported meanwhile. The count is never cleared but
by a new pack, as the wait runs from the last repair: a pack damaged once a month is
repaired at once each time. An explicit request repairs regardless. The pack kept beside it
(below), the one in use while the newest is refused, is checked and repaired the same way
(``sync.client.kept_pack``): the record of what is installed notes its sha256 and size.

Two packs are kept: the one just installed, and one to fall back on if it is refused. The
fallback is the pack in use: the one the app or ``jaga catch`` last verified and loaded from
the packs folder, which they note in ``species_pack.in_use`` (``record_pack_in_use``); until
one is noted, or when its folder is gone, it is the pack installed before. Any other pack
this device installed is removed. So a newer pack the device refuses (a pack schema it
cannot read, a bad build), however many arrive in a row, never removes the last one that
worked. Sync never loads a pack: the app asks ``installed_species_packs`` at start-up and
reads ``SyncReport.new_species_pack`` after a sync, and the classifier verifies the files
against the pack's own manifest.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.client.errors import DownloadCutError, HubRefusedError, SyncClientError
from sync.client.pack_folders import (
    DOWNLOAD_PREFIX,
    LEFTOVER_PREFIXES,
    PACKS_DIR_ENV,
    installed_species_packs,
    pack_damage,
    packs_dir_for,
    record_pack_in_use,
    remove_path,
    whole_file,
)
from sync.client.pack_records import (
    ERROR_NAME,
    FAILURES_NAME,
    IN_USE_NAME,
    INSTALLED_NAME,
    PACK_RETRY,
    REPAIRS_NAME,
    InstalledPack,
    PackFailures,
    PackRef,
    PackRepairs,
    announced_pack,
    failures_record,
    installed_record,
    repairs_record,
    same_pack,
)
from sync.client.replaced_packs import (
    REPLACED_NAME,
    ReplacedPack,
    ReplacedPacks,
    refusal,
    replaced_record,
)
from sync.client.state import SPECIES_PACK_NAME, WITHDRAWN_PACK_NAME, put_values, read_values
from sync.client.transport import HubTransport
from sync.species_packs import MAX_ARCHIVE_BYTES, PackArchiveError, check_version, extract_archive
from sync.store import Store
from sync.store.state_rows import get_value, put_value

# What other modules and the tests import from here: the installer's own names, and those of
# the records (``sync.client.pack_records``) and of the packs folder
# (``sync.client.pack_folders``) that lived here before they moved.
__all__ = [
    "DOWNLOAD_PREFIX",
    "ERROR_NAME",
    "FAILURES_NAME",
    "INSTALLED_NAME",
    "IN_USE_NAME",
    "PACKS_DIR_ENV",
    "PACK_RETRY",
    "REPAIRS_NAME",
    "InstalledPack",
    "PackDownloadError",
    "PackFailures",
    "PackInstaller",
    "PackOutcome",
    "PackRef",
    "PackRepairs",
    "announced_pack",
    "failures_record",
    "forget_withdrawn_pack",
    "installed_record",
    "installed_species_packs",
    "pack_damage",
    "packs_dir_for",
    "record_pack_in_use",
    "repairs_record",
    "same_pack",
]
_log = logging.getLogger(__name__)


class PackDownloadError(SyncClientError):
    """The downloaded bytes are not the announced pack (size or sha256 differ)."""


@dataclass(frozen=True)
class PackOutcome:
    """What one sync did about species packs."""

    installed: Path | None = None  # a pack newly installed this time
    error: str | None = None  # why the announced pack is not installed, and when it is retried


def forget_withdrawn_pack(connection: Any, now: datetime) -> None:
    """The hub's answer names no pack this device reads: drop the pack it announced before,
    with its failures, and note its version (inside the caller's transaction). The packs
    installed stay; nothing pending, nothing to forget."""
    pending = announced_pack({SPECIES_PACK_NAME: get_value(connection, SPECIES_PACK_NAME) or ""})
    if pending is None:
        return
    _log.warning(
        "the hub no longer offers species pack %s, which it announced: not fetched any more",
        pending.version,
    )
    forgotten = {SPECIES_PACK_NAME: "", FAILURES_NAME: "", ERROR_NAME: ""}
    for name, value in (forgotten | {WITHDRAWN_PACK_NAME: pending.version}).items():
        put_value(connection, name, value, now)


class PackInstaller:
    def __init__(self, store: Store, transport: HubTransport, packs_dir: Path) -> None:
        self._store = store
        self._transport = transport
        self._packs_dir = packs_dir

    @property
    def packs_dir(self) -> Path:
        return self._packs_dir

    def install_announced(self, *, force: bool = False) -> PackOutcome:
        """Install the newest announced pack unless this device replaced it before
        (refused and reported, even when someone asks: ``sync.client.replaced_packs``), it
        is installed already and whole on disk, or failed (or was repaired) lately and waits
        for its next try; ``force`` (someone asked) skips those waits."""
        values = read_values(self._store.database)
        wanted = announced_pack(values)
        if wanted is None:
            return PackOutcome()
        current = installed_record(values)
        replaced = replaced_record(values.get(REPLACED_NAME), _replaced_ref(current))
        if replaced.holds(wanted.version, wanted.sha256):
            return self._going_back(wanted, current)
        return self._install_new(values, wanted, current, replaced, force=force)

    def _install_new(
        self,
        values: Mapping[str, str],
        wanted: PackRef,
        current: InstalledPack | None,
        replaced: ReplacedPacks,
        *,
        force: bool,
    ) -> PackOutcome:
        """``install_announced`` of a pack this device did not replace."""
        failed = failures_record(values)
        if failed is not None and not failed.concern(wanted):
            failed = None  # a new announcement: its own count, tried at once
        repairs = repairs_record(values)
        if repairs is not None and not repairs.concern(wanted):
            repairs = None  # the count of a pack installed before: this one counts afresh
        if same_pack(current, wanted):
            damage = pack_damage(self._packs_dir / wanted.version)
            if damage is None:
                return self._report(None)  # an error of a pack named before is over
            # A repair whose download failed waits out its failures instead (below).
            if repairs is not None and failed is None and not force and self._waiting(repairs):
                return self._still_damaged(repairs.message(damage))
            _log.warning(
                "species pack %s is damaged, downloading it again: %s", wanted.version, damage
            )
        if failed is not None and not force and self._waiting(failed):
            return PackOutcome(error=failed.message())
        try:
            folder = self._install(wanted)
        except (SyncClientError, PackArchiveError, OSError) as error:
            return self._failed(wanted, error, failed)
        kept = self._fallback(values.get(IN_USE_NAME), current, wanted)
        repaired = None
        if same_pack(current, wanted):  # the same pack again: a repair
            count = repairs.repairs + 1 if repairs is not None else 1
            repaired = PackRepairs(wanted.version, wanted.sha256, count, self._store.clock.now())
        kept_ref = _kept_ref(kept, current)
        installed = InstalledPack(
            wanted.version, wanted.sha256, wanted.byte_size, kept,
            kept_ref.sha256 if kept_ref else None, kept_ref.byte_size if kept_ref else None,
        )  # fmt: skip
        if current is not None and not same_pack(current, wanted):  # a repair replaces nothing
            replaced = replaced.adding(current.version, current.sha256)
        self._record(installed, repaired, replaced)
        if current is not None:  # what the last install kept, but for what this one keeps
            for version in {current.version, current.previous} - {wanted.version, kept, None}:
                self._remove(str(version))
        _log.info("species pack %s installed in %s", wanted.version, folder)
        return PackOutcome(installed=folder)

    def _fallback(
        self, in_use: str | None, current: InstalledPack | None, wanted: PackRef
    ) -> str | None:
        """The version kept beside ``wanted``: the pack in use if its folder is here, else
        the one installed before (nothing noted yet: a device that only syncs); the same
        pack downloaded again (it was damaged) keeps what it kept."""
        with contextlib.suppress(PackArchiveError):  # a note naming no plain folder: none
            if (
                in_use
                and in_use != wanted.version
                and (self._packs_dir / check_version(in_use)).is_dir()
            ):
                return in_use
        if current is None:
            return None
        return current.version if current.version != wanted.version else current.previous

    def _going_back(self, wanted: PackRef, current: InstalledPack | None) -> PackOutcome:
        """``wanted`` is a pack this device replaced: refused, reported, never fetched."""
        refused = refusal(wanted.version, current.version if current is not None else None)
        _log.warning("%s", refused)
        return self._report(refused)

    def _waiting(self, record: PackFailures | PackRepairs) -> bool:
        now = self._store.clock.now()
        # A last try "in the future" means the clock was set back since (a device that
        # booted with a wrong date): waiting on that stamp could last years, so try now.
        return record.last_try_at() <= now < record.retry_at()

    def _still_damaged(self, message: str) -> PackOutcome:
        """The installed pack is damaged and its next repair waits: say so, as a failure."""
        _log.warning("%s; the app goes on with the pack kept beside it (or the default)", message)
        return self._report(message)

    def _report(self, message: str | None) -> PackOutcome:
        """``message`` as this sync's pack error, kept for ``jaga sync status`` (None: none)."""
        stored = message[:1000] if message is not None else ""
        if read_values(self._store.database).get(ERROR_NAME, "") != stored:
            put_values(self._store.database, {ERROR_NAME: stored}, self._store.clock.now())
        return PackOutcome(error=message)

    def download_again(self, pack: PackRef) -> Path:
        """Fetch ``pack`` (one this device installed) from the hub, check it and unpack it
        over its folder, as an install does, leaving the other downloads be (a cut download
        of the announced pack stays to resume). Raises what an install fails with."""
        return self._install(pack, sweep=False)

    def _install(self, wanted: PackRef, *, sweep: bool = True) -> Path:
        check_version(wanted.version)  # it names a folder here: never "..", never a path
        if not 0 < wanted.byte_size <= MAX_ARCHIVE_BYTES:
            raise PackDownloadError(f"announced with {wanted.byte_size} bytes; refused")
        self._packs_dir.mkdir(parents=True, exist_ok=True)
        archive = self._packs_dir / f"{DOWNLOAD_PREFIX}{wanted.version}-{wanted.sha256[:16]}.zip"
        if sweep:
            self._sweep_leftovers(keep=archive)
        held = archive.stat().st_size if archive.is_file() else 0
        if held >= wanted.byte_size:
            held = 0  # whole, yet not installed: it failed its check, so start again
        resumable = False
        try:
            with archive.open("r+b" if held else "wb") as sink:
                answer = self._transport.download_species_pack(
                    wanted.version, sink, max_bytes=wanted.byte_size, resume_from=held,
                    etag=wanted.sha256,
                )  # fmt: skip
            got = whole_file(archive, answer)
            if got != (wanted.byte_size, wanted.sha256):
                raise PackDownloadError(
                    f"the download ({got[0]} bytes, sha256 {got[1][:12]}…) is not"
                    f" the announced pack ({wanted.byte_size} bytes, {wanted.sha256[:12]}…)"
                )
            return extract_archive(archive, self._packs_dir / wanted.version)
        except (DownloadCutError, HubRefusedError):
            # The link broke, or the hub said no before sending a byte: what the file holds
            # is still the pack's beginning, and the next try asks only for the rest.
            resumable = archive.stat().st_size > 0
            raise
        finally:
            if not resumable:
                archive.unlink(missing_ok=True)

    def _failed(
        self, wanted: PackRef, error: Exception, earlier: PackFailures | None
    ) -> PackOutcome:
        now = self._store.clock.now()
        count = earlier.failures + 1 if earlier is not None else 1
        # A 429 or 503's Retry-After (``HubUnavailableError``'s, read and bounded as for a
        # push): a floor under the wait. Any other failure has none.
        hint = getattr(error, "retry_after_s", None)
        failed = PackFailures(wanted.version, wanted.sha256, count, now, str(error)[:500], hint)
        message = failed.message()
        _log.warning("%s; the installed pack stays", message)
        values = {ERROR_NAME: message[:1000], FAILURES_NAME: failed.to_json()}
        put_values(self._store.database, values, now)
        return PackOutcome(error=message)

    def _record(
        self, installed: InstalledPack, repaired: PackRepairs | None, replaced: ReplacedPacks
    ) -> None:
        values = {
            INSTALLED_NAME: json.dumps(asdict(installed), sort_keys=True),
            ERROR_NAME: "",
            FAILURES_NAME: "",  # a success ends the back-off
            REPAIRS_NAME: repaired.to_json() if repaired is not None else "",
            REPLACED_NAME: replaced.to_json(),
        }
        put_values(self._store.database, values, self._store.clock.now())

    def _sweep_leftovers(self, keep: Path) -> None:
        """Remove what an install cut short by a crash or power cut left behind, but for
        ``keep``: the announced pack's download, cut by the link, which this try resumes."""
        for entry in self._packs_dir.iterdir():
            if entry.name.startswith(LEFTOVER_PREFIXES) and entry != keep:
                remove_path(entry)

    def _remove(self, version: str) -> None:
        with contextlib.suppress(PackArchiveError):
            remove_path(self._packs_dir / check_version(version))


def _replaced_ref(current: InstalledPack | None) -> ReplacedPack | None:
    """The pack an installed record kept to fall back on, which it installed before: what a
    device upgraded from a release before ``species_pack.replaced`` knows it replaced."""
    if current is None or current.previous is None:
        return None
    return ReplacedPack(current.previous, current.previous_sha256)


def _kept_ref(kept: str | None, current: InstalledPack | None) -> PackRef | None:
    """The checksum and size of the pack kept, from the record of what was installed: the
    pack installed before, or the one it kept (None: unknown, an older record)."""
    if kept is None or current is None:
        return None
    if kept == current.version:
        return PackRef(current.version, current.sha256, current.byte_size)
    return current.kept() if kept == current.previous else None
