"""The Catch panel's spool entries of catches a sync pulled back into the store (a store
restored to a backup taken before them, ``jaga store restore``), without their photos:
photos never travel in pulls (``sync.store.pulled_photos``, ``sync.store.catch_written``).
No Qt here.
"""

from __future__ import annotations

from dataclasses import replace

from desktop.catch_errors import CatchError
from desktop.catch_records import CatchRecord
from sync.client.full_pull import photos_unnoted
from sync.store import Store
from sync.store.catch_written import KeptCatch
from sync.store.clock import format_timestamp
from sync.store.pulled_photos import keep_pulled_photo


def put_photo(store: Store, catch: CatchRecord) -> None:
    """The catch's photo put into the store for the catches there that name it and lack it
    (this catch pulled back: ``sync.store.pulled_photos``), before its spool entry, which may
    hold the device's only bytes of it, is deleted; dated as its Retry would be."""
    made_at = catch.pressed_at if catch.from_spool else None
    keep_pulled_photo(
        store.database, store.clock, store.outbox,
        (catch.uid, catch.photo.data, catch.photo.media_type),
        observation_uids=catch.observation_uids,
        made_at=None if made_at is None else format_timestamp(made_at),
    )  # fmt: skip


def wait_for_a_pull(store: Store, catch: CatchRecord, kept: str) -> None:
    """Refuse, kept as it is, a catch kept by a Jaga before entries kept their uids while
    the store may hold it pulled back with no note of its photo (``photos_unnoted``): its
    Retry would record it a second time. The next sync notes the photo."""
    if catch.from_spool and not catch.uids_kept:
        with store.database.read() as connection:
            if photos_unnoted(connection):
                raise CatchError(
                    f"{catch.name} may be recorded already: a sync before this release pulled"
                    f" this device's catches back without their photos; sync, then Retry ({kept})"
                )


def kept_catch(catch: CatchRecord) -> KeptCatch:
    return KeptCatch(catch.observation_uids, [fish.crop for fish in catch.fish])


def with_held_fish(catch: CatchRecord, lacking: list[int]) -> CatchRecord:
    """``catch`` noting which of its fish the store holds, all but those it is ``lacking``
    (a sync pulled part of it back), so that the question before a Dismiss names only the
    fish it loses."""
    held = tuple(n for n in range(len(catch.fish)) if n not in lacking)
    return replace(catch, held_fish=held) if held else catch
