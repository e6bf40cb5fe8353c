"""Operator actions that become changes pulled by the site's devices.

A reviewer's correction is an edit by the hub: it is stamped with the hub's clock and
writer ``"hub"``, merged by the same last-writer-wins rule as device edits, and appended to
the site's change log. Erasure from the admin uses the same code path as a device's
tombstone. A new species pack is announced to every site.

A species pack travels as the archive ``sync.species_packs`` writes (a ZIP of the pack
folder's files, ``manifest.json`` at its top); ``publish_pack_archive`` refuses anything
else before it is stored, a pack whose model is not a whole ONNX model
(``sync.pack_models``), and a pack the device's own loader refuses (``sync.hub.pack_loader``,
installed by ``jaga``; a process without it publishes nothing), so devices are never told
about bytes they would refuse. A pack
that lacks species the last published pack lists (before the first publication: the default
pack every device runs), by folder id and by display name, is refused unless the publisher
says the change is meant. That check runs under the packs' lock, so two publications at
once are each checked against the pack published before it.

Publishing a pack and telling a new site of the newest pack take one lock first
(``lock_species_packs``): a site created while a pack is being published waits for it,
then is told of that pack (publishing announces to the sites that existed when it read
them; the new site's row was not committed then).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from sync.corrections import species_key
from sync.hub.apply.changes import append_change, lock_sites
from sync.hub.apply.erase import erase
from sync.hub.apply.lww import hub_stamp
from sync.hub.apply.records import emit_observation, update_observation
from sync.hub.erasure_journal import ErasureKind
from sync.hub.models import NEWEST_PACK_FIRST, FishObservation, Person, Site, SpeciesPack
from sync.hub.pack_loader import check_pack_archive
from sync.hub.species_names import (
    DefaultSpeciesError,
    devices_species,
    hidden_characters_problem,
)
from sync.protocol import SpeciesPackPublished
from sync.species_packs import (
    PackArchiveError,
    archive_schema,
    archive_species,
    check_version,
)

# pg_advisory_xact_lock's key for publishing packs ("JAGAPACK" in ASCII): one fixed key.
SPECIES_PACKS_LOCK = 0x4A4147415041434B


class CorrectionSupersededError(ValueError):
    """A device's verdict made after this correction stands (LWW): it names its reviewer."""


class AlreadyReviewedError(CorrectionSupersededError):
    """The catch left the review queue before this answer came (``queued_only``): another
    reviewer's answer, or a device's verdict, stands. A page loaded before it was given is
    stale, and the hub's stamp, taken later, would otherwise replace that answer unseen."""


def correct_species(
    observation_pk: int, species: str, reviewer: str, *, queued_only: bool = False
) -> FishObservation:
    """Confirm ``species`` for an observation and take it off the review queue.

    The reviewer follows the verdict (``FOLLOWERS``): where a device's later verdict wins the
    species, this reviewer is not written beside it, and ``CorrectionSupersededError`` says whose
    verdict stands. Nothing is then sent to the devices. With ``queued_only`` (a reviewer
    answering from the queue's pages) a catch no longer in the queue is left as it is:
    ``AlreadyReviewedError`` names the answer that stands.
    """
    species = species.strip()
    if not species or len(species) > 200 or "\x00" in species:
        raise ValueError("a species name is 1 to 200 characters")
    if problem := hidden_characters_problem(species):
        raise ValueError(problem)
    return _review(observation_pk, species, reviewer, queued_only)


def answer_not_a_fish(
    observation_pk: int, reviewer: str, *, queued_only: bool = False
) -> FishObservation:
    """Answer that the observation's photo shows no fish, and take it off the review queue:
    a review with no species, which every protocol carries (an older device reads it as
    reviewed, with nothing to train on). Superseded, or refused, as ``correct_species`` is."""
    return _review(observation_pk, None, reviewer, queued_only)


def _review(
    observation_pk: int, species: str | None, reviewer: str, queued_only: bool
) -> FishObservation:
    with transaction.atomic():
        lock_sites(FishObservation.objects.get(pk=observation_pk).site_id)
        observation: FishObservation = FishObservation.objects.select_for_update().get(
            pk=observation_pk
        )
        # Checked under the row's lock: two reviewers answering at once are one after the
        # other here, and the second finds the catch out of the queue.
        if queued_only and not observation.needs_review:
            raise AlreadyReviewedError(already_reviewed(observation))
        incoming = {"confirmed_species": species, "needs_review": False,
                    "reviewed_by": reviewer, "reviewed_at": timezone.now()}  # fmt: skip
        update_observation(observation, incoming, hub_stamp())
        if observation.reviewed_by != reviewer or observation.confirmed_species != species:
            raise CorrectionSupersededError(
                f"a later verdict from a device stands: {_verdict(observation)}"
            )
        emit_observation(observation, None)
    return observation


def already_reviewed(observation: FishObservation) -> str:
    """Why a reviewer's answer to a catch out of the queue is refused, or its page closed."""
    return f"already reviewed: {_verdict(observation)}"


def _verdict(observation: FishObservation) -> str:
    """The answer that stands on ``observation``, and whose it is, in words."""
    verdict = observation.confirmed_species or (
        "not a fish" if observation.reviewed_by else "no species"
    )
    return f"{verdict} by {observation.reviewed_by or 'no reviewer'}"


def erase_person(person_pk: int, reason: str) -> bool:
    """Erase the person everywhere; False (nothing changed: their reason, their journal
    line) when they were erased already, by anyone, meanwhile too."""
    with transaction.atomic():
        lock_sites(Person.objects.get(pk=person_pk).site_id)
        person = Person.objects.select_for_update().get(pk=person_pk)
        if person.erased:
            return False
        erase(
            person,
            erased_at=timezone.now(),
            reason=reason,
            origin=None,
            kind=ErasureKind.ADMIN,
        )
        return True


def publish_pack_archive(
    version: str,
    data: bytes,
    notes: str = "",
    *,
    allow_species_change: bool = False,
    shown_as: Path | None = None,
) -> SpeciesPack:
    """Check that ``data`` is a safe pack archive whose models are whole, that the device's
    loader loads it (``check_pack_archive``) and ``version`` a new, plain name, and (unless
    ``allow_species_change``) that it keeps every species of the last published pack, then
    publish and announce it. Raises ``PackArchiveError`` (nothing stored) otherwise."""
    check_version(version)
    check_pack_archive(data, shown_as)
    with transaction.atomic():
        # Under the packs' lock: a pack being published meanwhile is the last pack once it
        # is committed, and this one is checked against it, not against the one before both.
        lock_species_packs()
        if SpeciesPack.objects.filter(version=version).exists():
            raise PackArchiveError(
                f"species pack {version} is published already; use a new version"
            )
        if not allow_species_change:
            check_species_kept(data)
        return publish_species_pack(version, data, notes)


def check_species_kept(data: bytes) -> None:
    """Refuse (``PackArchiveError``) a pack that no longer names a species the pack devices
    run now names: the last published pack, or before the first publication the default
    pack every device installed (``replaced_species``). Devices keep a species by its
    display name (predictions, confirmations, corrections.csv), so the names are compared
    (``species_key``: case, spacing and the Unicode form of an accent aside), never a name
    with a folder id: a pack retrained under new folder ids (``amphiprion_clarkii`` for
    ``fish_04``: an export without ``--species-from``) still names what they named. A
    species lost is said to be renamed when its folder id is kept under another name, else
    dropped: either way every device would install the pack and stop naming it, without a
    word. Adding species is no change to refuse; a pack that lists none is nothing to
    compare with. Publishing checks it again under the packs' lock."""
    replaced, before = replaced_species()
    after = archive_species(data)
    renamed = renamed_species(before, after)
    dropped = [sid for sid in lost_species(before, after) if sid not in renamed]
    problems = []
    if dropped:
        listed = ", ".join(f"{sid} ({before[sid]})" for sid in dropped)
        problems.append(
            f"the pack lacks {len(dropped)} species of {replaced}: {listed}; devices would"
            " stop naming them"
        )
    if renamed:
        listed = ", ".join(f"{sid} ({before[sid]} -> {name})" for sid, name in renamed.items())
        problems.append(
            f"the pack renames {len(renamed)} species of {replaced}: {listed}; devices would"
            " name them anew, while earlier catches and reviews keep the old name (a training"
            " export makes two folders of each)"
        )
    if problems:
        raise PackArchiveError(
            f"{'; '.join(problems)}. If that is meant, publish it with"
            " --allow-species-change (in the admin, tick 'allow species change')"
        )


def lost_species(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The ids of ``before`` (id -> display name) whose display name no species of
    ``after`` has, compared as the stores compare species (``species_key``)."""
    names = {species_key(name) for name in after.values()}
    return sorted(sid for sid, name in before.items() if species_key(name) not in names)


def renamed_species(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """The lost species of ``before`` (``lost_species``) whose folder id ``after`` keeps
    (``species_key``: ``Fish_04`` is ``fish_04``), with the name it gives them."""
    ids = {species_key(sid): name for sid, name in after.items()}
    return {
        sid: ids[species_key(sid)] for sid in lost_species(before, after) if species_key(sid) in ids
    }


def replaced_species() -> tuple[str, dict[str, str]]:
    """The pack a new publication replaces on the devices, in words, and its species
    (``species_names.devices_species``); ``PackArchiveError`` when the default pack's
    species cannot be read, so a first pack is never published unchecked."""
    try:
        return devices_species()
    except DefaultSpeciesError as error:
        raise PackArchiveError(
            f"cannot read the species of the default pack, which devices run until a pack is"
            f" published, to check this first pack keeps them: {error}. If the pack is meant"
            " to replace it whatever it lists, publish it with --allow-species-change"
            " (in the admin, tick 'allow species change')"
        ) from error


def lock_species_packs() -> None:
    """Take the species packs' lock, held to the end of the caller's transaction, before
    any site lock: publishing a pack and announcing the newest pack to a new site run one
    after the other, so neither announces to the new site a pack older than the newest."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SPECIES_PACKS_LOCK])


def publish_species_pack(version: str, data: bytes, notes: str = "") -> SpeciesPack:
    with transaction.atomic():
        lock_species_packs()  # first: a site being created waits, or is waited for
        # The sites' locks first: two packs published at once are then given their keys in
        # the order every site's log announces them, so "the newest" is one pack for all.
        lock_sites(*Site.objects.values_list("pk", flat=True))
        pack: SpeciesPack = SpeciesPack.objects.create(
            version=version,
            sha256=hashlib.sha256(data).hexdigest(),
            byte_size=len(data),
            data=data,
            schema=archive_schema(data),
            notes=notes,
        )
        announce_species_pack(pack)
    return pack


def announce_species_pack(pack: SpeciesPack, sites: list[Site] | None = None) -> None:
    """Tell every site's devices (or those of ``sites``) that ``pack`` is ready, inside the
    caller's transaction. A pull leaves the announcement out for a device that does not read
    the pack's schema (``changes_after``)."""
    sites = list(Site.objects.order_by("pk")) if sites is None else sites
    lock_sites(*(site.pk for site in sites))
    payload = SpeciesPackPublished(
        version=pack.version, sha256=pack.sha256, byte_size=pack.byte_size
    ).model_dump(mode="json")
    for site in sites:
        append_change(site, "species_pack", pack.uid, "publish", payload, origin=None)


def newest_species_pack(readable_schema: int) -> SpeciesPack | None:
    """The pack published last whose schema a device that reads up to ``readable_schema``
    reads (its archive left unread): by publication order, the order of the announcements,
    never the hub's clock (``NEWEST_PACK_FIRST``)."""
    packs = SpeciesPack.objects.defer("data").filter(schema__lte=readable_schema)
    newest: SpeciesPack | None = packs.order_by(*NEWEST_PACK_FIRST).first()
    return newest


def announce_latest_species_pack(site: Site) -> SpeciesPack | None:
    """Announce the newest pack to ``site`` alone: a site created after that pack was
    published has no announcement in its change log, so its devices would never fetch it.
    Call it when a site is created (inside that transaction). A pack being published
    meanwhile is waited for (``lock_species_packs``), then announced: its publishing read
    the sites before this one was committed."""
    with transaction.atomic():  # the lock lasts to the end of the caller's transaction
        lock_species_packs()
        pack: SpeciesPack | None = (
            SpeciesPack.objects.defer("data").order_by(*NEWEST_PACK_FIRST).first()
        )
        if pack is not None:
            announce_species_pack(pack, [site])
    return pack
