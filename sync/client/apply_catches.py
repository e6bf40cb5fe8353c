"""Pulled fish observations (catches), applied to the device store.

A fish observation's ``pack_version``, ``crop``, ``status`` and ``status_reason`` are taken
only from a change that carries them: one written before the hub knew the fields says
nothing about them (nor one pulled on protocol 2), so an observation first seen without its
box is stored with ``crop_known`` 0, and this device's edits of it leave the box out
(``observation_payload``).

A fish observation first seen in a pull is another boat's catch (``recorded_here`` 0, schema
11), unless the change came from this device (``device``): its own catch coming back, after
a restore from an older backup. A later change of a row leaves where it came from as it is.

A catch this device edited (an officer's review) after the version pulled, whose edit the
hub has not taken yet, keeps its version: the edit's outbox entry is stamped later than
the change's ``changed_at``, which no field stamp of the version is after, so the hub keeps
the edit over it anyway (``sync.hub.apply.lww``); applied, the version would put the catch
back in the review queue until the edit came back, and a later edit here would send a
whole row built from it. The change is skipped with its reason, giving the catch only what
it lacks (``_fill_observation``), and the entry goes to the hub as it was. Not taken yet:
queued, sent with no answer, or quarantined, for the hub pulled from or held as of no known
hub (the pull vouches for the catch: ``sync.store.catch_hub``). A version as new as the
edit or newer (a hub review made after it) applies, and so does any once the hub
acknowledged the edit: what it logs after is its word.
"""

from __future__ import annotations

import json
from typing import Any

from sync.client.apply_context import Outcome, PageContext, held_before_replay
from sync.protocol import FishObservationUpsert
from sync.store.catch_hub import stamp_pulled
from sync.store.clock import format_timestamp
from sync.store.hub_keys import UNKNOWN_HUB
from sync.store.observations import held_observation, observation_payload
from sync.store.pulled_photos import note_pulled_photo


def apply_observation(context: PageContext, payload: FishObservationUpsert) -> Outcome:
    """The catch as pulled, stamped with the hub pulled from (``sync.store.catch_hub``): it
    has the catch, whatever this device does with the change; and the photo it is on noted
    while the store lacks it (``sync.store.pulled_photos``: photos never travel in pulls)."""
    outcome = _observation_change(context, payload)
    uid = str(payload.observation_uid)
    stamp_pulled(context.connection, uid, context.hub)
    photo_uid = None if payload.photo_uid is None else str(payload.photo_uid)
    note_pulled_photo(context.connection, uid, photo_uid)
    return outcome


def _observation_change(context: PageContext, payload: FishObservationUpsert) -> Outcome:
    connection, uid = context.connection, str(payload.observation_uid)
    if held_before_replay(context, "fish_observations", "observation_uid", uid):
        return _fill_observation(context, payload)
    if context.renewed and (kept := _newer_review_here(context, payload)) is not None:
        return kept
    if (waiting := _edited_here_since(context, uid)) is not None:
        _fill_observation(context, payload)
        return waiting
    now = format_timestamp(context.now)
    values = _observation_values(connection, payload, now)
    # A change written before the hub knew a field added since protocol 2 says nothing about
    # it: keep ours.
    sent = _added_columns(payload, only_sent=True)
    sent_set = "".join(f", {column} = ?" for column in sent)
    updated = connection.execute(
        f"UPDATE fish_observations SET {_OBSERVATION_SET}{sent_set} WHERE observation_uid = ?",
        (*values, *sent.values(), uid),
    ).rowcount
    if not updated:
        added = _added_columns(payload, only_sent=False)
        here = context.origin is not None and context.origin == context.device
        connection.execute(
            f"INSERT INTO fish_observations ({_OBSERVATION_COLUMNS}, {', '.join(added)},"
            f" observation_uid, created_at, recorded_here)"
            f" VALUES ({', '.join(['?'] * (len(values) + len(added) + 3))})",
            (*values, *added.values(), uid, now, int(here)),
        )
    return None


def _newer_review_here(context: PageContext, payload: FishObservationUpsert) -> str | None:
    """Pulling a renewed log again, a catch whose review here is newer than the change's
    (a hub review pulled after the backup the hub was restored from) keeps it: the change
    is skipped, and this device's version queued again, dated when reviewed, so the hub
    takes the review back (``sync.hub.apply.lww``) and logs it for every device. None: the
    change applies."""
    uid = str(payload.observation_uid)
    held = held_observation(context.connection, uid)
    if held is None or held.reviewed_at is None:
        return None
    if payload.reviewed_at is not None and payload.reviewed_at >= held.reviewed_at:
        return None
    reviewed = format_timestamp(held.reviewed_at)
    waiting = context.connection.execute(  # queued for an earlier change of the re-pull
        "SELECT 1 FROM outbox WHERE entity_uid = ? AND state = 'queued' AND created_at >= ?",
        (uid, reviewed),
    ).fetchone()
    if waiting is None:
        context.store.outbox.enqueue(
            context.connection, entity="fish_observation", entity_uid=uid, operation="upsert",
            payload=observation_payload(held), made_at=reviewed,
        )  # fmt: skip
    return "reviewed here after the hub's version (lost in its restore): kept, and sent again"


def _edited_here_since(context: PageContext, uid: str) -> str | None:
    """Why the catch ``uid`` keeps this device's version: an edit of it made here after the
    change in hand (its entry's ``created_at``, the time the hub stamps it by, is later
    than the change's ``changed_at``, so later than every field stamp of the version) that
    the hub has not taken yet. None: the change applies; also on an exact tie, which the
    hub settles by writer, and when the change was logged after the edit, though from
    older field stamps (it says no more): the edit, pushed, wins there and comes back."""
    if context.changed_at is None:
        return None
    row = context.connection.execute(
        _WAITING_EDIT, (uid, UNKNOWN_HUB, context.hub, format_timestamp(context.changed_at), uid)
    ).fetchone()
    if row is None:
        return None
    sequence, state = row
    words = "quarantined" if state == "rejected" else state
    return (
        f"changed here after this version, not yet taken by the hub (outbox entry #{sequence},"
        f" {words}): kept, and the change made here goes to the hub, where the later one wins"
    )


# This device's newest edit of a catch it holds that the hub has not taken, bound for the
# hub pulled from: queued, sent with no answer yet, or quarantined (an operator's requeue
# sends it); with no hub named, or held as of no known hub (this pull vouches for the catch:
# ``sync.store.catch_hub.follow_vouched``), never one held for a hub left since.
_WAITING_EDIT = (
    "SELECT sequence, state FROM outbox WHERE entity_uid = ? AND entity = 'fish_observation'"
    " AND state IN ('queued', 'sent', 'rejected') AND (for_hub IS NULL OR for_hub IN (?, ?))"
    " AND created_at > ? AND EXISTS"
    " (SELECT 1 FROM fish_observations WHERE observation_uid = ?)"
    " ORDER BY sequence DESC LIMIT 1"
)


def _fill_observation(context: PageContext, payload: FishObservationUpsert) -> Outcome:
    """A replayed change of a catch held here, or one older than an edit here the hub has
    not taken (``_edited_here_since``), gives it only what older protocols did not
    carry and it lacks: its pack, its verdict (with its reason) and its box. Its species,
    review, notes and counts are the newest it pulled, or its own later edits."""
    sent = _added_columns(payload, only_sent=True)
    lacking = {
        "pack_version": "pack_version IS NULL",
        "status": "status IS NULL",
        "status_reason": "status IS NULL",  # the verdict's reason goes with the verdict
        **dict.fromkeys(("crop_x", "crop_y", "crop_w", "crop_h", "crop_known"), "crop_known = 0"),
    }
    filled = [column for column in sent if column in lacking]
    if filled:
        sets = ", ".join(
            f"{column} = CASE WHEN {lacking[column]} THEN ? ELSE {column} END" for column in filled
        )
        context.connection.execute(
            f"UPDATE fish_observations SET {sets} WHERE observation_uid = ?",
            (*(sent[column] for column in filled), str(payload.observation_uid)),
        )
    return None


def _added_columns(payload: FishObservationUpsert, *, only_sent: bool) -> dict[str, Any]:
    """The columns of ``pack_version``, ``crop``, ``status`` and ``status_reason`` (all, or
    only those the change carries), and ``crop_known``: whether the change told the box."""
    columns: dict[str, Any] = {}
    for name in ("pack_version", "status", "status_reason"):
        if not only_sent or name in payload.model_fields_set:
            columns[name] = getattr(payload, name)
    told = "crop" in payload.model_fields_set
    if not only_sent or told:
        crop = payload.crop or (None, None, None, None)
        columns.update(zip(("crop_x", "crop_y", "crop_w", "crop_h"), crop, strict=True))
        columns["crop_known"] = int(told)
    return columns


def _observation_values(
    connection: Any, payload: FishObservationUpsert, now: str
) -> tuple[Any, ...]:
    """The row's ``_OBSERVATION_COLUMNS``, in order."""
    photo = None
    if payload.photo_uid is not None:
        photo = connection.execute(
            "SELECT id FROM photos WHERE photo_uid = ?", (str(payload.photo_uid),)
        ).fetchone()
    latitude, longitude = payload.position if payload.position else (None, None)
    return (
        format_timestamp(payload.observed_at),
        json.dumps([[name, score] for name, score in payload.predictions]),
        payload.confirmed_species,
        int(payload.needs_review),
        photo[0] if photo else None,
        latitude,
        longitude,
        payload.vessel,
        payload.trip,
        payload.haul,
        payload.count,
        payload.length_cm,
        payload.officer,
        payload.notes,
        payload.reviewed_by,  # who confirmed the species, when the hub's copy names them
        None if payload.reviewed_at is None else format_timestamp(payload.reviewed_at),
        now,
    )


_OBSERVATION_COLUMNS = (
    "observed_at, predictions, confirmed_species, needs_review, photo_id, latitude, longitude,"
    " vessel, trip, haul, count, length_cm, officer, notes, reviewed_by, reviewed_at, updated_at"
)
_OBSERVATION_SET = ", ".join(f"{c.strip()} = ?" for c in _OBSERVATION_COLUMNS.split(","))
