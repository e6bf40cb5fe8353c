"""The Catch panel's records, kept until the store has them, and what the panel says of them.

A Record the store refuses (another process held it past the busy timeout, the disk is full)
is not dropped: it waits here, named by its photo's file, until the officer retries it or
dismisses it, and the panel shows it meanwhile, whatever photo is opened next. Retry writes
the same catch (the photo, the answers it was classified with, the details and the species
confirmed when Record was pressed); nothing is classified again. A waiting record holds the
photo's file (its bytes, type, size and time: all a Retry writes), never its decoded pixels,
so a dozen refusals of large photos cost what their files do.

No catch is written twice: a refused record wrote nothing (the photo, its observations and
their outbox entries are one transaction), and each catch is in one place at a time (being
written, refused, or done). Recording a refused photo again from the panel replaces its
refusal. A Dismiss deletes a catch for good, so the officer is asked first, told what is
lost (``dismiss_question``: of a catch the store holds in part, only the fish it lacks).
No Qt here: ``CatchController`` asks, ``CatchPanel`` shows the ``Outcome``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import KEPT_IN_MEMORY, KEPT_ON_DISK
from desktop.catch_photo import PhotoFile
from desktop.catch_text import verdict_text
from sync.store.records import new_uid


@dataclass(frozen=True, eq=False)
class CatchRecord:
    """One Record as it was asked for: what ``CatchStore.record`` writes."""

    photo: PhotoFile  # its bytes and size, not its pixels: a refused record may wait long
    fish: tuple[CaughtFish, ...]
    details: CatchDetails
    confirmed: tuple[str | None, ...]  # one per fish
    again: bool = False  # recorded even if this photo's same fish were recorded before
    pressed_at: datetime | None = None  # when Record was pressed: what a Retry records it at
    # Its entry in the spool while refused, and its stored photo's uid: a Retry of a catch
    # that was written before the app died finds it by this and writes nothing.
    uid: str = field(default_factory=new_uid)
    # Its fish's observation uids, one per fish, made with it (empty: made here) and kept in
    # the spool with it: however often it is retried, even into a store restored to before
    # it, it is the same catch, and a hub that holds it already gets no second one.
    observation_uids: tuple[str, ...] = ()
    # Offered again from the spool at a start: it may be recorded already (in a store later
    # restored to before it) and on a hub, so its record is dated when Record was pressed.
    from_spool: bool = False
    # False: offered from a spool entry kept by a Jaga before entries kept their fish's
    # uids, whose ``observation_uids`` were made at its reading, and are kept with it no more.
    uids_kept: bool = True
    # The positions of its fish the store held when the spool was read (a sync pulled part
    # of the catch back: ``sync.store.catch_written``): a Dismiss does not lose those.
    held_fish: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.observation_uids:
            object.__setattr__(self, "observation_uids", tuple(new_uid() for _ in self.fish))
        if len(self.observation_uids) != len(self.fish):
            raise ValueError(
                f"{len(self.fish)} fish but {len(self.observation_uids)} observation uids"
            )

    @property
    def name(self) -> str:
        """The photo's file, as the officer knows it."""
        return self.photo.path.name

    @property
    def unrecorded(self) -> tuple[int, ...]:
        """The positions of its fish the store lacks, as last read: what a Dismiss loses."""
        return tuple(n for n in range(len(self.fish)) if n not in self.held_fish)

    @property
    def label(self) -> str:
        """Its name, and how many fish when several share the photo."""
        return f"{self.name} ({len(self.fish)} fish)" if len(self.fish) > 1 else self.name


@dataclass(frozen=True)
class Outcome:
    text: str  # one line per catch refused, being written, or just done
    problem: bool  # something was not recorded
    refused: bool  # catches wait for Retry or Dismiss


@dataclass
class CatchRecords:
    _writing: list[CatchRecord] = field(default_factory=list)
    _refused: dict[CatchRecord, str] = field(default_factory=dict)  # in order, with why
    _latest: list[tuple[str, bool]] = field(default_factory=list)  # lines: (text, problem)
    # The uids of the catches a refusal kept on disk (``CatchSpool``), there until recorded or
    # dismissed: a later refusal that could not keep one again leaves it kept there.
    _on_disk: set[str] = field(default_factory=set)

    @property
    def busy(self) -> bool:
        """A record is being written."""
        return bool(self._writing)

    @property
    def refused(self) -> list[CatchRecord]:
        return list(self._refused)

    @property
    def writing(self) -> list[CatchRecord]:
        return list(self._writing)

    def start(self, record: CatchRecord) -> None:
        """A record is being written (a Record, or a refused one again): it replaces a
        refused record of the same photo, and the last outcomes give way to it."""
        self._refused = {r: why for r, why in self._refused.items() if r.photo is not record.photo}
        self._latest.clear()
        self._writing.append(record)

    def kept(self, records: list[CatchRecord]) -> None:
        """Refused catches kept on disk from before the app stopped (``CatchSpool``)."""
        waiting = {record.uid for record in (*self._refused, *self._writing)}
        self._on_disk.update(record.uid for record in records)
        for record in records:
            if record.uid not in waiting:
                self._refused[record] = "kept from before the app stopped; Retry records it"

    def dismiss(self, asked: Sequence[CatchRecord]) -> list[CatchRecord]:
        """Those of ``asked`` still refused, dropped at the officer's word: the ones the
        question named (``dismiss_question``), not one refused while it was open."""
        dropped = [record for record in asked if record in self._refused]
        for record in dropped:
            del self._refused[record]
        self._on_disk.difference_update(record.uid for record in dropped)
        if dropped:
            names = ", ".join(record.label for record in dropped)
            self._latest = [(f"dismissed, not recorded: {names}", False)]
        return dropped

    def not_forgotten(self, dismissed: list[CatchRecord], why: str) -> None:
        """Dismissed, but still kept on disk: the next start offers them again."""
        names = ", ".join(record.label for record in dismissed)
        self._latest.append(
            (f"dismissed, but still kept on disk: {names}; offered again at the next start"
             f" ({why})", True)
        )  # fmt: skip

    def recorded(self, record: CatchRecord, text: str) -> None:
        self._writing.remove(record)
        self._on_disk.discard(record.uid)
        self._latest.append((f"{record.name}: {text}", False))

    def failed(self, record: CatchRecord, why: str) -> None:
        """Refused; ``why`` says whether the refusal kept it on disk (``CatchStore.record``).
        One that an earlier refusal kept there is still there, whatever this one could do."""
        self._writing.remove(record)
        if KEPT_ON_DISK in why:
            self._on_disk.add(record.uid)
        elif KEPT_IN_MEMORY in why and record.uid in self._on_disk:
            not_again = why.replace(KEPT_IN_MEMORY, "not kept on disk again")
            why = f"{not_again}; still kept on disk from its earlier refusal"
        self._refused[record] = why

    def recorded_before(self, record: CatchRecord, warning: str) -> None:
        """The store wrote nothing: these fish of this photo were recorded before. Not a
        refusal to retry (it would be refused again): a warning, which a second Record of
        the same fish overrides."""
        self._writing.remove(record)
        self._on_disk.discard(record.uid)  # nothing written: its entry, if any, deleted
        self._latest.append((f"{record.name}: {warning}", True))

    def not_written(self, name: str, why: str) -> None:
        """A Record refused before anything was written (a field to fix, no store key)."""
        self._latest = [(f"{name}: not recorded: {why}", True)]

    def outcome(self) -> Outcome:
        lines = [(f"NOT RECORDED {r.label}: {why}", True) for r, why in self._refused.items()]
        lines += [(f"recording {record.label}…", False) for record in self._writing]
        lines += self._latest
        return Outcome(
            "\n".join(text for text, _ in lines),
            any(problem for _, problem in lines),
            bool(self._refused),
        )


def dismiss_question(records: Sequence[CatchRecord]) -> str:
    """What Dismiss asks before it deletes ``records`` for good: how many catches (and fish)
    are lost, each named by its photo and the species of each fish lost (as confirmed, else
    the pack's answer); of a catch the store holds in part, only the fish it lacks."""
    fish = sum(len(record.unrecorded) for record in records)
    lost = f"{len(records)} catch{'es' if len(records) > 1 else ''}"
    if fish != len(records):
        lost += f" ({fish} fish)"
    named = "; ".join(_lost_fish(record) for record in records)
    return (
        f"Dismiss {lost} not recorded? {named}. A catch dismissed is deleted for good, from"
        " this list and from the disk: it cannot be retried, nor is it offered at the next"
        " start. (No: keep them for Retry.)"
    )


def _lost_fish(record: CatchRecord) -> str:
    lost = record.unrecorded
    confirmed = [*record.confirmed, *(None,) * len(record.fish)]  # one per fish, if given
    species = ", ".join(confirmed[n] or verdict_text(record.fish[n].prediction) for n in lost)
    total = len(record.fish)
    if total == 1:
        return f"{record.name}: {species}"
    if len(lost) == total:
        return f"{record.name}: {total} fish: {species}"
    held = total - len(lost)
    return (
        f"{record.name}: {len(lost)} of {total} fish not recorded: {species}"
        f" (the {held} recorded already {'stays' if held == 1 else 'stay'})"
    )
