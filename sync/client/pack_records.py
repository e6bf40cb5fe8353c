"""What a device records about its species packs in the sync state table, and reads back.

The announcement pulled (``species_pack.latest``, kept by ``sync.client.apply``), the pack
installed with the one kept beside it (``species_pack.installed``), the pack in use
(``species_pack.in_use``), the error shown until the pack installs, and the counts of failed
installs and of repairs with the wait they set before the next try: their names, their
values and the JSON they are kept as. The installer (``sync.client.packs``) writes them but
the pack in use, which the app notes (``record_pack_in_use``); ``jaga sync status``, the
device's metrics and the kept pack's repair (``sync.client.kept_pack``) read them too. They
live apart from the installer, which re-exports them, as they are plain values: no
download, no folder, no HTTP.

A failed install, or a repair of a pack damaged on disk, is tried again only after a wait
that doubles with each one counted (``PACK_RETRY``), at most six hours: why, and when the
count starts afresh, ``sync.client.packs`` tells. A download the hub answered 429 or 503
with ``Retry-After`` waits at least that long (bounded as a push's wait is).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.client.backoff import Backoff
from sync.client.state import SPECIES_PACK_NAME
from sync.store.clock import format_timestamp, parse_timestamp

INSTALLED_NAME = "species_pack.installed"
IN_USE_NAME = "species_pack.in_use"  # the version (folder) of the pack last verified and used
ERROR_NAME = "species_pack.error"
FAILURES_NAME = "species_pack.failures"
REPAIRS_NAME = "species_pack.repairs"
# The wait before a failed pack is downloaded again: a minute after the first failure (a
# dropped link often comes back that soon), doubling, at most six hours (a hub that serves
# wrong bytes waits for a person, and four tries a day cost little). No jitter: a try only
# ever happens inside a sync, and a fleet's syncs are spread already. A module constant, not
# a ``Tuning`` field, as only the species packs' modules read it.
PACK_RETRY = Backoff(base_s=60.0, cap_s=6 * 3600.0)


@dataclass(frozen=True)
class PackRef:
    """A pack as the hub announced it."""

    version: str
    sha256: str
    byte_size: int


@dataclass(frozen=True)
class InstalledPack(PackRef):
    previous: str | None = None  # the version kept to fall back on (the one in use)
    # The kept pack's checksum and size, to repair it (``sync.client.kept_pack``); None in
    # a record written before they were kept.
    previous_sha256: str | None = None
    previous_byte_size: int | None = None

    def kept(self) -> PackRef | None:
        """The pack kept to fall back on, as the hub announced it (None: none, or a record
        that did not keep its checksum)."""
        if self.previous is None or self.previous_sha256 is None:
            return None
        return PackRef(self.previous, self.previous_sha256, self.previous_byte_size or 0)


@dataclass(frozen=True)
class PackFailures:
    """Consecutive failed installs of one announced pack (``species_pack.failures``)."""

    version: str
    sha256: str
    failures: int
    last_failure_at: datetime
    error: str  # the last failure's cause
    # The hub's ``Retry-After`` with the last failure (a 429 or 503), in seconds as the
    # transport read and bounded it: the next try waits at least that long. None: none sent.
    retry_after_s: float | None = None

    def concern(self, pack: PackRef) -> bool:
        return (self.version, self.sha256) == (pack.version, pack.sha256)

    def last_try_at(self) -> datetime:
        return self.last_failure_at

    def retry_at(self) -> datetime:
        wait_s = PACK_RETRY.honouring(PACK_RETRY.ceiling_s(self.failures), self.retry_after_s)
        return self.last_failure_at + timedelta(seconds=wait_s)

    def message(self) -> str:
        """What the app and ``jaga sync status`` show until the pack installs."""
        return (
            f"species pack {self.version} not installed: {self.error};"
            f" failed {self.failures} {'time' if self.failures == 1 else 'times'}, next try after"
            f" {format_timestamp(self.retry_at())}"
        )

    def to_json(self) -> str:
        body = asdict(self) | {"last_failure_at": format_timestamp(self.last_failure_at)}
        if self.retry_after_s is None:  # as a record was before it was kept
            del body["retry_after_s"]
        return json.dumps(body, sort_keys=True)


@dataclass(frozen=True)
class PackRepairs:
    """The times one installed pack, damaged on disk, was downloaded again
    (``species_pack.repairs``)."""

    version: str
    sha256: str
    repairs: int
    last_repair_at: datetime

    def concern(self, pack: PackRef) -> bool:
        return (self.version, self.sha256) == (pack.version, pack.sha256)

    def last_try_at(self) -> datetime:
        return self.last_repair_at

    def retry_at(self) -> datetime:
        return self.last_repair_at + timedelta(seconds=PACK_RETRY.ceiling_s(self.repairs))

    def message(self, damage: str) -> str:
        """What the app and ``jaga sync status`` show while the next repair waits."""
        return (
            f"species pack {self.version} is damaged on disk: {damage}; downloaded again"
            f" {self.repairs} {'time' if self.repairs == 1 else 'times'}, next try after"
            f" {format_timestamp(self.retry_at())}"
        )

    def to_json(self) -> str:
        body = asdict(self) | {"last_repair_at": format_timestamp(self.last_repair_at)}
        return json.dumps(body, sort_keys=True)


def announced_pack(values: Mapping[str, str]) -> PackRef | None:
    """The newest announcement pulled (``sync.client.apply`` keeps it as JSON)."""
    body = _json_object(values.get(SPECIES_PACK_NAME))
    try:
        return PackRef(str(body["version"]), str(body["sha256"]), int(body["byte_size"]))
    except (KeyError, TypeError, ValueError):
        return None  # none pulled, or unreadable: nothing to install


def installed_record(values: Mapping[str, str]) -> InstalledPack | None:
    body = _json_object(values.get(INSTALLED_NAME))
    previous = body.get("previous")
    kept_sha256, kept_size = body.get("previous_sha256"), body.get("previous_byte_size")
    try:
        return InstalledPack(
            str(body["version"]),
            str(body["sha256"]),
            int(body["byte_size"]),
            str(previous) if previous else None,
            str(kept_sha256) if previous and kept_sha256 else None,
            int(kept_size) if previous and kept_sha256 and kept_size else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def failures_record(values: Mapping[str, str]) -> PackFailures | None:
    """The failures counted so far, or None (none, cleared, or unreadable: then the pack is
    simply tried, which is what a device did before it counted)."""
    body = _json_object(values.get(FAILURES_NAME))
    try:
        record = PackFailures(
            str(body["version"]),
            str(body["sha256"]),
            int(body["failures"]),
            parse_timestamp(str(body["last_failure_at"])),
            str(body["error"]),
            _seconds(body.get("retry_after_s")),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return record if record.failures >= 1 else None


def _seconds(value: Any) -> float | None:
    """A kept ``Retry-After``: seconds from 0 to the pack's cap, else None (unreadable:
    the back-off alone decides, as before it was kept)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value) if 0 <= value <= PACK_RETRY.cap_s else None


def repairs_record(values: Mapping[str, str]) -> PackRepairs | None:
    """The repairs counted so far, or None (none, or unreadable: then a damaged pack is
    simply repaired, which is what an explicit request always did)."""
    body = _json_object(values.get(REPAIRS_NAME))
    try:
        record = PackRepairs(
            str(body["version"]),
            str(body["sha256"]),
            int(body["repairs"]),
            parse_timestamp(str(body["last_repair_at"])),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return record if record.repairs >= 1 else None


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        body = json.loads(text or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def same_pack(current: PackRef | None, wanted: PackRef) -> bool:
    """Whether ``wanted`` is the pack installed (whether or not its folder is whole): only
    then does a sync download a damaged installed pack again."""
    return current is not None and (current.version, current.sha256) == (
        wanted.version, wanted.sha256,
    )  # fmt: skip
