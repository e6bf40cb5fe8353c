"""Fish observations (LWW per field) and access events (append-only); photos: ``photos``.

A catch is its author's: the device whose push created it on the hub (``FishObservation.device``;
a restored store on replacement hardware is the same device, given a new code). The author
writes every field, each by last-writer-wins, including those a newer protocol added that it
fills in later. Any other device of the site may change only the review (``VERDICT_FIELDS``:
the species confirmed, or none with a reviewer for "not a fish", whether it needs review,
and who reviewed it when); the catch's facts (officer, time, count, length, position, vessel,
trip, haul, notes, photo, predictions and what was made with them) stay the author's. Its
push is not refused for carrying them: a shipped device sends the whole row it holds with a
review (``sync.store.observations.observation_payload``), facts as it last pulled them. They
are left out before the merge, so they take no stamps either, and when they differ from the
author's the hub logs the catch as it stands, so the reviewing device pulls the author's
facts back and every device converges. The hub itself records no catch; its reviews
(``sync.hub.review``) change the review alone. A catch whose device row is gone has no
author for good: every device may only review it.

A catch the hub does not hold may come first from a device that only reviewed it: a hub
restored from a backup lost it, and a device that pulled it pushes its review again
(``sync.store.resend``), or for the first time: the whole row it holds, with the facts as it
pulled them and no photo (photos never travel in pulls). Taken for the catch's own push, it
would make the reviewer the author, and the catch's own device, pushing it later, another
device: its photo link dropped, on the hub and then, pulled back, in its own store. Refused
until that device pushes, the catch would be lost where it never does (its store lost too).
So a device on protocol 6 says which it sends (``FishObservationUpsert.recorded_here``, of
itself only), and a review (False) of a catch the hub does not hold makes the catch with no
author (``author_pending``): the reviewer's facts, unstamped, and its review, stamped as any.
The first push of it saying True claims it: that device becomes the author, its facts (its
photo among them) replace the reviewer's, and the reviews merge by last-writer-wins.
Before and after, a review changes only the review. An older device says nothing (None): the
first device to push a catch is its author, as before, and its push of a catch waiting for
its author is a review (it may be one).

Some observation fields have no stamp of their own: they follow another field and change
only with a write that wins it (``FOLLOWERS``). The reviewer (``reviewed_by``,
``reviewed_at``) belongs to ``confirmed_species``, so a stale edit that loses the species to
a later review cannot blank the reviewer beside it; the species pack (``pack_version``)
belongs to ``predictions``, whose maker it names, and so do the fish's box in a shared photo
(``crop``), which they were made on, and the pack's verdict on them (``status``,
``status_reason``). A payload without one of these (an older device's: ``pack_version`` and
``crop`` came with protocol 3, the verdict with 4) leaves it as it is: such a device never
knew it, and its edit must not erase what a newer device reported. Nor does a payload
that names them but leaves the predictions as they are (``MADE_WITH``): an edit re-sends
the predictions, and a device that pulled the catch on an older protocol and was upgraded
since sends None for what it was never told. Likewise a payload naming no photo leaves the
photo linked: a device that pulled the observation but not its photo sends none, and its
edit (a confirmation) must not unlink the photo for the hub and every other device.

A catch its own device pushes again under a new uid (the same fish of the same photo) is
the one the hub holds, not a second (``sync.hub.apply.same_catch``).

A catch's time may lie no further ahead than the clocks that vouch for it
(``sync.hub.apply.catch_time``).

A record may name only its own site's records: a catch's photo must be a catch photo of the
site (never another site's, which would then show in this site's review queue and pulls,
nor a person's enrolment photo), and an access event's person one of the site's people. A
photo or person the hub does not hold yet is taken as named (its own push may come later;
see ``_check_catch_photo``).
"""

from __future__ import annotations

from typing import Any

from sync.hub.apply.catch_time import check_catch_time
from sync.hub.apply.changes import append_change
from sync.hub.apply.context import EntryContext, EntryRejectedError, Outcome
from sync.hub.apply.lww import Stamp, initial_versions, merge, wins
from sync.hub.apply.same_catch import held_same_catch
from sync.hub.metrics import count_access_event, observe_fish_confidence
from sync.hub.models import AccessEvent, Device, FishObservation, Person, Photo
from sync.protocol import ADDED_FIELDS, AccessEventUpsert, FishObservationUpsert

REVIEW_FIELDS = ("reviewed_by", "reviewed_at")
VERDICT_FIELDS = frozenset({"confirmed_species", "needs_review", *REVIEW_FIELDS})
"""The fields of a catch a device other than its author may change: its review."""
ADDED_OBSERVATION_FIELDS = frozenset(ADDED_FIELDS[("fish_observation", "upsert")])
"""Fields an older device's payload lacks; absent, they leave the stored values alone."""
CROP_COLUMNS = ("crop_x", "crop_y", "crop_w", "crop_h")
FOLLOWERS = {
    "reviewed_by": "confirmed_species",
    "reviewed_at": "confirmed_species",
    "pack_version": "predictions",
    "crop": "predictions",
    "status": "predictions",
    "status_reason": "predictions",
}
"""Unstamped field -> the stamped field whose winning write alone may change it."""
MADE_WITH = frozenset({"predictions"})
"""Leaders whose followers were made with them: a write that wins such a leader changes its
followers only when it changes the leader's value too (a new classification). An edit
(a confirmation) re-sends the same predictions with the stamp of the edit; it was not made
with the box, pack or verdict it carries, which may be None merely because the editing
device, on an older protocol when it pulled the catch, was never told them."""


def apply_observation(ctx: EntryContext, payload: FishObservationUpsert) -> str:
    found = FishObservation.objects.select_for_update().filter(uid=payload.observation_uid).first()
    incoming = _observation_fields(payload)
    if found is None:
        crop = _columns({"crop": incoming.get("crop")})  # not sent (protocol < 3): whole photo
        if (held := held_same_catch(ctx, payload, crop)) is not None:
            _review_same_catch(ctx, held, payload, incoming)  # recorded twice: kept once
            return Outcome.SAME_CATCH
        _make_observation(ctx, payload, incoming)
        return Outcome.APPLIED
    ctx.require_own_site(f"observation {found.uid}", found.site_id)
    if found.author_pending and payload.recorded_here is True:
        _claim_observation(ctx, found, payload, incoming)
        return Outcome.APPLIED
    if found.device_id == ctx.device.pk:
        _check_catch_photo(ctx, payload)
        check_catch_time(ctx, payload.observed_at, found.observed_at)
        changed = update_observation(found, incoming, ctx.stamp)
        told_otherwise = False
    else:
        changed = update_observation(found, _verdict_of(incoming), ctx.stamp)
        told_otherwise = _facts_differ(found, incoming)
    if changed or told_otherwise:
        emit_observation(found, ctx.device)
    return Outcome.APPLIED if changed else Outcome.UNCHANGED


def _review_same_catch(
    ctx: EntryContext,
    held: FishObservation,
    payload: FishObservationUpsert,
    incoming: dict[str, Any],
) -> None:
    """A review its device made of the catch under the other uid reaches the catch held,
    if it was made after the held one's (``sync.hub.apply.same_catch``): its push is dated
    when it was made, but the catch's record again, dated later, re-sends the review it was
    recorded with, which must not replace a later one."""
    reviewed_at = payload.reviewed_at
    if reviewed_at is None or (held.reviewed_at is not None and reviewed_at <= held.reviewed_at):
        return
    if update_observation(held, _verdict_of(incoming), ctx.stamp):
        emit_observation(held, ctx.device)


def _make_observation(
    ctx: EntryContext, payload: FishObservationUpsert, incoming: dict[str, Any]
) -> None:
    """The hub's first word of a catch: its author's, or a review of it by a device that
    did not record it, which makes it with no author and stamps only the review (see the
    module)."""
    _check_catch_photo(ctx, payload)
    check_catch_time(ctx, payload.observed_at, None)
    reviewed = payload.recorded_here is False
    stamped, _ = _split_followers(_verdict_of(incoming) if reviewed else incoming)
    made = FishObservation.objects.create(
        uid=payload.observation_uid,
        site=ctx.site,
        device=None if reviewed else ctx.device,
        author_pending=reviewed,
        field_versions=initial_versions(stamped, ctx.stamp),
        **_columns(incoming),
    )
    emit_observation(made, ctx.device)
    if not reviewed:
        observe_fish_confidence(payload.predictions)  # once its savepoint and batch commit


def _claim_observation(
    ctx: EntryContext,
    observation: FishObservation,
    payload: FishObservationUpsert,
    incoming: dict[str, Any],
) -> None:
    """The device that recorded a catch made from a review pushes it: it becomes the author.
    Each fact it sends replaces the reviewer's, followers too (those were never stamped; one
    it leaves out, such as no photo, leaves the one held); its review merges by LWW (see the
    module). Logged as the catch then stands, so every device pulls the author's facts with
    the review that won."""
    _check_catch_photo(ctx, payload)
    check_catch_time(ctx, payload.observed_at, None)
    facts = {name: value for name, value in incoming.items() if name not in VERDICT_FIELDS}
    for column, value in _columns(facts).items():
        setattr(observation, column, value)
    stamped, _ = _split_followers(facts)
    observation.field_versions = observation.field_versions | initial_versions(stamped, ctx.stamp)
    observation.device, observation.author_pending = ctx.device, False
    update_observation(observation, _verdict_of(incoming), ctx.stamp)  # saves
    emit_observation(observation, ctx.device)
    observe_fish_confidence(payload.predictions)  # the catch's own, as when first made


def _verdict_of(incoming: dict[str, Any]) -> dict[str, Any]:
    """What a device other than the catch's author may change: the review (see the module).
    The facts it sent with it are what it last pulled, or its own idea of them: dropped."""
    return {name: value for name, value in incoming.items() if name in VERDICT_FIELDS}


def _facts_differ(observation: FishObservation, incoming: dict[str, Any]) -> bool:
    """Whether another device's push carried facts other than the catch's (its author's):
    that device holds others, and is to pull the catch's own."""
    current = observation_fields(observation)
    return any(
        current[name] != value for name, value in incoming.items() if name not in VERDICT_FIELDS
    )


def _check_catch_photo(ctx: EntryContext, payload: FishObservationUpsert) -> None:
    """The photo a catch names is none, or a catch photo of the pushing device's site."""
    if payload.photo_uid is None:
        return
    photo = Photo.objects.filter(uid=payload.photo_uid).first()
    if photo is None:
        # Taken as named, not refused, not even "not yet": a catch legitimately comes before
        # its photo when the photo's entry was refused for now in the same push (its catch
        # applies in its own savepoint) or quarantined and requeued later, and when another
        # device's review is queued again to a restored hub before the boat's photo
        # (``sync.store.resend``). A "not yet" would hold such a review, and quarantine the
        # catch itself where the photo never comes. No other site can know the uid before
        # the photo's push, and what reads a catch's photo checks it then: never a person's,
        # nor another site's (``sync.hub.corrections`` and the review queue's photo view:
        # a catch photo of the catch's own site).
        return
    ctx.require_own_site(f"photo {photo.uid}", photo.site_id)
    if photo.person_id is not None:
        raise EntryRejectedError(f"forbidden: photo {photo.uid} is a person's photo, not a catch's")


def update_observation(
    observation: FishObservation, incoming: dict[str, Any], stamp: Stamp
) -> bool:
    """Merge ``incoming`` fields by LWW and save; True when a value changed.

    A follower in ``incoming`` (``FOLLOWERS``) is taken only when the field it follows is in
    ``incoming`` too and wins, and for the predictions' followers (``MADE_WITH``) only when
    the predictions change as well.
    """
    current = observation_fields(observation)
    stamped, followers = _split_followers(incoming)
    leaders_won = {
        leader
        for leader in set(FOLLOWERS.values())
        if leader in stamped
        and wins(observation.field_versions, leader, stamp)
        and (leader not in MADE_WITH or current[leader] != stamped[leader])
    }
    changed, versions = merge(current, observation.field_versions, stamped, stamp)
    changed.update(
        {
            name: value
            for name, value in followers.items()
            if FOLLOWERS[name] in leaders_won and current[name] != value
        }
    )
    for column, value in _columns(changed).items():
        setattr(observation, column, value)
    observation.field_versions = versions
    observation.save()
    return bool(changed)


def emit_observation(observation: FishObservation, origin: Device | None) -> None:
    payload = FishObservationUpsert(
        observation_uid=observation.uid, **observation_fields(observation)
    ).model_dump(mode="json", exclude={"recorded_here"})  # the pusher's word, not the catch's
    # An empty reviewer is left out (it reads as None): a device still on protocol 1, which
    # pulls without naming its version, can then still apply every unreviewed observation.
    # So is a verdict or a pack the hub was never told (an older device's catch): an
    # explicit None would erase what a device holds (see observation_payload).
    for name in (*REVIEW_FIELDS, "pack_version"):
        if payload[name] is None:
            del payload[name]
    if payload["status"] is None:
        del payload["status"], payload["status_reason"]
    append_change(
        observation.site,
        "fish_observation",
        observation.uid,
        "upsert",
        payload,
        origin=origin,
        versions=observation.field_versions,
    )


def apply_access_event(ctx: EntryContext, payload: AccessEventUpsert) -> str:
    existing = AccessEvent.objects.filter(uid=payload.event_uid).first()
    if existing is not None:
        ctx.require_own_site(f"access event {existing.uid}", existing.site_id)
        if _event_fields(payload) != _stored_event(existing):
            raise EntryRejectedError(f"access event {existing.uid} is append-only: already stored")
        return Outcome.UNCHANGED
    if payload.site != ctx.site.slug:
        raise EntryRejectedError(
            f"forbidden: event for site {payload.site} from a {ctx.site} device"
        )
    if payload.person_uid is not None:
        person = Person.objects.filter(uid=payload.person_uid).first()
        if person is not None:
            ctx.require_own_site(f"person {person.uid}", person.site_id)
    AccessEvent.objects.create(
        uid=payload.event_uid, site=ctx.site, device=ctx.device, **_event_fields(payload)
    )
    count_access_event(payload.decision)  # once its savepoint and batch commit
    return Outcome.APPLIED


def observation_fields(observation: FishObservation) -> dict[str, Any]:
    """An observation's synced fields in payload form (the LWW unit is one of these)."""
    position = None
    if observation.latitude is not None and observation.longitude is not None:
        position = [observation.latitude, observation.longitude]
    return {
        "observed_at": observation.observed_at,
        "predictions": [list(p) for p in observation.predictions],
        "confirmed_species": observation.confirmed_species,
        "needs_review": observation.needs_review,
        "photo_uid": observation.photo_uid,
        "position": position,
        "vessel": observation.vessel,
        "trip": observation.trip,
        "haul": observation.haul,
        "count": observation.count,
        "length_cm": observation.length_cm,
        "officer": observation.officer,
        "notes": observation.notes,
        "reviewed_by": observation.reviewed_by or None,
        "reviewed_at": observation.reviewed_at,
        "pack_version": observation.pack_version,
        "crop": None if observation.crop is None else list(observation.crop),
        "status": observation.status,
        "status_reason": observation.status_reason,
    }


def _observation_fields(payload: FishObservationUpsert) -> dict[str, Any]:
    """The payload's fields; those added since protocol 2 only when they were sent, and the
    photo only when it names one (see the module)."""
    unsent = ADDED_OBSERVATION_FIELDS - payload.model_fields_set
    if payload.photo_uid is None:
        unsent |= {"photo_uid"}
    fields = payload.model_dump(exclude={"observation_uid", "recorded_here", *unsent})
    fields["predictions"] = [list(p) for p in payload.predictions]
    fields["position"] = None if payload.position is None else list(payload.position)
    if "crop" in fields:
        fields["crop"] = None if payload.crop is None else list(payload.crop)
    return fields


def _split_followers(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields with their own LWW stamps, and the followers (``FOLLOWERS``)."""
    stamped = {name: v for name, v in fields.items() if name not in FOLLOWERS}
    followers = {name: v for name, v in fields.items() if name in FOLLOWERS}
    return stamped, followers


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Payload fields to model columns (``position`` is two, ``crop`` four; no reviewer is
    ``""``)."""
    columns = dict(fields)
    if "position" in columns:
        position = columns.pop("position")
        columns["latitude"], columns["longitude"] = position if position else (None, None)
    if "crop" in columns:
        crop = columns.pop("crop")
        columns.update(zip(CROP_COLUMNS, crop or (None,) * len(CROP_COLUMNS), strict=True))
    if "reviewed_by" in columns:
        columns["reviewed_by"] = columns["reviewed_by"] or ""
    return columns


def _event_fields(payload: AccessEventUpsert) -> dict[str, Any]:
    return {
        "device_name": payload.device,
        "occurred_at": payload.occurred_at,
        "decision": payload.decision,
        "person_uid": payload.person_uid,
        "similarity": payload.similarity,
        "liveness": payload.liveness,
        "clock_suspect": payload.clock_suspect or "",  # absent: judged right, or not said
    }


def _stored_event(event: AccessEvent) -> dict[str, Any]:
    return {column: getattr(event, column) for column in _EVENT_COLUMNS}


_EVENT_COLUMNS = (
    "device_name", "occurred_at", "decision", "person_uid", "similarity", "liveness",
    "clock_suspect",
)  # fmt: skip
