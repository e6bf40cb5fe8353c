"""Which hub an outbox entry is for: the one it was queued for, never another.

An entry queued while the device was registered with hub A is A's: pushed to hub B, whose
site of the same slug is another organisation's site, it would hand B people, their face
templates and access decisions it has no right to. So when the device registers with another
hub, the entries still unsent (queued, sent without an answer, or quarantined, which an
operator's requeue would send) are stamped with A (``outbox.for_hub``, schema 15), and a push
takes only entries with no stamp (``Outbox.queued``). They stay in the store, neither sent
nor dropped: an erasure or a catch among them exists nowhere else. Registered back with A,
the stamp goes and they are pushed as before.

The acknowledged entries the store keeps (catches, photos, tombstones) are stamped too: they
name records of the old hub, which later entries about them must follow (below), though
nothing of them is sent again (a restored new hub's renewal, ``sync.store.resend``, reads only
those with no stamp), nor counted as held (``held_for_other_hubs``: only the unsent wait).
A photo's bytes go to the hub that acknowledged its metadata, and to no other: the new hub
has no such photo (it answers ``unknown_photo``, and the client would record the photo as
skipped, never to reach the old hub), so ``sync.client.uploads`` offers only photos of
entries with no stamp. So are the access decisions recorded so far
(``access_events.for_hub``, schema 16): a restored new hub's renewal (``sync.store.resend``)
queues again only decisions with no stamp, never the old hub's, whatever their site's slug.

The catches are not stamped at a move: each is stamped with its hub when pulled or
acknowledged (``sync.store.catch_hub``), and an entry about one of another hub is held for it.

What a store upgraded to schema 17 had acknowledged or recorded at the upgrade, before it
knew which hub it was registered with (``catch_hub.known_after``), may be of a hub it left
before: a move before
schema 15 or 16 stamped nothing. A move stamps those, and the catches it cannot tell the
hub of, with ``UNKNOWN_HUB``, never with the hub being left: they are sent to no hub again,
nor what is queued about them, until a pull vouches for such a catch
(``catch_hub.follow_vouched``).

A person such an entry names (a person entry by its uid, a template or photo by its person)
is the old hub's too, kept on this device only for those records (``sync.client.moved_site``):
its site may have the new hub's site's slug, so the kiosk leaves them out by this, not by
their site (``people_held_for_other_hubs``).

An entry made later about a record whose entries are held (an erasure of a person kept with
``--strand-records``, the review of a catch recorded for the old hub) is held for the same
hub (``sync.store.outbox.hub_holding``): sent to the new one, it would name a person or catch
that hub never had, and the old hub, which has them, would never hear of it.

Hubs are told apart by the id each names itself by, whatever their addresses, or by address
when either id is unknown (``sync.store.hub_keys.same_hub``): registered with its hub at
a new address, the device holds nothing, and entries held for that hub (stamped with its id)
are released to it. An entry held for a hub whose id was unknown is stamped with its address.
"""

from __future__ import annotations

from typing import Any

from sync.store.catch_hub import hold_unvouched, known_after
from sync.store.hub_keys import UNKNOWN_HUB, hub_key, hub_stamp, same_hub

# Not yet taken by the hub: an acknowledged entry is done with.
_UNSENT = "state IN ('queued', 'sent', 'rejected')"
# Acknowledged and kept (``sync.store.resend``): catches, photos (their bytes still to
# upload, or not) and tombstones, which name a record of the hub that acknowledged them.
_KEPT = (
    "state = 'acknowledged' AND (entity IN ('photo', 'fish_observation')"
    " OR operation = 'tombstone')"
)


def hold_for_hub(
    connection: Any, old_hub: str, old_id: str | None, new_hub: str, new_id: str | None
) -> int:
    """Inside the registration's write transaction: stamp the entries still unsent (and the
    acknowledged ones kept) with the old hub (``old_hub``, named ``old_id``) when the new one
    is another hub, and release those held for the new one; returns how many unsent entries
    it stamped."""
    if same_hub(old_hub, old_id, new_hub, new_id):
        return 0
    cursor = connection.execute(
        f"UPDATE outbox SET for_hub = ? WHERE for_hub IS NULL AND {_UNSENT}",
        (hub_stamp(old_hub, old_id),),
    )
    # And what it acknowledged and the store keeps, and its decisions: later entries about
    # those records (an erasure of a person) are then held for it too, and a restored hub's
    # renewal (``sync.store.resend``) queues again only the registered hub's. Only what it
    # took or recorded since the store knew its hub; the rest may be a hub's left before.
    outbox_after, event_after = known_after(connection)
    old, unknown = hub_stamp(old_hub, old_id), UNKNOWN_HUB
    connection.execute(
        f"UPDATE outbox SET for_hub = {_SINCE.format('sequence')}"
        f" WHERE for_hub IS NULL AND {_KEPT}",
        (outbox_after, old, unknown),
    )
    connection.execute(
        f"UPDATE access_events SET for_hub = {_SINCE.format('id')} WHERE for_hub IS NULL",
        (event_after, old, unknown),
    )
    hold_unvouched(connection)
    # Released after the stamping, or they would be stamped with the hub left. By its id,
    # and by its address: held while its id was unknown, they fall back to it.
    new = (hub_stamp(new_hub, new_id), hub_key(new_hub))
    for table in ("outbox", "access_events"):
        connection.execute(f"UPDATE {table} SET for_hub = NULL WHERE for_hub IN (?, ?)", new)
    return int(cursor.rowcount)


# The hub left, for a record after the row the store knew its hub from, or else no known hub.
_SINCE = "CASE WHEN {} > ? THEN ? ELSE ? END"


def held_for_other_hubs(connection: Any) -> int:
    """How many entries wait for a hub this device is no longer registered with (not those
    of no known hub: ``held_for_no_known_hub``)."""
    row = connection.execute(
        f"SELECT count(*) FROM outbox WHERE for_hub IS NOT NULL AND for_hub != ? AND {_UNSENT}",
        (UNKNOWN_HUB,),
    ).fetchone()
    return int(row[0])


def held_for_no_known_hub(connection: Any) -> int:
    """How many unsent entries are held as of no known hub (``UNKNOWN_HUB``): no
    registration sends them, the hub they were of included."""
    row = connection.execute(
        f"SELECT count(*) FROM outbox WHERE for_hub = ? AND {_UNSENT}", (UNKNOWN_HUB,)
    ).fetchone()
    return int(row[0])


# Said by `jaga sync status` and `jaga store info` of entries held as of no known hub.
NO_KNOWN_HUB_WORDS = (
    "of no known hub (about records this device took before it kept which hub they are of,"
    " and registered with another hub since): sent to no hub"
)


# The person an entry names: a person entry by its uid, a template or photo by its person.
_PEOPLE_NAMED = (
    "SELECT DISTINCT coalesce(json_extract(payload, '$.person_uid'), entity_uid) FROM outbox"
    f" WHERE for_hub IS NOT NULL AND {_UNSENT} AND entity IN ('person', 'face_template', 'photo')"
)


def people_held_for_other_hubs(connection: Any) -> frozenset[str]:
    """The uids of the people named by entries held for another hub: that hub's people, not
    the registered hub's, whatever their site's slug."""
    return frozenset(str(uid) for (uid,) in connection.execute(_PEOPLE_NAMED).fetchall())


def destination_words(held_for: str | None, quarantined: str | None = None) -> str:
    """Where an entry just queued goes (``Outbox.held_for``), as ``jaga store confirm`` and
    the app's review list say it: to the registered hub, or held for the hub its record is
    of, which a user must know, since the review then reaches no hub until the device is
    registered with that one again; or nowhere: written quarantined, with the reason
    ``quarantined`` (``Outbox.quarantine_reason``: a catch an earlier release recorded with
    a name the hub refuses, ``sync.store.review_entry``)."""
    if quarantined is not None:
        return f"not sent: it waits in quarantine (`jaga sync status`): {quarantined}"
    if held_for is None:
        return "queued for the hub"
    if held_for == UNKNOWN_HUB:
        return (
            "held: this device cannot tell which hub the catch is of (pulled or sent before"
            " it kept that, and registered with another hub since); not sent to any hub"
        )
    return (
        f"held for hub {held_for}, whose catch it is: not sent to the hub this device is"
        " registered with; it goes to that hub if this device is registered with it again"
    )
