"""The device's half of the fish review loop: ``jaga store review``, ``confirm`` and
``export-corrections``, their options and what they run.

The review lists the flagged catches one line each; ``confirm`` records the officer's
species (named by the ``SpeciesNamer`` ``jaga`` passes in) or a photo with no fish, to be
sent to the hub; ``export-corrections`` writes the confirmed photos for training. Its own
module, as :mod:`sync.store.people_cli` is people's, so that :mod:`sync.store.cli` reads as
the store's commands.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sync import plural
from sync.cli_errors import Handler, positive_count
from sync.errors import SyncError
from sync.store.cli_common import open_store_of

# The store's modules (SQLCipher, numpy, the wire models) are imported when a command runs,
# not with `jaga store`'s parser, which this module's options are part of.
if TYPE_CHECKING:
    from sync.store.records import FishObservation
    from sync.store.store import Store

# The species name ``store confirm`` stores for what was typed, and whether the officer said
# it is a new species. Sync knows no species pack: ``jaga`` (main.py) passes the namer
# ``jaga catch --confirm`` uses, the pack in use's display name, refusing one the pack does
# not list unless new (``desktop.catch_cli.pack_species_name``, raising
# ``UnknownSpeciesError``); without one, the name as typed, tidied.
SpeciesNamer = Callable[["Store", str, bool], str]
REVIEW_LIMIT = 50
SHOWN_PREDICTIONS = 3


def typed_species_name(_store: Store, typed: str, _new_species: bool) -> str:
    """The species as typed, its spacing tidied (``species_key`` then keeps case apart)."""
    return " ".join(typed.split())


def add_review_commands(
    command: Callable[[str, Handler, str], argparse.ArgumentParser], species_name: SpeciesNamer
) -> None:
    """The device's half of the fish review loop: review, confirm, export the corrections."""
    review = command(
        "review", _review, "fish observations recorded here flagged for review, newest first"
    )
    review.add_argument(
        "--limit",
        type=positive_count,
        default=REVIEW_LIMIT,
        metavar="N",
        help=f"show at most N (default {REVIEW_LIMIT})",
    )
    review.add_argument(
        "--site",
        action="store_true",
        help="the whole site's: the catches pulled from the hub (other boats') too",
    )
    confirm = command(
        "confirm",
        functools.partial(_confirm, species_name=species_name),
        "confirm the species of a fish observation (named as `jaga catch --confirm` names it),"
        " or answer that its photo shows no fish",
    )
    confirm.add_argument("observation_uid", metavar="OBSERVATION_UID", help="as `review` lists it")
    verdict = confirm.add_mutually_exclusive_group(required=True)
    verdict.add_argument("species", nargs="?", type=_required_text("species"), metavar="SPECIES")
    verdict.add_argument(
        "--not-a-fish",
        action="store_true",
        help="the photo shows no fish: resolved with no species, never used for training",
    )
    confirm.add_argument(
        "--new-species",
        action="store_true",
        help="SPECIES is one the species pack does not list: keep it as typed, to teach the"
        " next pack (else it is refused, naming close ones)",
    )
    confirm.add_argument(
        "--officer",
        required=True,
        type=_required_text("officer"),
        metavar="NAME",
        help="the reviewer, recorded with the confirmation and sent to the hub",
    )
    corrections = command(
        "export-corrections",
        _export_corrections,
        "confirmed fish photos and corrections.csv, for `jaga fish export-training-set`",
    )
    corrections.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="a new or empty folder"
    )


def _required_text(what: str) -> Callable[[str], str]:
    """An argument type that strips the text and refuses it empty, before the store is opened."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        return text.strip()

    return parse


def _review(args: argparse.Namespace) -> int:
    """This device's own flagged catches (the fish its officers saw), newest first, so a
    busy site's pulled catches never hide them; ``--site``: every flagged catch here."""
    with open_store_of(args) as store:
        flagged = store.observations.review_queue(  # one more: are there more?
            args.limit + 1, include_pulled=args.site
        )
    where = "on this site" if args.site else "recorded here"
    hint = "" if args.site else "jaga store review --site: those pulled from the hub too"
    if not flagged:
        print(
            f"no fish observations {where} are flagged for review" + (f" ({hint})" if hint else "")
        )
        return 0
    shown = flagged[: args.limit]
    observations = plural.counted(len(shown), "fish observation")
    print(f"{observations} {where} flagged for review, newest first:")
    for observation in shown:
        print(_review_line(observation))
    if len(flagged) > len(shown):
        print(f"more are flagged than these {len(shown)}: raise --limit to see them")
    print(
        "confirm one with: jaga store confirm OBSERVATION_UID SPECIES --officer NAME"
        " (a photo with no fish: --not-a-fish in place of SPECIES)"
    )
    if hint:
        print(hint)
    return 0


def _review_line(observation: FishObservation) -> str:
    predictions = ", ".join(
        f"{_one_line(score.species)} {score.confidence:.2f}"
        for score in observation.predictions[:SHOWN_PREDICTIONS]
    )
    trip = f"{_one_line(observation.vessel)}/{_one_line(observation.trip)}"
    return "  ".join(
        (
            observation.observation_uid,
            observation.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            _verdict(observation, predictions),
            f"pack {_one_line(observation.pack_version)}",
            _box(observation),
            f"vessel/trip {trip}",
            f"officer {_one_line(observation.officer)}",
            *(() if observation.recorded_here else ("pulled from the hub",)),
        )
    )


def _box(observation: FishObservation) -> str:
    if observation.crop is not None:
        return f"box {observation.crop}"
    if observation.crop_known:
        return "whole photo"
    return "box not known here"  # pulled on protocol 2, which does not carry the box


def _verdict(observation: FishObservation, predictions: str) -> str:
    """The candidates, saying so where the pack named none of them (its status)."""
    from sync.store.records import PredictionStatus

    if observation.status is PredictionStatus.NO_FISH:
        return f"no fish ({_one_line(observation.status_reason)})"
    if observation.status is PredictionStatus.UNKNOWN:
        return f"unknown species, candidates {predictions}"
    return predictions or "no prediction"


def _one_line(text: str | None) -> str:
    """Typed text on one line, so that each observation stays one line of output."""
    return " ".join(text.split()) if text and text.strip() else "-"


def _confirm(args: argparse.Namespace, *, species_name: SpeciesNamer) -> int:
    if args.not_a_fish and args.new_species:  # a slip: which of the two was meant is unknown
        raise SyncError("--new-species names a species; --not-a-fish gives none")
    if args.not_a_fish:
        return _answer_not_a_fish(args)
    from sync.store.outbox_hub import destination_words

    with open_store_of(args) as store:
        species = species_name(store, args.species, args.new_species)
        confirmed = store.observations.confirm(
            args.observation_uid.strip(), species, officer=args.officer
        )
        uid = confirmed.observation_uid
        sent = destination_words(store.outbox.held_for(uid), store.outbox.quarantine_reason(uid))
    print(
        f"confirmed {confirmed.observation_uid} as {confirmed.confirmed_species}"
        f" (reviewed by {confirmed.reviewed_by}); {sent}"
    )
    return 0


def _answer_not_a_fish(args: argparse.Namespace) -> int:
    from sync.store.outbox_hub import destination_words

    with open_store_of(args) as store:
        answered = store.observations.answer_not_a_fish(
            args.observation_uid.strip(), officer=args.officer
        )
        uid = answered.observation_uid
        sent = destination_words(store.outbox.held_for(uid), store.outbox.quarantine_reason(uid))
    print(
        f"answered {answered.observation_uid}: not a fish (reviewed by {answered.reviewed_by});"
        f" it will not be used for training; {sent}"
    )
    return 0


def _export_corrections(args: argparse.Namespace) -> int:
    from sync.corrections import CorrectionsExport
    from sync.store.corrections import export_corrections

    export = CorrectionsExport(args.out)  # a full folder is refused before the key is asked
    with open_store_of(args) as store:
        report = export_corrections(store.database, export, clock=store.clock)
    print("\n".join(report.lines()))
    return 0
