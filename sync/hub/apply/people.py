"""People, their erasure tombstones and their face templates.

Erasure wins over everything: a tombstone blanks the person, deletes templates and photos,
and every later upsert of that person or of a template for them is acknowledged (so the
device's outbox drains) but changes nothing; the device learns of the erasure by pulling.

A new badge (``external_id``: a new person's, or a person's changed one) is judged as a
device's store judges it at enrolment (``sync.badges``): one with a control character,
surrounding white space or mixed scripts is refused for good, saying why, so the pushing
device (an older, buggy or hostile one: the protocol's schema takes any such name, and
devices parse the people they pull with it, so it stays wide) quarantines it. A badge the
hub stored before stays: an upsert that leaves it as it is applies as ever.

A badge names one live person of a site: a person pushed with a badge another live person of the
site holds, or one that reads as it (``badge_key``: ``b-1`` is ``B-1``; the same subject
enrolled again on an offline kiosk, or a typo) is refused for good, naming the holder by uid, so
the pushing device quarantines it and its operator decides (requeue it once the holder is
erased, or erase it and enrol again under the right badge). Pushes of a site run one at a time
(its change-log lock), so two kiosks cannot both take a badge. A holder past their retention
date is no holder: already gone for devices and search, and due to the daily purge, they are
erased then and there (``RETENTION_REASON``), so someone who consents again may be enrolled
again under their badge; but only on a clock the purge's check trusts (``sync.hub.clock_check``,
asked only when such a holder exists): otherwise the holder is kept and the enrolment refused as
not yet (``EntryNotYetError``), so the kiosk keeps it queued and sends it again at each sync, up
to its limit (``Tuning.max_retryable_attempts``, 20): then it quarantines it and its face
templates (refused meanwhile as of an unknown person), and the reason says to requeue them
(``jaga sync requeue --all``) once the clock is trusted. A refusal the device would keep queued
without counting would take a new field in the push's answer, which older devices cannot read
(every schema forbids unknown fields): a protocol bump, not worth it for a refusal that lasts
until an operator acts on the hub's clock anyway.

A consent, once recorded, is the person's for good (``_refuse_other_consent``): a push that
carries another one is refused for good, so no device of the site can extend (or rewrite) the
consent of someone, past retention or not; a person's other fields still merge as they did.

A device erases people at each sync once their retention date has passed by its own clock
(``People.purge_expired``). A clock ahead would have that tombstone erase someone everywhere
before their time, for good; so the hub applies a tombstone with ``RETENTION_REASON`` only once
the person is past retention by the hub's own clock, and that clock trusted by the purge's
check. Earlier, it acknowledges the tombstone without erasing (``Outcome.EARLY_RETENTION``,
counted in the entries metric and logged as a warning naming the device): the device's queue
drains, the site's other devices keep the person, and the hub's purge (``sync.hub.retention``)
erases them on time and tells every device. The device that sent it has already erased its own
copy, so the hub logs the person and their templates again (``_send_again``): that device pulls
them back, its retention tombstone acknowledged (``sync.client.apply``), and the others apply
them unchanged. While its clock stays ahead it erases them again at each sync, and gets them
back again. A person past retention by the hub's clock while the check does not trust that
clock is put off the same way, the warning naming the hub's clock, but not sent back: the
device was right, and no device is handed a person past retention.
"""

from __future__ import annotations

import base64
import logging
import struct
from typing import Any

from django.utils import timezone

from sync.badges import badge_flaw, badge_key
from sync.hub.apply.changes import append_change
from sync.hub.apply.context import EntryContext, EntryNotYetError, EntryRejectedError, Outcome
from sync.hub.apply.erase import erase
from sync.hub.apply.lww import initial_versions, merge
from sync.hub.clock_check import check_clock
from sync.hub.erasure_journal import ErasureKind
from sync.hub.models import Device, FaceTemplate, Person, Site
from sync.hub.models.people import TEMPLATE_DIM, past_retention
from sync.protocol import (
    RETENTION_REASON,
    FaceTemplateUpsert,
    PersonTombstone,
    PersonUpsert,
)

_log = logging.getLogger(__name__)
# The fields a later push may change (last writer wins); the consent is not one of them.
_MERGED_FIELDS = ("external_id", "display_name")


def apply_person(ctx: EntryContext, payload: PersonUpsert) -> str:
    if payload.site != ctx.site.slug:
        raise EntryRejectedError(
            f"forbidden: person for site {payload.site} from a {ctx.site} device"
        )
    person = Person.objects.select_for_update().filter(uid=payload.person_uid).first()
    incoming = _person_fields(payload)
    if person is None:
        _refuse_new_badge(ctx, payload)
        person = Person.objects.create(
            uid=payload.person_uid,
            site=ctx.site,
            created_by=ctx.device,
            field_versions=initial_versions(incoming, ctx.stamp),
            **incoming,
        )
        _emit_person(person, ctx.device)
        return Outcome.APPLIED
    ctx.require_own_site(f"person {person.uid}", person.site_id)
    if person.erased:
        return Outcome.SUPERSEDED
    _refuse_other_consent(person, incoming.pop("consent"))
    current = {field: getattr(person, field) for field in _MERGED_FIELDS}
    changed, versions = merge(current, person.field_versions, incoming, ctx.stamp)
    if "external_id" in changed:
        _refuse_new_badge(ctx, payload)
    for field, value in changed.items():
        setattr(person, field, value)
    person.field_versions = versions
    person.save()
    if not changed:
        return Outcome.UNCHANGED
    _emit_person(person, ctx.device)
    return Outcome.APPLIED


def _refuse_other_consent(person: Person, consent: dict[str, Any]) -> None:
    """Refuse a push of ``person`` that carries another consent than the one recorded.

    Nothing renews a consent: someone who consents again is enrolled again, as a new
    person. No device changes one either (a person's upsert is queued at enrolment, and
    again as stored at a re-registration's resend), so another consent comes from a buggy
    or hostile device: taken, it would keep someone past retention, matched in search and
    handed to every device. Both sides are the protocol's JSON form (``format_timestamp``),
    so one instant reads the same. The pushing device quarantines the entry; its templates
    still apply, to the person as recorded.
    """
    if consent == person.consent:
        return
    raise EntryRejectedError(
        f"its consent differs from the one the hub recorded for person {person.uid} (given"
        f" {person.consent.get('given_at')}, kept until {person.consent.get('retain_until')}):"
        " a consent never changes once recorded; someone who consents again is enrolled"
        " again, as a new person"
    )


def _refuse_new_badge(ctx: EntryContext, payload: PersonUpsert) -> None:
    """Refuse the badge of ``payload`` (a new person, or a person's new badge) that no
    device's store would enrol, or that another live person of the site holds. A badge
    stored before stays as it is: only a change of it is judged."""
    if not payload.external_id:
        return
    if flaw := badge_flaw(payload.external_id):
        raise EntryRejectedError(
            f"its badge {flaw}: the hub takes no such new badge (erase this person on the"
            " device and enrol them again under a printable badge in one script)"
        )
    _refuse_held_badge(ctx, payload)


def _refuse_held_badge(ctx: EntryContext, payload: PersonUpsert) -> None:
    """Refuse ``payload`` when another live person of the site holds its badge, or one that
    reads as it (``badge_key``); a holder past their retention date is erased instead."""
    now = timezone.now()
    holders = _holders(ctx.site, payload)
    expired = list(past_retention(now).select_for_update().filter(pk__in=holders))
    if expired and not (clock := check_clock(now)).trusted:
        raise EntryNotYetError(
            f"its badge is held by person {expired[0].uid} of this site, past retention by"
            f" the hub's clock only, which it does not trust now ({clock.reason}): sent again"
            " at each sync up to the device's limit of retries (20 unless tuned), then"
            " quarantined with its face templates; once the hub's clock is trusted, `jaga sync"
            " requeue --all` on the device sends them again"
        )
    for person in expired:
        erase(person, erased_at=now, reason=RETENTION_REASON, origin=None, kind=ErasureKind.BADGE)
    holder = (
        Person.objects.filter(pk__in=holders, erased_at=None)
        .order_by("pk")
        .values_list("uid", flat=True)
        .first()
    )
    if holder is not None:
        raise EntryRejectedError(
            f"its badge is held by person {holder} of this site (badges are compared ignoring"
            " case, width and look-alike letters): requeue this entry once that person is"
            " erased (a badge typed wrong: erase this one and enrol them again)"
        )


def _holders(site: Site, payload: PersonUpsert) -> list[int]:
    """The keys of the site's other live people whose badge reads as that of ``payload``.

    The key is not stored (no column to index: it would take a migration and a backfill, and
    PostgreSQL has no NFKC case fold with ``sync.badges``' look-alike table), so the site's
    live badges are read and compared here. A site's people are few (its kiosks' gallery:
    hundreds, a few thousand at most), and a push of a new badge is rare.
    """
    key = badge_key(payload.external_id)
    people = (
        Person.objects.filter(site=site, erased_at=None)
        .exclude(uid=payload.person_uid)
        .exclude(external_id="")
        .values_list("pk", "external_id")
    )
    return [pk for pk, external_id in people if badge_key(external_id) == key]


def apply_tombstone(ctx: EntryContext, payload: PersonTombstone) -> str:
    person = Person.objects.select_for_update().filter(uid=payload.person_uid).first()
    if person is None:
        # Erased on the device before it was ever pushed: keep the tombstone all the same,
        # so a copy of the person pushed later by another path cannot resurrect it.
        person = Person.objects.create(uid=payload.person_uid, site=ctx.site)
    else:
        if person.erased:  # done already, by whoever may: nothing left to refuse
            return Outcome.UNCHANGED
        _refuse_another_sites_erasure(ctx, person)
        if payload.reason == RETENTION_REASON and not _retention_ended(ctx, person, payload):
            return Outcome.EARLY_RETENTION
    erase(
        person,
        erased_at=payload.erased_at,
        reason=payload.reason,
        origin=ctx.device,
        kind=ErasureKind.DEVICE,
    )
    return Outcome.APPLIED


def _refuse_another_sites_erasure(ctx: EntryContext, person: Person) -> None:
    """A device erases only its own site's people. One moved from the person's site (``jaga
    sync register --strand-records``) still holds those it enrolled there, but the hub cannot
    tell it from any other device of its new site: the reason says who can erase them
    everywhere, and the device reports it (``sync.client.refused_erasures``)."""
    if person.site_id == ctx.site.pk:
        return
    raise EntryRejectedError(
        f"forbidden: person {person.uid} belongs to another site, whose people a device of"
        f" site {ctx.site.slug} may not erase: a hub admin must erase them (the hub's admin,"
        " People, Erase) for the erasure to reach that site's devices"
    )


def _retention_ended(ctx: EntryContext, person: Person, payload: PersonTombstone) -> bool:
    """Past retention by the hub's clock, and that clock trusted (``sync.hub.clock_check``);
    otherwise says which clock puts the erasure off, and sends the person back to a device
    whose clock erased them early."""
    now = timezone.now()
    if not past_retention(now).filter(pk=person.pk).exists():
        _log_early_retention(ctx, person, payload)
        _send_again(person)
        return False
    clock = check_clock(now)
    if not clock.trusted:
        _log.warning(
            "device %s (%s) erased person %s for retention, due by the hub's clock, which it"
            " does not trust now (%s): the hub keeps them until its purge runs on a trusted"
            " clock",
            ctx.device.uid,
            ctx.device.name,
            person.uid,
            clock.reason,
        )
    return clock.trusted


def _log_early_retention(ctx: EntryContext, person: Person, payload: PersonTombstone) -> None:
    _log.warning(
        "device %s (%s) erased person %s for retention at %s by its clock, before their"
        " retention date %s by the hub's: its clock looks ahead; the hub keeps them until then",
        ctx.device.uid,
        ctx.device.name,
        person.uid,
        payload.erased_at.isoformat(),
        person.consent.get("retain_until"),
    )


def _send_again(person: Person) -> None:
    """Log ``person`` and their templates as new changes of their site, as if just made: a
    device that erased them early pulls them back."""
    _emit_person(person, None)
    for template in person.templates.order_by("pk"):
        vector = [float(value) for value in template.embedding]
        payload = FaceTemplateUpsert(
            template_uid=template.uid,
            person_uid=person.uid,
            model_id=template.model_id,
            model_version=template.model_version,
            dim=len(vector),
            vector_f32le_b64=base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode(),
            quality=template.quality,
            source=template.source,
        )
        _log_template(person.site, payload, origin=None)


def apply_template(ctx: EntryContext, payload: FaceTemplateUpsert) -> str:
    existing = FaceTemplate.objects.filter(uid=payload.template_uid).first()
    if existing is not None:
        ctx.require_own_site(f"template {existing.uid}", existing.site_id)
        return Outcome.UNCHANGED  # templates never change once made
    person = Person.objects.select_for_update().filter(uid=payload.person_uid).first()
    if person is None:
        raise EntryNotYetError(f"unknown person {payload.person_uid}: push the person first")
    ctx.require_own_site(f"person {person.uid}", person.site_id)
    if person.erased:
        return Outcome.SUPERSEDED
    if payload.dim != TEMPLATE_DIM:
        raise EntryRejectedError(f"the hub keeps {TEMPLATE_DIM}-D templates, not {payload.dim}-D")
    FaceTemplate.objects.create(
        uid=payload.template_uid,
        person=person,
        site=ctx.site,
        model_id=payload.model_id,
        model_version=payload.model_version,
        embedding=payload.vector(),
        quality=payload.quality,
        source=payload.source,
    )
    _log_template(ctx.site, payload, origin=ctx.device)
    return Outcome.APPLIED


def _log_template(site: Site, payload: FaceTemplateUpsert, *, origin: Device | None) -> None:
    """A template's upsert in its site's change log (devices pull it)."""
    append_change(
        site, "face_template", payload.template_uid, "upsert", payload.model_dump(mode="json"),
        origin=origin,
    )  # fmt: skip


def person_payload(person: Person) -> dict[str, Any]:
    payload = PersonUpsert(
        person_uid=person.uid,
        external_id=person.external_id,
        display_name=person.display_name,
        site=person.site.slug,
        consent=person.consent,
    )
    return payload.model_dump(mode="json")


def _person_fields(payload: PersonUpsert) -> dict[str, Any]:
    return {
        "external_id": payload.external_id,
        "display_name": payload.display_name,
        "consent": payload.consent.model_dump(mode="json"),
    }


def _emit_person(person: Person, origin: Device | None) -> None:
    append_change(
        person.site,
        "person",
        person.uid,
        "upsert",
        person_payload(person),
        origin=origin,
        versions=person.field_versions,
    )
