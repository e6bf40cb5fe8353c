"""What ``jaga sync status`` and the app show: local facts only, and never the token.

Reading status needs no hub and no registration: an operator on a boat can see how much is
waiting, what was quarantined and why, which photos the hub refused to take (their bytes
only on this device: ``sync.client.failed_uploads``) and why, and when the last sync
worked. While any such photo waits, the last sync is not shown as a plain "ok", and the last
success comes with how many photos failed and since when.

The species pack's part (announced, installed, in use, damaged) is ``sync.client.pack_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sync import plural
from sync.client.audit import BREAK_NAME, PROBLEM_NAME, Anchored, anchored_at_name
from sync.client.config import (
    DEVICE_ID_ENV,
    FACE_IMAGES_ENV,
    HUB_URL_ENV,
    SITE_ENV,
    TOKEN_ENV,
    SitePolicy,
    parse_flag,
)
from sync.client.failed_uploads import FailedUpload, count_failed_uploads, failed_uploads
from sync.client.full_pull import FullPull, PulledWith
from sync.client.pack_status import PackInUse, PackStatus, read_pack_status, verified_pack
from sync.client.site_state import cursor_name, full_pull_name, pulled_with_name
from sync.client.state import (
    LastResult,
    ensure_schema,
    read_values,
)
from sync.client.uploads import count_pending_uploads, withheld_face_images
from sync.store import OutboxState, Quarantined, Store
from sync.store.clock_floor import device_clock_warning
from sync.store.outbox_hub import NO_KNOWN_HUB_WORDS, held_for_no_known_hub, held_for_other_hubs
from sync.store.state_rows import FACE_IMAGES_NAME

_SHOWN_QUARANTINED = 10
_REQUEUE_HINT = "             once the cause is fixed: jaga sync requeue #SEQUENCE ... (or --all)"
_RETRY_UPLOADS_HINT = (
    "             once the cause is fixed: jaga sync retry-uploads PHOTO ... (or --all)"
)
# The store deletes these entries once the hub acknowledged them (``sync.store.outbox_forget``):
# the acknowledged count holds the catches, photos and erasures it keeps, not all the hub took.
_NOT_KEPT = " (access decisions, people and face templates are not kept once acknowledged)"
_NOT_REGISTERED = "(not registered): run `jaga sync register --hub URL`"


@dataclass(frozen=True)
class AuditStatus:
    """How much of this device's audit chain the hub holds, and why not the rest."""

    anchored: int = 0
    entries: int = 0
    problem: str | None = None
    anchored_at: str | None = None  # when the hub last said what it holds (stored text)
    break_open: bool = False  # the problem is an audit break: the hub's admin must close it
    # Entries before this registration's own, which its hub is never sent
    # (``sync.client.audit_start``): 0 for a device registered before that.
    before_registration: int = 0

    @property
    def waiting(self) -> int:
        """Entries the hub does not hold yet and is to be sent."""
        return max(self.entries - max(self.anchored, self.before_registration), 0)

    def lines(self) -> list[str]:
        shown = f"anchored at the hub up to entry {self.anchored} of {self.entries}"
        if not self.anchored:
            shown = f"not anchored at the hub ({plural.entries(self.entries)})"
        if not self.anchored and self.before_registration:
            shown = (
                f"not anchored at the hub yet: from entry {self.before_registration + 1},"
                f" the registration's, on ({plural.entries(self.waiting)} to send)"
            )
        if self.anchored_at:
            shown += f", last at {self.anchored_at}"
        lines = [f"audit        {shown}"]
        if self.problem:
            lines.append(f"audit issue  {self.problem}")
        return lines


@dataclass(frozen=True)
class SyncStatus:
    hub_url: str | None
    site: str | None
    device_id: str | None
    token: str  # where the token comes from ("environment", "store", "missing"); never its value
    policy: SitePolicy
    outbox: tuple[tuple[str, int], ...]
    quarantined: tuple[Quarantined, ...]
    cursor: int | None
    pending_uploads: int
    withheld_face_images: int
    last: LastResult
    species_pack: PackStatus
    audit: AuditStatus = field(default_factory=AuditStatus)
    # Pulled people kept until they can apply here (uid, why): ``sync.client.apply``.
    set_aside: tuple[tuple[str, str], ...] = ()
    # the clock reads before the hub time seen, the release date, or a time recorded here
    clock: str | None = None
    full_pull: str | None = None  # the site pulled again from the start (``full_pull``)
    held: int = 0  # outbox entries held for a hub left since (``sync.store.outbox_hub``)
    held_unknown: int = 0  # and those held as of no known hub, which nothing sends
    # Photos whose upload the hub refused for good (``sync.client.failed_uploads``): how
    # many, and the first of them, shown with why.
    failed_uploads: int = 0
    failed_shown: tuple[FailedUpload, ...] = ()

    def lines(self) -> list[str]:
        last = self.last
        outcome = self._last_outcome()
        lines = [
            f"hub          {self.hub_url or _NOT_REGISTERED}",
            f"site         {self.site or '-'}",
            f"device       {self.device_id or '-'}",
            f"token        {self.token}",
            f"face images  {'travel' if self.policy.send_face_images else 'stay on device'}",
            "outbox       "
            + ", ".join(_outbox_words(state, n) for state, n in self.outbox)
            + _NOT_KEPT,
            f"cursor       {self.cursor if self.cursor is not None else '-'}",
            f"uploads      {self.pending_uploads} pending, "
            + (f"{self.failed_uploads} failed, " if self.failed_uploads else "")
            + f"{self.withheld_face_images} face images withheld",
            f"last sync    {last.attempted_at or 'never'}" + (f" ({outcome})" if outcome else ""),
            f"last success {last.succeeded_at or 'never'}" + self._success_note(),
        ]
        if self.held:
            held = plural.counted(self.held, "outbox entry", "outbox entries")
            lines.append(
                f"held         {held} queued for another hub than this one, never sent to it"
                " (registered with that hub again, they go)"
            )
        if self.held_unknown:
            held = plural.counted(self.held_unknown, "outbox entry", "outbox entries")
            lines.append(f"held         {held} {NO_KNOWN_HUB_WORDS}")
        if self.clock:
            lines.append(f"clock        {self.clock}")
        if self.full_pull:
            lines.append(f"full pull    {self.full_pull}")
        lines.extend(self.species_pack.lines())
        lines.extend(self.audit.lines())
        for entry in self.quarantined:
            lines.append(
                f"quarantined  #{entry.sequence} {entry.entity} {entry.entity_uid}: {entry.reason}"
            )
        if self.quarantined:
            lines.append(_REQUEUE_HINT)
        for uid, reason in self.set_aside:
            lines.append(f"set aside    person {uid} pulled, tried again with each pull: {reason}")
        lines.extend(self._failed_upload_lines())
        return lines

    def _last_outcome(self) -> str:
        """The last sync's outcome, saying so while photos failed to upload: such a sync
        ran, but left bytes that exist only on this device."""
        outcome = self.last.outcome()
        if not self.failed_uploads or not outcome or self.last.error:
            return outcome
        failed = plural.counted(self.failed_uploads, "photo")
        first = f": {self.failed_shown[0].detail}" if self.failed_shown else ""
        return f"{outcome}, {failed} failed to upload{first}"

    def _success_note(self) -> str:
        """What to read beside the last success. A sync that ran through is a success even
        while photos the hub refused for good wait, as while entries wait in quarantine:
        otherwise one photo no retry can send would freeze it for good, and its age would no
        longer tell an outage apart. So it names them and since when, and never reads as
        "all sent" while their bytes are only on this device."""
        if not self.last.succeeded_at:
            return ""
        note = " (the last sync that held nothing back)" if self.last.held_back else ""
        if self.failed_uploads:
            failed = plural.counted(self.failed_uploads, "photo")
            since = f" since {self.failed_shown[0].at}" if self.failed_shown else ""
            note += f", with {failed} failed to upload{since} (the bytes only on this device)"
        return note

    def _failed_upload_lines(self) -> list[str]:
        lines = [
            f"upload failed photo {failed.photo_uid} at {failed.at}, its bytes only on this"
            f" device: {failed.detail}"
            for failed in self.failed_shown
        ]
        if self.failed_uploads > len(self.failed_shown):
            more = self.failed_uploads - len(self.failed_shown)
            lines.append(f"upload failed and {plural.counted(more, 'photo')} more")
        if self.failed_uploads:
            lines.append(_RETRY_UPLOADS_HINT)
        return lines


def _outbox_words(state: str, count: int) -> str:
    if state == OutboxState.ACKNOWLEDGED:
        return f"acknowledged and kept {count}"
    return f"{state} {count}"


def read_status(
    store: Store,
    env: Mapping[str, str],
    *,
    check_pack: bool = False,
    pack_in_use: PackInUse | None = None,
) -> SyncStatus:
    """``check_pack``: read the installed pack's files against its manifest (``jaga sync
    status``; about 19 MB for the default pack), which the app's panel and a metrics scrape,
    asked often, do not; when they fail, ``pack_in_use`` names the pack in use instead
    (``PackInUse``; by default ``verified_pack``)."""
    ensure_schema(store.database)
    stored = read_values(store.database)

    def pick(env_name: str, stored_name: str) -> str | None:
        return env.get(env_name) or stored.get(stored_name) or None

    site = pick(SITE_ENV, "site")
    token = "set (environment)" if env.get(TOKEN_ENV) else (
        "set (kept in the encrypted store)" if stored.get("device_token") else "missing"
    )  # fmt: skip
    policy = SitePolicy(parse_flag(pick(FACE_IMAGES_ENV, FACE_IMAGES_NAME) or "", FACE_IMAGES_ENV))
    counts = store.outbox.counts()
    cursor = stored.get(cursor_name(site)) if site else None
    held, held_unknown = _held(store)
    return SyncStatus(
        hub_url=pick(HUB_URL_ENV, "hub_url"),
        site=site,
        device_id=pick(DEVICE_ID_ENV, "device_id"),
        token=token,
        policy=policy,
        outbox=tuple((state.value, n) for state, n in counts.items()),
        quarantined=tuple(store.outbox.quarantined(_SHOWN_QUARANTINED)),
        cursor=int(cursor) if cursor is not None else None,
        pending_uploads=count_pending_uploads(store, policy),
        withheld_face_images=withheld_face_images(store, policy),
        last=LastResult.from_values(stored),
        species_pack=read_pack_status(store, env, stored, check_pack, pack_in_use or verified_pack),
        audit=read_audit_status(store, pick(DEVICE_ID_ENV, "device_id")),
        set_aside=_set_aside_people(store, site),
        clock=read_clock_warning(store),
        full_pull=_full_pull(stored, site, int(cursor or 0)),
        held=held,
        held_unknown=held_unknown,
        failed_uploads=count_failed_uploads(store),
        failed_shown=tuple(failed_uploads(store, _SHOWN_QUARANTINED)),
    )


def _held(store: Store) -> tuple[int, int]:
    """Entries held for a hub left since, and those held as of no known hub."""
    with store.database.read() as connection:
        return held_for_other_hubs(connection), held_for_no_known_hub(connection)


def _full_pull(stored: Mapping[str, str], site: str | None, cursor: int) -> str | None:
    """The last pull of the site from the start, or the one owed to it (``full_pull``)."""
    if not site:
        return None
    full = FullPull.from_stored(stored.get(full_pull_name(site)))
    noted = PulledWith.from_stored(stored.get(pulled_with_name(site)))
    if cursor and not noted.complete:
        return (
            f"owed: cursor {cursor} was pulled by {noted.words()}; the next sync whose push"
            " leaves nothing queued pulls the site again from the start"
        )
    return None if full is None else full.words()


def read_clock_warning(store: Store) -> str | None:
    """Why this device's clock looks wrong, or reads before a time this store recorded by it
    (``clock_floor.device_clock_warning``); None if neither."""
    with store.database.read() as connection:
        return device_clock_warning(connection, store.clock)


def _set_aside_people(store: Store, site: str | None) -> tuple[tuple[str, str], ...]:
    rows = store.database.query(
        "SELECT person_uid, reason FROM deferred_changes WHERE site = ?"
        " AND entity_uid = person_uid ORDER BY cursor",
        (site or "",),
    )
    return tuple((str(uid), str(reason)) for uid, reason in rows)


def read_audit_status(store: Store, device_id: str | None) -> AuditStatus:
    """The audit chain's part of the status, alone: the app reads it again after each sync
    (with the sync's own store, on its thread)."""
    stored = read_values(store.database)
    anchored = Anchored.from_values(stored, device_id) if device_id else Anchored()
    anchored_at = stored.get(anchored_at_name(device_id)) if device_id else None
    start = Anchored.before_start(stored, device_id) if device_id else Anchored()
    entries, _ = store.audit.head()
    return AuditStatus(
        anchored=anchored.sequence,
        entries=entries,
        problem=stored.get(PROBLEM_NAME) or None,
        anchored_at=anchored_at or None,
        break_open=stored.get(BREAK_NAME) == "1",
        before_registration=start.sequence,
    )
