"""``jaga catch PHOTO --officer NAME [--box X,Y,W,H ...]``: classify a fish photo and record
the catch.

Without ``--box`` the whole photo is one fish. With one ``--box`` per fish (pixels of the
photo, from its top-left corner) each box is classified (one batch) and recorded as its own
observation, all sharing the photo, written in one transaction. ``--confirm`` is given once
per box, in order (``-`` for a fish left unconfirmed), or once for a single fish; other
counts are a usage error. ``--json`` prints one object for a whole-photo catch (as before
boxes existed) and a list of fish when boxes were given. The catch is dated by
``--observed-at``, else by the photo's own capture time where its EXIF record names a moment,
else by the time of recording (:func:`desktop.catch_time.observed_time`); the report says which.

The store is opened as ``jaga store`` opens it (``--db``, else ``$JAGA_STORE_PATH`` or the
user's data folder; ``--key-file``, else ``$JAGA_STORE_PASSPHRASE``, else a prompt). The
species pack is ``--pack``, else the one the app would use: the newest pack a sync installed
for this store that loads (one the classifier refuses is passed over, and only the one that
loaded is noted in use), else the default pack that ``jaga models install`` built.

The photo and the details are checked before the store is opened, and the record is written
only once everything has succeeded: a corrupt photo, a wrong key, a missing pack or one that
does not verify is one ``jaga catch: error:`` line on stderr, exit status 1, nothing written.
So is a box given twice, and a photo recorded before with one of the same fish (the same
box, or the whole photo: the message names those records and when; ``--again`` records it
anyway): running the same command twice records the catch once. An interrupt (Ctrl-C) says
whether the catch was recorded, by its observations, or not, or, during the commit itself,
that running the command again records it only if it was not.
Exit codes: 0 recorded, 1 refused (the message says why), 2 usage, 130 interrupted.

What it prints of a recorded catch is :mod:`desktop.catch_report`'s.
This module imports no Qt (``jaga`` builds its parser from it) and loads the classifier and
the store only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.catch_report import Recorded, RecordedFish, as_json, text_report
from inference.cli_numbers import whole_number
from sync import plural

if TYPE_CHECKING:
    from desktop.catch import CatchDetails
    from inference.fish.types import Species
    from sync.store import FishObservation, Store

_log = logging.getLogger(__name__)
# Before it is a typo (year 1 was refused by the store's timestamp form only once the photo
# had been classified; a year 1 with an offset east of UTC is before the first datetime).
EARLIEST_CATCH = datetime(1900, 1, 1)  # UTC
NEW_SPECIES_HINT = "if it is a species the pack does not know yet, add --new-species"
UNCONFIRMED = "-"  # ``--confirm -``: this fish keeps the classifier's answer


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``jaga catch`` to the ``jaga`` parser."""
    catch = subparsers.add_parser(
        "catch",
        help="classify a fish photo and record the catch in the store",
        description="Classify PHOTO (JPEG, PNG or WebP) with the species pack and record it, "
        "with its photo, as a fish observation queued for the hub; with --box, one "
        "observation per box (each fish classified on its own, in one batch), all sharing "
        "the photo.",
    )
    catch.add_argument("photo", type=Path, metavar="PHOTO", help="the photo, as taken")
    catch.add_argument("--officer", required=True, metavar="NAME", help="who recorded it")
    for name in ("vessel", "trip", "haul"):
        catch.add_argument(f"--{name}", metavar=name.upper())
    catch.add_argument("--count", type=_count, default=1, help="fish of this kind (1)")
    catch.add_argument("--length-cm", default="", metavar="CM", help="length in centimetres")
    catch.add_argument("--lat", default="", metavar="DEG", help="latitude (with --lon)")
    catch.add_argument("--lon", default="", metavar="DEG", help="longitude (with --lat)")
    catch.add_argument("--notes", default="", help="free text kept with the record")
    catch.add_argument(
        "--box",
        action="append",
        type=_box,
        default=[],
        metavar="X,Y,W,H",
        help="one fish's box in the photo, in pixels from its top-left corner; repeat it for "
        "each fish (default: the whole photo is one fish)",
    )
    catch.add_argument(
        "--confirm",
        action="append",
        default=[],
        metavar="SPECIES",
        help="the species the officer confirms on the spot (name or folder id); clears the "
        "review flag and records the officer as its reviewer. With --box: once per box, in "
        "order, '-' for a fish left unconfirmed",
    )
    catch.add_argument(
        "--new-species",
        action="append",
        default=[],
        metavar="SPECIES",
        help="a --confirm species the pack does not list that is a new one: keep it as typed,"
        " to teach the next pack (any other is refused, naming close ones); once per new"
        " species, named as --confirm names it, so a typo in another box is still caught",
    )
    catch.add_argument(
        "--observed-at",
        type=_moment,
        metavar="WHEN",
        help="when the fish was caught, ISO 8601 with its offset (2026-11-20T06:15+08:00),"
        " from 1900 to now; default: the photo's own capture time where it gives its offset"
        " (EXIF), else now",
    )
    catch.add_argument(
        "--again",
        action="store_true",
        help="record it even though this photo was recorded before with the same fish (the "
        "same box, or the whole photo); without it that is refused, naming the record",
    )
    catch.add_argument(
        "--pack",
        type=Path,
        metavar="DIR",
        help="species pack folder (default: the pack a sync installed last, else the default "
        "pack that `jaga models install` built)",
    )
    add_store_options(catch)
    catch.add_argument("--json", action="store_true", help="print the record as JSON")
    catch.set_defaults(handler=_catch, usage_error=catch.error)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    from sync.store.cli import STORE_PATH_ENV, default_store_path
    from sync.store.key_sources import PASSPHRASE_ENV

    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="STORE",
        help=f"store file (default: ${STORE_PATH_ENV} or {default_store_path()})",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        metavar="KEY",
        help=f"key file (default: passphrase from ${PASSPHRASE_ENV} or a prompt)",
    )


@dataclass
class _Progress:
    """How far ``_record`` got, for the message an interrupt prints."""

    writing: bool = False  # the record's transaction began: it commits whole or not at all
    recorded: tuple[FishObservation, ...] = ()  # committed


def _interrupted(progress: _Progress) -> str:
    if progress.recorded:
        uids = ", ".join(o.observation_uid for o in progress.recorded)
        return (
            f"interrupted after the catch was recorded: observation {uids}; the same"
            " `jaga catch` run again does not record it twice, it names those records"
        )
    if progress.writing:
        return (
            "interrupted while the catch was being written, which commits whole or not at all;"
            " the same `jaga catch` run again records it if it was not, else names its records"
        )
    return "interrupted before anything was recorded"


def _catch(args: argparse.Namespace) -> int:
    from desktop.catch_errors import CatchError, RecordedBeforeError
    from inference.errors import InferenceError
    from sync.errors import SyncError

    fish = max(1, len(args.box))
    if len(args.confirm) not in (0, fish):
        args.usage_error(
            "give --confirm once per --box, in order"
            f" ({plural.counted(len(args.box), 'box', 'boxes')},"
            f" {len(args.confirm)} --confirm)"
            if args.box
            else "give --confirm once (one fish: the whole photo), or --box once per fish"
        )
    progress = _Progress()
    try:
        recorded = _record(args, progress)
    except RecordedBeforeError as error:
        print(f"jaga catch: error: {error}; to record it again, add --again", file=sys.stderr)
        return 1
    except (CatchError, InferenceError, SyncError) as error:
        print(f"jaga catch: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the record commits whole or not at all
        print(f"jaga catch: {_interrupted(progress)}", file=sys.stderr)
        return 130
    print(json.dumps(as_json(recorded), indent=2) if args.json else text_report(recorded))
    return 0


def _record(args: argparse.Namespace, progress: _Progress) -> Recorded:
    """Everything that can be refused is checked before the one write at the end."""
    from desktop.catch import check_crops, classify_catch, record_catches
    from desktop.catch_errors import CatchError
    from desktop.catch_packs import species_classifier_for
    from desktop.catch_photo import read_catch_photo
    from desktop.catch_time import observed_time
    from inference.fish.classify import SpeciesClassifier
    from sync.store import Store
    from sync.store.cli import default_store_path
    from sync.store.key_sources import resolve_key_source

    details = _details(args)
    typed = _typed_species(args.confirm, args.new_species)
    photo = read_catch_photo(args.photo)  # the limit of the defaults Store.open uses below
    check_crops(photo, args.box)  # before the store's key is asked for
    db = Path(args.db) if args.db is not None else default_store_path()
    with Store.open(db, resolve_key_source(args.key_file, env=os.environ)) as store:
        now, floor = store.clock.now(), store.observations.clock_floor()
        try:  # before the pack loads; with the clock behind, the true time is taken
            observed_time(details.observed_at, None, now, floor=floor)
        except CatchError as error:
            args.usage_error(f"--observed-at: {error}")
        classifier = (
            SpeciesClassifier.from_path(args.pack) if args.pack else species_classifier_for(store)
        )
        fish = classify_catch(classifier, photo, args.box)
        confirmed = _named(typed, classifier.pack.species, new=args.new_species)
        progress.writing = True
        observations = record_catches(
            store.observations, photo, fish, details,
            confirmed_species=confirmed, clock=store.clock, again=args.again,
            recorded_at=now, floor=floor,
        )  # fmt: skip
        progress.recorded = tuple(observations)
    return Recorded(
        tuple(RecordedFish(o, f.prediction) for o, f in zip(observations, fish, strict=True)),
        classifier.pack,
        photo.media_type,
        len(photo.data),
        boxed=bool(args.box),
        # the same rule on the same facts as the record: which source its time came from
        observed=observed_time(details.observed_at, photo.time, now, floor=floor),
    )


def pack_in_use(store: Store, env: Mapping[str, str]) -> Path | None:
    """The pack ``jaga catch`` classifies with (``desktop.catch_packs.pack_in_use``), for ``jaga
    sync status``; loaded only there, and only when the newest pack is damaged."""
    from desktop.catch_packs import pack_in_use as loaded_pack

    return loaded_pack(store, env)


def pack_species_name(store: Store, typed: str, new_species: bool) -> str:
    """The species ``jaga store confirm`` stores, named as ``--confirm`` names it: the display
    name of the species pack ``jaga catch`` classifies with (``species_pack_for``: the newest
    that loads, not noted in use) for a name or folder id it knows; any other is refused
    (``sync.errors.UnknownSpeciesError``) unless ``new_species``, then kept as typed with its
    spacing tidied; kept as typed, with a warning, when no pack loads."""
    from desktop.catch_packs import species_pack_for
    from desktop.species_names import UnknownSpeciesError, species_name
    from inference.errors import InferenceError
    from sync.errors import UnknownSpeciesError as RefusedError

    try:
        known = species_pack_for(store).species
    except (InferenceError, OSError) as error:
        _log.warning("no species pack to name %r by; kept as typed: %s", typed, error)
        known = ()
    try:
        return species_name(typed, known, new_species=new_species)
    except UnknownSpeciesError as error:
        raise RefusedError(f"{error}; {NEW_SPECIES_HINT}") from None


def _named(
    typed: Sequence[str | None], known: Sequence[Species], *, new: Sequence[str]
) -> list[str | None]:
    """The ``--confirm`` species as the pack names them (None: left unconfirmed); only
    those ``--new-species`` names may be species the pack does not list."""
    from desktop.catch_errors import CatchError
    from desktop.species_names import UnknownSpeciesError, species_name
    from inference.fish.types import species_key

    allowed = {species_key(name) for name in new}
    try:
        return [None if one is None else
                species_name(one, known, new_species=species_key(one) in allowed)
                for one in typed]  # fmt: skip
    except UnknownSpeciesError as error:
        hint = "if it is a species the pack does not know yet, add --new-species with its name"
        raise CatchError(f"--confirm: {error}; {hint}") from None


def _typed_species(confirms: list[str], new: list[str]) -> list[str | None]:
    """``--confirm`` values: a species, or None for ``-`` (left unconfirmed). Each
    ``--new-species`` must name one of them (a misspelt one would allow nothing)."""
    from desktop.catch_errors import CatchError
    from inference.fish.types import species_key
    from sync.protocol.names import hidden_characters_problem

    if any(not typed.strip() for typed in confirms):
        raise CatchError("--confirm: name the species (or leave the option out)")
    for typed in confirms:  # as species_name refuses it, but before the photo is read
        if problem := hidden_characters_problem(" ".join(typed.split()), "a species name"):
            raise CatchError(f"--confirm: {problem}")
    given = {species_key(typed) for typed in confirms}
    strays = [name for name in new if species_key(name) not in given]
    if strays:
        raise CatchError(
            f"--new-species {strays[0]!r} names no --confirm species; give each new species"
            " as its --confirm gives it"
        )
    return [None if typed.strip() == UNCONFIRMED else typed for typed in confirms]


def _details(args: argparse.Namespace) -> CatchDetails:
    from desktop.catch import CatchDetails, parse_length, parse_position

    return CatchDetails(
        officer=args.officer, vessel=args.vessel, trip=args.trip, haul=args.haul,
        count=args.count, length_cm=parse_length(args.length_cm),
        position=parse_position(args.lat, args.lon), notes=args.notes,
        observed_at=args.observed_at,
    )  # fmt: skip


def _box(text: str) -> Any:
    from desktop.catch import parse_box
    from desktop.catch_errors import CatchError

    try:
        return parse_box(text)
    except CatchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    offset = None if moment is None else moment.utcoffset()
    if moment is None or offset is None:
        raise argparse.ArgumentTypeError(
            f"expected a date and time with its offset from UTC, like 2026-11-20T06:15+08:00"
            f" or 2026-11-19T22:15Z; got {text!r}"
        )
    if moment.replace(tzinfo=None) < EARLIEST_CATCH + offset:  # in UTC, without an overflow
        raise argparse.ArgumentTypeError(
            f"the time of a catch is from {EARLIEST_CATCH.year} on, got {text!r}"
        )
    return moment  # a time in the future is refused once the store says what "now" can be


# The upper limit is the hub's, checked with the other details.
_count = whole_number(1)
