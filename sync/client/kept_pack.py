"""The species pack kept to fall back on, repaired when it is damaged on disk.

A device keeps two packs (``sync.client.packs``): the newest, and the one kept beside it,
which is the one in use while the newest is refused (a pack schema the app cannot read, a
bad build) or not loaded yet. Each sync checks the kept pack's files against its manifest
too, and fetches a damaged one (a failing card) from the hub again, checked against the
sha256 and size noted when it was installed, and unpacked over its folder; the newest pack
is left as it is. Its tries are counted apart from the newest pack's
(``species_pack.kept_repairs``), and the next waits ``PACK_RETRY.ceiling_s(tries)`` after
the last (a minute, doubling, at most six hours), a repair that worked included, so a card
that damages it again and again does not cost its size at every sync; an explicit request
(``force``) tries at once.

What cannot be repaired is said, never raised (``species_pack.kept_error``, which ``jaga
sync status`` shows, and the log): a pack the hub no longer offers (withdrawn), and one
installed before its checksum was noted. Meanwhile the app does what it does with any pack
that fails its check: it falls back to the next one, the default pack. A newer pack in use
ends it, as the kept pack is then another.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.client.errors import HubRefusedError, SyncClientError
from sync.client.packs import (
    PACK_RETRY,
    InstalledPack,
    PackInstaller,
    PackRef,
    installed_record,
    pack_damage,
)
from sync.client.state import put_values, read_values
from sync.species_packs import PackArchiveError, check_version
from sync.store import Store
from sync.store.clock import format_timestamp, parse_timestamp

KEPT_ERROR_NAME = "species_pack.kept_error"
KEPT_REPAIRS_NAME = "species_pack.kept_repairs"
_NOT_OFFERED = "no_species_pack"  # the hub's code for a version it does not hold
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeptRepairs:
    """The tries to fetch one kept pack again (``species_pack.kept_repairs``)."""

    version: str
    sha256: str
    tries: int
    last_try_at: datetime

    def retry_at(self) -> datetime:
        return self.last_try_at + timedelta(seconds=PACK_RETRY.ceiling_s(self.tries))

    def to_json(self) -> str:
        body = {
            "version": self.version, "sha256": self.sha256, "tries": self.tries,
            "last_try_at": format_timestamp(self.last_try_at),
        }  # fmt: skip
        return json.dumps(body, sort_keys=True)


def kept_repairs_record(text: str | None, pack: PackRef) -> KeptRepairs | None:
    """The tries counted for ``pack`` (None: none, another pack's, or unreadable)."""
    try:
        body = json.loads(text or "{}")
        record = KeptRepairs(
            str(body["version"]), str(body["sha256"]), int(body["tries"]),
            parse_timestamp(str(body["last_try_at"])),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    same = (record.version, record.sha256) == (pack.version, pack.sha256)
    return record if same and record.tries >= 1 else None


class KeptPackRepairer:
    """Repairs the kept pack through ``installer``, which downloads and unpacks it."""

    def __init__(self, store: Store, installer: PackInstaller) -> None:
        self._store = store
        self._installer = installer

    def repair(self, *, force: bool = False) -> str | None:
        """Check the kept pack and fetch it again if it is damaged; what is wrong with it
        still (None: whole, or none kept). Never raises for the hub or the disk."""
        values = read_values(self._store.database)
        record = installed_record(values)
        problem = self._problem(record, values.get(KEPT_REPAIRS_NAME), force=force)
        if (values.get(KEPT_ERROR_NAME) or None) != problem:
            now = self._store.clock.now()
            put_values(self._store.database, {KEPT_ERROR_NAME: (problem or "")[:1000]}, now)
        return problem

    def _problem(
        self, record: InstalledPack | None, tries: str | None, *, force: bool
    ) -> str | None:
        damaged = self._damage(record)
        if damaged is None:
            return None
        what, pack = damaged
        if pack is None:
            return self._say(
                f"{what}; it cannot be fetched again (installed before this device noted"
                " its checksum): the app falls back to the default pack until a newer one"
                " is in use"
            )
        earlier = kept_repairs_record(tries, pack)
        now = self._store.clock.now()
        if earlier is not None and not force and earlier.last_try_at <= now < earlier.retry_at():
            return self._say(
                f"{what}; tried again {earlier.tries} {_times(earlier.tries)}, next try"
                f" after {format_timestamp(earlier.retry_at())}"
            )
        count = earlier.tries + 1 if earlier is not None else 1
        tried = KeptRepairs(pack.version, pack.sha256, count, now)
        put_values(self._store.database, {KEPT_REPAIRS_NAME: tried.to_json()}, now)
        return self._fetch(pack, what, count)

    def _damage(self, record: InstalledPack | None) -> tuple[str, PackRef | None] | None:
        """What is wrong with the kept pack's folder, and the pack to fetch (None: its
        checksum unknown); None when it is whole or none is kept."""
        if record is None or record.previous is None:
            return None
        try:
            folder = self._installer.packs_dir / check_version(record.previous)
        except PackArchiveError:
            return None  # a record naming no plain folder: nothing kept to repair
        damage = pack_damage(folder)
        if damage is None:
            return None
        what = f"species pack {record.previous} (kept to fall back on) is damaged on disk: {damage}"
        return what, record.kept()

    def _fetch(self, pack: PackRef, what: str, count: int) -> str | None:
        _log.warning("%s; downloading it again", what)
        try:
            folder = self._installer.download_again(pack)
        except HubRefusedError as error:
            if error.code != _NOT_OFFERED:
                return self._say(f"{what}; fetching it again failed: {error}")
            return self._say(
                f"{what}; the hub no longer offers it, so it cannot be fetched again: the app"
                " falls back to the default pack until a newer one is in use"
            )
        except (SyncClientError, PackArchiveError, OSError) as error:
            return self._say(
                f"{what}; fetching it again failed ({error}); tried {count} {_times(count)}"
            )
        _log.info("species pack %s (kept to fall back on) repaired in %s", pack.version, folder)
        return None

    def _say(self, message: str) -> str:
        _log.warning("%s", message)
        return message


def _times(count: int) -> str:
    return "time" if count == 1 else "times"
