"""Which hub a catch is of (``fish_observations.for_hub``, schema 17), stamped when it is
known: when a pull writes the catch (the hub it pulled from: ``stamp_pulled``) and when a
hub acknowledges this device's entry of it (the hub that took it: ``stamp_acknowledged``).
Never at a move: a catch recorded here the old hub never took is not that hub's, and one a
sync under way pulled from the old hub after the move was saved is not the new hub's.

An entry queued about a catch of another hub than the registered one is held for that hub
(``catch_held_for``, read by ``sync.store.outbox.Outbox.hub_holding``): the review of
another boat's catch pulled from the old hub, which has no entry of this device to hold it,
goes to the old hub once the device is registered with it again, never to the new one,
another organisation's, which never had the catch. Registered back with the catch's hub,
nothing is held: the stamp names the hub, not a hub left.

A catch stamped with its hub's address, before the device learned the hub's id, is stamped
with the id once the device learns it (``stamp_with_id``), so the hub at a new address is
still its hub (``sync.store.hub_keys``).

A store upgraded to schema 17 cannot tell which hub a catch pulled or acknowledged before
was of: a move before schema 17 stamped none. Two notes (``sync_state``, ``known_after``) say
from which outbox entry and which access decision on it knows, by row id: a time would be
compared with times the device's clock wrote, set back or far ahead around the upgrade. A
move holds the records it cannot vouch for as of no known hub (``hold_unvouched``,
``UNKNOWN_HUB``), instead of as the hub being left's. A pull or an acknowledgement that
stamps such a catch later vouches for it: what waits about it held as of no known hub (its
review) follows it (``follow_vouched``), to the registered hub if the catch is its, else held
for the catch's hub; and what is queued about it later is held as the catch is
(``vouched_for``, read by ``Outbox.hub_holding``), not as its acknowledged entries kept as of
no known hub would hold it. What no hub vouches for stays held, sent to none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sync.store.hub_keys import UNKNOWN_HUB, hub_key, hub_stamp
from sync.store.state_rows import HUB_ID_NAME, get_value

# From where the store knows the hub of what it acknowledged and recorded: the newest outbox
# entry acknowledged, and the newest access decision, at the upgrade to schema 17; 0 for a
# store made at it (``sync.store.schema.v17``).
KNOWN_AFTER_OUTBOX = "hub.known_after_outbox"
KNOWN_AFTER_EVENT = "hub.known_after_event"
# Not stamped with a hub yet: none, or none this store can vouch for.
_UNSTAMPED = f"(for_hub IS NULL OR for_hub = '{UNKNOWN_HUB}')"
_STAMP_ACKNOWLEDGED = (
    f"UPDATE fish_observations SET for_hub = ? WHERE {_UNSTAMPED} AND observation_uid IN"
    " (SELECT entity_uid FROM outbox WHERE idempotency_key = ? AND entity = 'fish_observation')"
)
# Recorded here, and its change not taken by any hub yet: its entries say which hub it goes to.
_UNSENT_HERE = (
    "EXISTS (SELECT 1 FROM outbox WHERE outbox.entity_uid = fish_observations.observation_uid"
    " AND outbox.state IN ('queued', 'sent', 'rejected'))"
)


def known_after(connection: Any) -> tuple[int, int]:
    """The outbox sequence and the access decision id after which the store knows which hub
    its records are of; (0, 0), from the start, when it kept no note."""
    return _row_id(get_value(connection, KNOWN_AFTER_OUTBOX)), _row_id(
        get_value(connection, KNOWN_AFTER_EVENT)
    )


def _row_id(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def stamp_pulled(connection: Any, uid: str, hub: str | None) -> None:
    """The catch ``uid`` was just pulled from ``hub`` (a ``hub_stamp``; None: not said)."""
    if hub is not None:
        connection.execute(
            f"UPDATE fish_observations SET for_hub = ? WHERE observation_uid = ? AND {_UNSTAMPED}",
            (hub, uid),
        )


def stamp_acknowledged(connection: Any, keys: Iterable[str], hub: str) -> None:
    """``hub`` acknowledged the outbox entries ``keys``: the catches they are about are its."""
    connection.executemany(_STAMP_ACKNOWLEDGED, [(hub, key) for key in keys])
    follow_vouched(connection)


def follow_vouched(connection: Any) -> int:
    """After catches were stamped (``stamp_pulled``, ``stamp_acknowledged``): the unsent
    entries about a catch now stamped with its hub that are held as of no known hub are
    held as the catch is (``catch_held_for``): not at all when it is the registered hub's,
    else for its hub, never for another. Returns how many it moved."""
    registered = _registered(connection)
    rows = connection.execute(_VOUCHED, (UNKNOWN_HUB, UNKNOWN_HUB)).fetchall()
    connection.executemany(
        "UPDATE outbox SET for_hub = ? WHERE sequence = ?",
        [(None if hub in registered else hub, sequence) for sequence, hub in rows],
    )
    return len(rows)


# Unsent entries held as of no known hub about a catch stamped with its hub, and the stamp.
_VOUCHED = (
    "SELECT o.sequence, f.for_hub FROM outbox o"
    " JOIN fish_observations f ON f.observation_uid = o.entity_uid"
    " WHERE o.state IN ('queued', 'sent', 'rejected') AND o.for_hub = ?"
    " AND o.entity = 'fish_observation' AND f.for_hub IS NOT NULL AND f.for_hub != ?"
)


def vouched_for(connection: Any, uid: str) -> bool:
    """Whether the catch ``uid`` is stamped with its hub (not unstamped, nor ``UNKNOWN_HUB``)."""
    row = connection.execute(
        "SELECT 1 FROM fish_observations WHERE observation_uid = ? AND NOT " + _UNSTAMPED,
        (uid,),
    ).fetchone()
    return row is not None


def stamp_with_id(connection: Any, hub_url: str, hub_id: str) -> None:
    """The registered hub, at ``hub_url``, names itself ``hub_id``: its catches stamped with
    its address are stamped with its id."""
    connection.execute(
        "UPDATE fish_observations SET for_hub = ? WHERE for_hub = ?",
        (hub_id.lower(), hub_key(hub_url)),
    )


def hold_unvouched(connection: Any) -> None:
    """At a move: the catches with no stamp and nothing unsent of their own were pulled or
    acknowledged before the store knew which hub they are of (``known_after``); held as
    of no known hub, never as the hub being left's."""
    connection.execute(
        f"UPDATE fish_observations SET for_hub = ? WHERE for_hub IS NULL AND NOT {_UNSENT_HERE}",
        (UNKNOWN_HUB,),
    )


def catch_held_for(connection: Any, uid: str) -> str | None:
    """The hub an entry about the catch ``uid`` is held for: the catch's, when another than
    the registered one (``UNKNOWN_HUB`` when the store cannot tell); None when it goes to the
    registered hub, or the catch has no stamp (recorded here: its entries say)."""
    row = connection.execute(
        "SELECT for_hub FROM fish_observations WHERE observation_uid = ? AND for_hub IS NOT NULL",
        (uid,),
    ).fetchone()
    registered = _registered(connection)
    if row is None or not registered:
        return None
    return None if row[0] in registered else str(row[0])


def _registered(connection: Any) -> tuple[str, ...]:
    """The stamps that name the registered hub (its id or address, and its address); none
    when the store is not registered."""
    hub_url = get_value(connection, "hub_url")
    if hub_url is None:
        return ()
    return hub_stamp(hub_url, get_value(connection, HUB_ID_NAME)), hub_key(hub_url)
