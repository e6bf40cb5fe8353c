"""Pulled people, their erasures and their face templates, applied to the device store.

A tombstone erases the person here exactly as a local erasure does (templates and photos
deleted, outbox payloads blanked, an audit entry naming only the uid), and a person this
device erased itself is never brought back by an older upsert; but for its retention
purge's erasure once the hub acknowledged it, since a hub that sends the person after that
kept them (``_erased_here``), and this device then notes when to erase them next
(``sync.store.retention_kept``). A person whose badge another person on this device holds,
and a template of a person set aside, cannot apply yet (``NotYet``: set aside,
``sync.client.apply``). A person's upsert that carries another consent than the one held
here is skipped (``_other_consent``): a consent never changes once recorded (but for the
characters the hub took out of its names, ``_as_the_hub_cleaned``).
"""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from sync.client.apply_context import NotYet, Outcome, PageContext, held_before_replay
from sync.protocol import (
    NAME_MAX_LENGTH,
    RETENTION_REASON,
    FaceTemplateUpsert,
    PersonTombstone,
    PersonUpsert,
)
from sync.protocol.names import name_without_hidden_characters
from sync.store import ModelRef
from sync.store.clock import format_timestamp
from sync.store.gallery import model_dim
from sync.store.people import remove_person
from sync.store.retention_kept import note_kept_by_hub


def apply_person(context: PageContext, payload: PersonUpsert) -> Outcome:
    connection, uid = context.connection, str(payload.person_uid)
    if _erased_here(connection, uid):
        return "erased on this device; the erasure wins"
    if held_before_replay(context, "people", "person_uid", uid):
        return None  # it holds the newest it pulled (an older badge here may be another's)
    if other := _other_consent(connection, uid, payload):
        return other
    clash = connection.execute(
        "SELECT person_uid FROM people WHERE external_id = ? AND person_uid != ?",
        (payload.external_id, uid),
    ).fetchone()
    if clash:
        return NotYet(f"its badge is held by person {clash[0]} on this device")
    values = (payload.external_id, payload.display_name, payload.site, *_consent_columns(payload))
    updated = connection.execute(
        "UPDATE people SET external_id = ?, display_name = ?, site = ?, consent_text_version = ?,"
        " consent_given_at = ?, consent_operator = ?, retain_until = ? WHERE person_uid = ?",
        (*values, uid),
    ).rowcount
    if not updated:
        connection.execute(
            "INSERT INTO people (external_id, display_name, site, consent_text_version,"
            " consent_given_at, consent_operator, retain_until, person_uid, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (*values, uid, format_timestamp(context.now)),
        )
    if _retention_overruled(connection, uid):  # or this device erases them again at once
        note_kept_by_hub(
            connection, uid, payload.consent.retain_until, context.now, context.hub_now
        )
    return None


def _other_consent(connection: Any, person_uid: str, payload: PersonUpsert) -> str | None:
    """Why ``payload`` cannot apply, when it carries another consent than the one this
    device holds for the person: a consent never changes once recorded (the hub refuses a
    push that would change it, ``sync.hub.apply.people``), so one pulled can only come from
    an older, buggy or hostile hub, and taken it could keep someone past retention."""
    held = connection.execute(
        "SELECT consent_text_version, consent_given_at, consent_operator, retain_until"
        " FROM people WHERE person_uid = ?",
        (person_uid,),
    ).fetchone()
    pulled = _consent_columns(payload)
    if held is None or tuple(held) == pulled or _as_the_hub_cleaned(tuple(held)) == pulled:
        return None
    return (
        f"its consent differs from the one held here (given {held[1]}, kept until {held[3]}):"
        " a consent never changes once recorded"
    )


def _as_the_hub_cleaned(held: tuple[str, ...]) -> tuple[str, ...]:
    """A consent held here as a hub sends it once it took out of its names the characters
    the protocol refuses in them (hub migration 0055): the same consent, which the pull
    brings as the protocol now takes it (a consent held with such a character, from an
    earlier release, would otherwise keep this device from every later change of the
    person)."""
    version, given_at, operator, retain_until = held
    clean = partial(name_without_hidden_characters, max_length=NAME_MAX_LENGTH)
    return (clean(version), given_at, clean(operator), retain_until)


def _consent_columns(payload: PersonUpsert) -> tuple[str, str, str, str]:
    consent = payload.consent
    return (
        consent.text_version,
        format_timestamp(consent.given_at),
        consent.operator,
        format_timestamp(consent.retain_until),
    )


def apply_tombstone(context: PageContext, payload: PersonTombstone) -> Outcome:
    uid = str(payload.person_uid)
    removed = remove_person(context.connection, context.store.outbox, uid)
    if removed is None:
        return None
    context.store.audit.append(
        context.connection,
        actor="hub",
        action="person.erased",
        subject=uid,
        details=removed.details(payload.reason),
    )
    context.tally.erased += 1
    return None


def apply_template(context: PageContext, payload: FaceTemplateUpsert) -> Outcome:
    connection, uid = context.connection, str(payload.template_uid)
    if connection.execute("SELECT 1 FROM face_templates WHERE template_uid = ?", (uid,)).fetchone():
        return None  # templates never change once made
    person = connection.execute(
        "SELECT id FROM people WHERE person_uid = ?", (str(payload.person_uid),)
    ).fetchone()
    if person is None:
        if _set_aside_here(connection, str(payload.person_uid)):
            return NotYet(f"its person {payload.person_uid} is set aside on this device")
        return f"person {payload.person_uid} is not on this device"
    model = ModelRef(payload.model_id, payload.model_version)
    dim = model_dim(connection, model)
    if dim is not None and dim != payload.dim:
        return f"{model} templates here have {dim} dimensions, not {payload.dim}"
    connection.execute(
        "INSERT INTO face_templates (template_uid, person_id, model_id, model_version, dim,"
        " vector, quality, source, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            uid,
            person[0],
            payload.model_id,
            payload.model_version,
            payload.dim,
            base64.b64decode(payload.vector_f32le_b64),
            payload.quality,
            payload.source,
            format_timestamp(context.now),
        ),
    )
    return None


def _erased_here(connection: Any, person_uid: str) -> bool:
    """Whether this device erased the person, and the hub has not overruled it.

    An operator's erasure always wins. The retention purge's (``RETENTION_REASON``, which
    no operator may give) is overruled once the hub has acknowledged its tombstone: a hub
    that applied it erased the person and never sends them again; one that sends them after
    kept them (``early_retention``: this device's clock ran ahead), and they come back.
    """
    return any(not _overruled_retention(*row) for row in _tombstones(connection, person_uid))


def _retention_overruled(connection: Any, person_uid: str) -> bool:
    """Whether the hub kept the person after this device's retention erasure of them."""
    return any(_overruled_retention(*row) for row in _tombstones(connection, person_uid))


def _tombstones(connection: Any, person_uid: str) -> list[tuple[str, str]]:
    """(payload, state) of each of this device's tombstones of ``person_uid``."""
    rows = connection.execute(
        "SELECT payload, state FROM outbox WHERE entity_uid = ? AND operation = 'tombstone'",
        (person_uid,),
    ).fetchall()
    return [(str(payload), str(state)) for payload, state in rows]


def _overruled_retention(payload: str, state: str) -> bool:
    reason = json.loads(payload).get("reason")
    return state == "acknowledged" and reason == RETENTION_REASON


def _set_aside_here(connection: Any, person_uid: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM deferred_changes WHERE entity_uid = ?", (person_uid,)
    ).fetchone()
    return row is not None
