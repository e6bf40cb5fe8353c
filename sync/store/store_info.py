"""A human summary of a store for ``jaga store info``: no names, no vectors, just counts."""

from __future__ import annotations

from pathlib import Path

from sync import plural
from sync.errors import StoreError
from sync.store.audit_times import time_warnings
from sync.store.backup_files import killed_restore_files, partial_backups, replaced_stores
from sync.store.clock import format_timestamp
from sync.store.gallery import gallery_models
from sync.store.kiosk_waiting import set_aside_journals, set_aside_until, waiting_note
from sync.store.outbox_hub import NO_KNOWN_HUB_WORDS, held_for_no_known_hub, held_for_other_hubs
from sync.store.pending_catches import pending_count, spool_path
from sync.store.schema.migrations import LATEST_VERSION, schema_version
from sync.store.store import Store


def describe(store: Store, *, full_check: bool = False) -> tuple[list[str], bool]:
    """Lines to print, and whether the integrity check passed."""
    database = store.database
    slot = store.header.current
    kdf = f" (scrypt n={slot.scrypt.n} r={slot.scrypt.r} p={slot.scrypt.p})" if slot.scrypt else ""
    if slot.scrypt and slot.normalization is None:
        kdf += ", as typed: `jaga store rekey` to Unicode-normalise it"
    with database.read() as connection:
        version = schema_version(connection)
        models = gallery_models(connection)
        per_model = [
            (
                str(model),
                connection.execute(
                    "SELECT count(*) FROM face_templates WHERE model_id = ? AND model_version = ?",
                    (model.model_id, model.model_version),
                ).fetchone()[0],
            )
            for model in models
        ]
        review = connection.execute(
            "SELECT count(*) FROM fish_observations WHERE needs_review = 1"
        ).fetchone()[0]
        free_pages = int(connection.execute("PRAGMA freelist_count").fetchone()[0])
        page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
        kept_entries = connection.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        held = held_for_other_hubs(connection), held_for_no_known_hub(connection)
    outbox = store.outbox.counts()
    sequence, digest = store.audit.head()
    report = store.integrity(quick=not full_check)
    wal = store.path.with_name(store.path.name + "-wal")
    owed_since = database.owed_purge_since()
    lines = [
        f"store        {store.path}",
        f"size         {store.path.stat().st_size} bytes"
        f" (+ WAL {wal.stat().st_size if wal.exists() else 0}),"
        f" {free_pages * page_size} bytes free for reuse",
        f"schema       {version} (this Jaga: {LATEST_VERSION})",
        f"key          {slot.kind}{kdf}",
        f"people       {store.people.count()}",
        "templates    " + (", ".join(f"{name}: {n}" for name, n in per_model) or "none"),
        f"fish         {store.observations.count()} observations, {review} to review",
        *_retention(store, kept_entries, sequence, digest),
        "outbox       "
        + ", ".join(f"{state.value} {n}" for state, n in outbox.items())
        + _held(*held),
        f"for Retry    {_kept_for_retry(store)}",
        f"kiosk        {_kiosk_waiting(store)}",
        f"clock        {'; '.join(time_warnings(store)) or 'ok'}",
        *_failed_uploads(store),
        "erased data  "
        + (
            "none left in the file"
            if owed_since is None
            else f"STILL IN THE FILE since {owed_since}: another process reads the store;"
            " the next open or write once it is done purges it"
        ),
        f"integrity    {'ok' if report.ok else 'FAILED: ' + '; '.join(report.problems[:5])}"
        f" ({'integrity_check' if full_check else 'quick_check'} + audit chain)",
    ]
    return lines + _leftovers(store), report.ok


def _held(held: int, unknown: int) -> str:
    """What the outbox line adds for entries held for a hub left since, and for those held
    as of no known hub: not counted above, as no sync here sends them, but still unsent
    (``sync.store.outbox_hub``)."""
    said = ""
    if held:
        said += (
            f"; held for another hub {held} (unsent: they go only to the hub they were queued"
            " for, if this device is registered with it again)"
        )
    if unknown:
        said += f"; held {unknown} {NO_KNOWN_HUB_WORDS}"
    return said


def _retention(store: Store, kept_entries: int, head: int, digest: str) -> list[str]:
    """The retention setting, and what it keeps of the decisions and the chain since when."""
    kept = store.retention.kept()
    how = "jaga store retention --days N"
    if kept.keep_days == 0:
        setting = f"decisions kept for ever ({how})"
    else:
        default = "the default; " if kept.default else ""
        last = "never yet" if kept.last_run is None else f"last {format_timestamp(kept.last_run)}"
        setting = (
            f"{kept.keep_days} days ({default}{how}), once the hub holds them; runs with"
            f" each sync, {last}"
        )
    since = "" if kept.oldest_event is None else f", since {format_timestamp(kept.oldest_event)}"
    checkpoint = kept.checkpoint
    if checkpoint.sequence == 0:
        audit = f"{plural.entries(head)}, head {digest[:16]}"
    else:
        audit = (
            f"{plural.entries(kept_entries)} kept, from entry {checkpoint.sequence + 1}"
            f" (1-{checkpoint.sequence} not on this device, before its checkpoint: deleted"
            f" by retention if the integrity check passes; the last of them from"
            f" {checkpoint.at}), head {head} {digest[:16]}"
        )
    return [
        f"retention    {setting}",
        f"access       {plural.counted(store.access.count(), 'event')}{since}",
        f"audit        {audit}",
    ]


def _failed_uploads(store: Store) -> list[str]:
    """Photos whose upload the hub refused for good (the sync client's ``sync_uploads``):
    their bytes are only in this store and its backups (``sync.client.failed_uploads``)."""
    rows = store.database.query(
        "SELECT count(*) FROM sync_uploads u JOIN photos p ON p.photo_uid = u.photo_uid"
        " WHERE u.outcome = 'failed'"
    )
    failed = int(rows[0][0])
    if not failed:
        return []
    return [
        f"not uploaded {plural.counted(failed, 'photo')} the hub refused, the bytes only on this"
        " device: `jaga sync status` says why, `jaga sync retry-uploads` sends them again"
    ]


def _kept_for_retry(store: Store) -> str:
    """The catches the store refused that the Catch panel keeps beside it (in the store's
    counts nowhere, nor in its backups) until Retry records them."""
    spool = spool_path(store.path).name
    try:
        count = pending_count(store.path, store.key, store.database.config)
    except StoreError as exc:
        return f"cannot read {spool}: {exc}"
    if count is None:
        return f"catches kept under an earlier key in {spool}, not in the store yet"
    if count == 0:
        return "none"
    return (
        f"{plural.catches(count)} the Catch panel keeps, not in the store yet ({spool}):"
        " Retry them there"
    )


def _kiosk_waiting(store: Store) -> str:
    """The decisions a kiosk keeps beside the store while it is busy (in neither its counts
    nor its audit chain) until the kiosk writes them."""
    note = waiting_note(store.path, store.key, store.database.config, "decision")
    return note or "no decision waiting for the store"


def _leftovers(store: Store) -> list[str]:
    """Copies killed restores and backups left beside the store (they may hold people
    erased since), and kiosk journals set aside unrecorded."""
    lines = []
    if restoring := killed_restore_files(store.path):
        lines.append(
            f"leftover     {_names(restoring)}: a killed restore's copy; the next backup or"
            " restore removes it"
        )
    if replaced := replaced_stores(store.path):
        lines.append(
            f"leftover     {_names(replaced)}: a store a restore replaced and was stopped"
            " before deleting; it holds everyone it held, people erased since too. The next"
            " `jaga store erase`, `purge-expired` or restore deletes it"
        )
    if aside := set_aside_journals(store.path):
        lines.append(
            f"leftover     {_names(aside)}: kiosk decisions the kiosk found under a key the"
            " store no longer has, never recorded: they open with that key;"
            f" {_set_aside_goes(aside, store.retention.keep_days())}"
        )
    if partial := partial_backups(store.path):
        lines.append(
            f"leftover     {_names(partial)}: a killed backup's copy, unless a backup is"
            " writing it now; delete it once none is"
        )
    return lines


def _set_aside_goes(journals: list[Path], keep_days: int) -> str:
    """When decision retention deletes the set-aside journals (``kiosk_waiting``)."""
    if not keep_days:
        return "kept for ever, as decisions are here (jaga store retention --days N)"
    days = sorted({f"{set_aside_until(path, keep_days):%Y-%m-%d}" for path in journals})
    return (
        f"deleted by decision retention after {' / '.join(days)} (the first sync then),"
        f" {keep_days} days after the kiosk set {'it' if len(journals) == 1 else 'them'} aside"
    )


def _names(paths: list[Path]) -> str:
    return ", ".join(path.name for path in paths)
