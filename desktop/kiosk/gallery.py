"""The store's templates as the face pipeline's index, keyed by person uid.

A template is stored with the :class:`~sync.store.ModelRef` of the descriptor that made it,
and the descriptor's recipe (one pass, or the mean with the mirror image) is part of that
identity: the two give different vectors for one face. So the ref's version carries the
recipe, ``dlib_resnet`` ``1/chip+mirror``, and a pipeline only ever loads the templates its
own recogniser makes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from desktop.kiosk.errors import KioskError
from inference.face.embed import DescriptorModel
from inference.face.match import GalleryIndex, MatchSettings
from sync.errors import RecordNotFoundError
from sync.store import ModelRef, Person, Store
from sync.store.clock_floor import floored_now
from sync.store.gallery import load_gallery as load_templates
from sync.store.outbox_hub import people_held_for_other_hubs
from sync.store.person_rows import people_of_site

_log = logging.getLogger(__name__)


def template_model(model: DescriptorModel) -> ModelRef:
    """The store's name for templates of ``model``."""
    return ModelRef(model.model_id, f"{model.version}/{model.recipe}")


@dataclass(frozen=True)
class LoadedGallery:
    index: GalleryIndex
    expires_at: datetime | None
    """When the first consent among its people ends: the gallery must be read again then."""


def load_gallery(
    store: Store, model: DescriptorModel, settings: MatchSettings, site: str
) -> LoadedGallery:
    """Every person of ``site`` (the kiosk's) enrolled with templates of ``model`` whose
    consent still runs, identities being person uids.

    The templates and the people they belong to are read from one snapshot: read apart, a
    sync page committed between the two reads that erased the person with the highest row
    id and brought another gave the newcomer that row id again (SQLite reuses it), and the
    erased person's templates were taken for the newcomer's. A person erased before the
    snapshot has no row left. The templates of a person whose consent has ended are left
    out, before the next sync (or ``jaga store purge-expired``) erases them: consent is
    what allows matching at all. And those of another site's people: the store keeps them
    only for their records still to push (a device registered to another site with
    ``--strand-records``, ``sync.client.moved_site``), not to admit them where it stands;
    and those of another hub's people kept so, whose site may have this site's slug
    (``sync.store.outbox_hub``).
    """
    with store.database.read() as connection:  # one snapshot: see above
        now = floored_now(connection, store.clock)  # as ``consent_now`` judges it
        held = people_held_for_other_hubs(connection)
        stored = load_templates(connection, template_model(model))
        people = {local: person for local, person in people_of_site(connection, site)
                  if person.person_uid not in held
                  and person.consent.retain_until > now}  # fmt: skip
    if len(stored) and stored.dim != model.dimension:
        raise KioskError(f"the store's {template_model(model)} templates have {stored.dim} "
                         f"dimensions; the recogniser makes {model.dimension}")  # fmt: skip
    keep = np.array([int(p) in people for p in stored.person_ids], dtype=bool)
    identities = [people[int(p)].person_uid for p in stored.person_ids[keep]]
    vectors = stored.normalized()[keep] if len(stored) else np.zeros((0, model.dimension))
    index = GalleryIndex.from_arrays(vectors, identities, model, settings)
    ends = [people[int(p)].consent.retain_until for p in np.unique(stored.person_ids[keep])]
    return LoadedGallery(index, min(ends, default=None))


def consent_now(store: Store) -> datetime:
    """The time a consent's end is judged against: the clock, or the floor under it when it
    reads earlier (``clock_floor.floored_now``: a kiosk reset to 2000 matches nobody whose
    consent ended since)."""
    with store.database.read() as connection:
        return floored_now(connection, store.clock)


def _held_for_other_hubs(store: Store) -> frozenset[str]:
    with store.database.read() as connection:
        return people_held_for_other_hubs(connection)


def gallery_index(
    store: Store, model: DescriptorModel, settings: MatchSettings, site: str
) -> GalleryIndex:
    """The index of :func:`load_gallery`."""
    return load_gallery(store, model, settings, site).index


# Templates past which the start-up check of every pair is left out: its time grows with
# their square, and it would hold up "ready" for a minute past ~80,000.
MAX_OVERLAP_TEMPLATES = 20_000
OVERLAPS_NAMED = 3  # pairs the warning names: on some populations most pairs pass


def overlap_warning(index: GalleryIndex, threshold: float) -> str | None:
    """A warning when people enrolled here already pass as each other at ``threshold``:
    the default threshold was set on LFW, and on some populations most pairs of different
    people reach it (``tools.measure_face_impostors``). It counts every such pair and names
    the closest few by person uid, for the operator (``jaga store people`` gives their
    badges): the warning goes to logs and journals, which a badge must not reach. A gallery
    too large to check at every start is logged as unchecked."""
    if len(index) > MAX_OVERLAP_TEMPLATES:
        _log.info("%d templates: whether enrolled people pass as each other is not checked "
                  "at start (jaga eval pairs measures it)", len(index))  # fmt: skip
        return None
    overlaps = index.overlaps(threshold, OVERLAPS_NAMED)
    if not overlaps.count:
        return None
    said = [f"{pair.first} and {pair.second} (similarity {pair.similarity:.3f})"
            for pair in overlaps.closest]  # fmt: skip
    more = overlaps.count - len(said)
    said += [f"and {more} more pair{'s' if more > 1 else ''}"] if more else []
    return (f"people enrolled here pass as each other at or above this kiosk's threshold "
            f"{threshold:.3f}: the people {', '.join(said)} (jaga store people gives their "
            "badges); calibrate it on your own people (jaga eval pairs) before relying on "
            "this kiosk")  # fmt: skip


def claimed_person(store: Store, external_id: str, site: str) -> Person:
    """The person a badge (their external id) names, of ``site`` (the kiosk's), found as
    ``People.by_external_id`` finds it (exactly, else in another case or width); a clear
    error when nobody has it, several people's ids read as it, or its holder is another
    site's or another hub's (kept for their records still to push, as :func:`load_gallery`
    says, not enrolled where the kiosk stands)."""
    try:
        person = store.people.by_external_id(external_id)
    except RecordNotFoundError as error:  # several people's ids read as it
        raise KioskError(str(error)) from error
    if person is None:
        raise KioskError(f"nobody enrolled here has the id {external_id!r}")
    if person.site != site:
        raise KioskError(f"{external_id!r} is not enrolled at this site ({site})")
    if person.person_uid in _held_for_other_hubs(store):
        raise KioskError(
            f"{external_id!r} is not enrolled at this site ({site}): held for another hub"
        )
    if person.consent.retain_until <= consent_now(store):
        raise KioskError(f"the consent of {external_id!r} has ended: enrol them again")
    return person


@dataclass(frozen=True)
class GalleryChange:
    index: GalleryIndex
    left: frozenset[str]
    """Identities in the last gallery that are not in this one (erased, consent ended)."""


class GalleryWatch:
    """Notices when the store changed under a running kiosk, and reads the gallery again.

    An erasure must stop a kiosk from verifying the person at once, not at its next start,
    and a sync (its own connection) or ``jaga store`` (another process) may make it.
    SQLite's ``PRAGMA data_version`` changes whenever another connection commits, whatever
    it wrote; a count of the templates would not (a sync page that erases one person and
    brings another with as many templates reuses the same row ids). It is read at most every
    ``every_s`` seconds, and the gallery is read again after any such commit (the kiosk's own
    writes, its access events, do not count), and when a consent in it ends.

    Make the watch before the first :meth:`load`: a commit between the two is then seen.
    """

    def __init__(
        self,
        store: Store,
        model: DescriptorModel,
        settings: MatchSettings,
        site: str,
        *,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._model, self._settings, self._site = store, model, settings, site
        self._every_s, self._clock = every_s, clock
        self._checked_at = clock()
        self._version = self._data_version()
        self._expires_at: datetime | None = None
        self._identities: frozenset[str] = frozenset()

    def load(self) -> GalleryIndex:
        """The gallery as it is now."""
        loaded = load_gallery(self._store, self._model, self._settings, self._site)
        self._expires_at = loaded.expires_at
        self._identities = frozenset(loaded.index.identities)
        return loaded.index

    def changed(self, *, force: bool = False) -> GalleryChange | None:
        """The gallery read again when the store may have changed since, else None;
        ``force`` looks now, however recently it last looked."""
        now = self._clock()
        if now - self._checked_at < self._every_s and not force:
            return None
        self._checked_at = now
        version = self._data_version()
        ended = self._expires_at is not None and consent_now(self._store) >= self._expires_at
        if version == self._version and not ended:
            return None
        self._version = version
        before = self._identities
        index = self.load()
        return GalleryChange(index, before - self._identities)

    def _data_version(self) -> int:
        return int(self._store.database.query("PRAGMA data_version")[0][0])
