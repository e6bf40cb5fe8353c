"""Apply one page of pulled changes to the device store, with the cursor, in one transaction.

The hub is authoritative: a pulled record replaces the device's copy field by field (the hub
has already resolved conflicts by last-writer-wins), but for a catch this device edited
after the version pulled, whose edit the hub has not taken yet (queued, sent with no
answer, quarantined, or held as of no known hub): the hub will keep that edit over the
version, by its later stamp, so the catch keeps it too and the change is skipped with its
reason (``sync.client.apply_catches``). Pulled rows are written without outbox
entries, since they came from the hub. Each kind of change has its handler: people, their
erasures and templates (``sync.client.apply_people``), catches (``sync.client.apply_catches``)
and species pack announcements (``_species_pack``).
A change that cannot apply here (a template for a person this device does not hold, a record
erased here) is skipped with its reason; anything else aborts the page, and neither the
records nor the cursor move. The newest ``changed_at`` of a page (the hub's clock, or a
later stamp of the record it logs), held to the hub's time in the answer, is kept with it:
this device's later edits are stamped after it (``sync.store.edit_clock``), so they win over
what it pulled.

A person whose badge another person on this device holds cannot apply yet, but can once
that person is erased here or given another badge. That change, and the templates pulled
for the person after it, are set aside in the store (``deferred_changes``, schema 10) as
the cursor moves on, and tried again, in the order they were pulled, after every page this
device applies, until they apply or a newer change of the same record replaces them. An
erasure of the person deletes them (``remove_person``), and is recorded and purged from the
store's files as the erasure of a person held here is (a restore carries it over); a new
registration to another site deletes the old site's (``save_registration``). Log lines name
records by uid, never by badge or name: logs outlive an erasure.

Pulling a site again from the start because older code pulled it (``sync.client.full_pull``;
not after the hub renewed its log, ``sync.client.log_epoch``), a change at or before the
cursor older code had reached is a replay of one this device took before: it never replaces
what this device holds with an older version. A person or template held here is left as it
is, one not held (older code skipped it) is taken, with the later versions the re-pull
brings; a tombstone applies; a catch held here is given only what older protocols did not
carry and it lacks (``sync.client.apply_catches``); species pack announcements are not taken again:
they name older packs (they count only with a hub that names no pack in its answer:
``_species_pack``). Pulling again a log the hub renewed, every change applies as in any
pull, but for a catch reviewed here later than the change says (a hub review pulled after
the backup the hub was restored from): it keeps its review, and its version is queued again
so the hub takes it back (``sync.client.apply_catches``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sync.client.apply_catches import apply_observation
from sync.client.apply_context import NotYet, Outcome, PageContext, Tally
from sync.client.apply_people import apply_person, apply_template, apply_tombstone
from sync.client.full_pull import note_progress, under_way
from sync.client.packs import forget_withdrawn_pack
from sync.client.site_state import cursor_name, log_seal_name, log_tip_name
from sync.client.state import record_species_pack
from sync.protocol import (
    Change,
    FaceTemplateUpsert,
    FishObservationUpsert,
    PayloadError,
    PersonTombstone,
    PersonUpsert,
    SpeciesPackPublished,
    WireModel,
    change_fingerprint,
    parse_payload,
)
from sync.store import Store
from sync.store.backup_files import drop_replaced_stores
from sync.store.catch_hub import follow_vouched
from sync.store.clock import format_timestamp
from sync.store.edit_clock import note_hub_time
from sync.store.state_rows import get_value, put_value

_log = logging.getLogger(__name__)
_MAX_REASONS = 20


@dataclass(frozen=True)
class PageReport:
    applied: int
    erased: int
    skipped: tuple[str, ...]
    cursor: int
    set_aside: int = 0  # this page's changes kept to try again later


def apply_page(
    store: Store,
    site: str,
    changes: Sequence[Change],
    next_cursor: int,
    *,
    device: UUID | None = None,
    hub_now: datetime | None = None,
    newest_pack: SpeciesPackPublished | None = None,
    names_pack: bool = False,
    more: bool = True,
    seal: str | None = None,
    hub: str | None = None,
) -> PageReport:
    """Apply ``changes`` and store ``next_cursor`` as this site's cursor, all or nothing.
    ``device``: this device's id, which tells its own catches coming back from others'.
    ``hub_now``: the hub's time in the answer (None: not said), which the changes' times
    are held to (``sync.store.edit_clock``). ``newest_pack``: the newest species pack this
    device reads, as the hub answered (None: not said, a hub before it named one); when
    said, it is the pack to install, whatever the changes announced. ``names_pack``: the
    answer said which pack (a hub that knows how), so a ``newest_pack`` of None means the hub
    holds none this device reads: the pack announced before is dropped
    (``forget_withdrawn_pack``). ``more``: the hub has
    changes after these (False ends a pull of the site from the start). ``seal``: the hub's
    seal of the last change (None: it gave none), kept with it as the tip; with no changes,
    its seal of the tip this device sent from ``next_cursor`` (``reseal_tip``). ``hub``: the
    hub pulled from (a ``hub_stamp``), whose the catches pulled are (``stamp_pulled``), and
    so what waits about them held as of no known hub (``follow_vouched``)."""
    tally = Tally()
    with store.database.write() as connection:
        full = under_way(connection, site)
        context = PageContext(
            store, connection, store.clock.now(), tally, site, device, hub_now=hub_now,
            seen_until=0 if full is None else full.replays_until,
            renewed=full is not None and full.renewed,
            took=set() if full is None else set(full.took), hub=hub,
        )  # fmt: skip
        for change in changes:
            _apply(context, change)
        if newest_pack is not None:  # the hub's word, after the changes: see _species_pack
            record_species_pack(connection, newest_pack.model_dump(mode="json"), context.now)
        elif names_pack:  # it names none: it holds none any more
            forget_withdrawn_pack(connection, context.now)
        # The hub's own time, however wrong this device's clock: see edit_clock.
        times = [(str(c.entity_uid), c.changed_at) for c in changes]
        note_hub_time(connection, times, hub_now, context.now)
        _retry_set_aside(context)
        # What waits about a catch the page vouched for, held as of no known hub: its hub's.
        follow_vouched(connection)
        put_value(connection, cursor_name(site), str(next_cursor), context.now)
        if changes and changes[-1].cursor == next_cursor:  # what the hub checks its log by
            keep_tip(connection, site, tip_value(changes[-1]), seal, context.now)
        elif not changes and seal is not None:
            reseal_tip(connection, site, next_cursor, seal, context.now)
        note_progress(connection, site, next_cursor, context.now, more=more, took=context.took)
    if tally.erased:
        store.database.purge(wait=True)  # their data out of the file too (else it is owed)
        drop_replaced_stores(store.path)  # and out of a copy a killed restore left
    for reason in tally.skipped[:_MAX_REASONS]:
        _log.info("pulled change skipped: %s", reason)
    for reason in tally.set_aside[:_MAX_REASONS]:
        _log.info("pulled change set aside, tried again with every pull: %s", reason)
    return PageReport(
        tally.applied, tally.erased, tuple(tally.skipped), next_cursor, len(tally.set_aside)
    )


def keep_tip(connection: Any, site: str, tip: str, seal: str | None, now: datetime) -> None:
    """Keep ``tip`` (``tip_value``) as the last change applied from ``site``'s log, with the
    hub's seal of it: an empty one when the hub gave none (a hub before seals), so that the
    tip is not asked for again (``Puller.learn_tip``); every pull sends the tip all the same,
    and a hub upgraded since seals it in an answer with no changes (``reseal_tip``)."""
    put_value(connection, log_tip_name(site), tip, now)
    put_value(connection, log_seal_name(site), f"{tip.partition(':')[0]}:{seal or ''}", now)


def reseal_tip(connection: Any, site: str, cursor: int, seal: str, now: datetime) -> None:
    """Keep ``seal``, the hub's seal in an answer that brought no change to a pull from
    ``cursor``, as the seal of the tip this device kept there (and sent: the hub sealed it
    as the change it holds there): one the hub gave none of before its upgrade, or one of
    its old key. Nothing when the tip kept is not there (the hub's word of another one)."""
    at, _, fingerprint = (get_value(connection, log_tip_name(site)) or "").partition(":")
    if fingerprint and at == str(cursor):
        put_value(connection, log_seal_name(site), f"{cursor}:{seal}", now)


def tip_value(change: Change) -> str:
    """The stored tip: the cursor and the fingerprint of the change applied there."""
    fingerprint = change_fingerprint(
        change.cursor, change.entity, change.entity_uid, change.operation, change.changed_at
    )
    return f"{change.cursor}:{fingerprint}"


def _apply(context: PageContext, change: Change) -> None:
    outcome = _outcome(context, change)
    if isinstance(outcome, NotYet):
        context.tally.set_aside_for_now(change, outcome.reason)
        _set_aside(context, change, outcome.reason)
        return
    # This change is newer than any set aside for the record: that one is done with.
    context.connection.execute(
        "DELETE FROM deferred_changes WHERE entity_uid = ?", (str(change.entity_uid),)
    )
    if outcome is None:
        context.tally.applied += 1
    else:
        context.tally.skip(change, outcome)


def _outcome(context: PageContext, change: Change) -> Outcome:
    if change.entity == "species_pack" and change.cursor <= context.seen_until:
        return None  # taken when first pulled: an older pack than one announced since
    try:
        payload = parse_payload(change.entity, change.operation, dict(change.payload))
    except PayloadError as error:
        return str(error)
    handler = _HANDLERS.get(type(payload))
    if handler is None:
        return "not kept on devices"
    replayed = change.cursor <= context.seen_until
    in_hand = replace(
        context, origin=change.origin_device, changed_at=change.changed_at, replayed=replayed
    )
    return handler(in_hand, payload)


def _set_aside(context: PageContext, change: Change, reason: str) -> None:
    person_uid = change.payload.get("person_uid", str(change.entity_uid))
    context.connection.execute(
        "INSERT OR REPLACE INTO deferred_changes (entity_uid, person_uid, site, cursor, change,"
        " reason, deferred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            str(change.entity_uid),
            str(person_uid),
            context.site,
            change.cursor,
            change.model_dump_json(),
            reason,
            format_timestamp(context.now),
        ),
    )


def _retry_set_aside(context: PageContext) -> None:
    """Try the changes set aside again (people before their templates), after a page."""
    rows = context.connection.execute(
        "SELECT entity_uid, change FROM deferred_changes WHERE site = ?"
        " ORDER BY entity_uid != person_uid, cursor",
        (context.site,),
    ).fetchall()
    for entity_uid, text in rows:
        change = Change.model_validate_json(text)
        outcome = _outcome(context, change)
        if isinstance(outcome, NotYet):
            continue
        context.connection.execute(
            "DELETE FROM deferred_changes WHERE entity_uid = ?", (entity_uid,)
        )
        if outcome is None:
            context.tally.applied += 1
        else:
            context.tally.skip(change, outcome)


def _species_pack(context: PageContext, payload: SpeciesPackPublished) -> Outcome:
    """Keep the pack the change log announced as the one to install. A hub that names the
    newest pack in its answer (every hub that knows ``PACK_SCHEMA_HEADER``) overrides it on
    the same page (``apply_page``), so this counts only with a hub that names none."""
    record_species_pack(context.connection, payload.model_dump(mode="json"), context.now)
    return None


# Each handler takes its own payload type; the dict is keyed by that type.
_HANDLERS: dict[type[WireModel], Callable[[PageContext, Any], Outcome]] = {
    PersonUpsert: apply_person,
    PersonTombstone: apply_tombstone,
    FaceTemplateUpsert: apply_template,
    FishObservationUpsert: apply_observation,
    SpeciesPackPublished: _species_pack,
}
