"""A real writer process killed with SIGKILL mid-burst, many times: nothing committed is lost.

The writer prints a transaction's number only after ``COMMIT`` has returned. After each kill
the store must open, pass ``integrity_check``, hold every transaction that was reported, and
hold each transaction whole (the observation, its photo and both outbox entries) or not at
all. At most one unreported transaction may be present: the one whose COMMIT finished just
before the kill, before the writer could say so.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.store import KeyFile, Store
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, worker

KILLS = 32


@dataclass
class Tally:
    kills: int = 0
    reported: set[int] = field(default_factory=set)
    unreported_but_present: int = 0


class Writers:
    """Forks writers from one process that made the imports once (``store_worker bursts``):
    each writer is a process of its own, which opens the store and is SIGKILLed mid-burst;
    a fresh interpreter for each spent about a second of CPU on imports alone, 32 times."""

    def __init__(self, db: Path, key_file: KeyFile) -> None:
        self.forks = subprocess.Popen(
            worker("bursts", str(db), str(key_file.path)),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def burst_then_kill(self, start: int, delay_s: float) -> list[int]:
        """Run a writer from ``start``; SIGKILL it ``delay_s`` after its first commit."""
        assert self.forks.stdin is not None and self.forks.stdout is not None
        self.forks.stdin.write(f"{start}\n")
        self.forks.stdin.flush()
        said = self.forks.stdout.readline().split()
        first = self.forks.stdout.readline()
        if said[:1] != ["pid"] or not first.strip().isdigit():
            raise AssertionError(f"writer died before committing: {said} {first} {self.errors()}")
        time.sleep(delay_s)
        os.kill(int(said[1]), signal.SIGKILL)
        lines = [first]
        while not (line := self.forks.stdout.readline()).startswith("ended"):
            assert line, f"the forking worker died: {self.errors()}"
            lines.append(line)
        assert int(line.split()[1]) == -signal.SIGKILL
        return [int(line) for line in lines]

    def errors(self) -> str:
        """What the worker and its writers wrote to stderr, once it has exited."""
        if self.forks.stdin is not None and not self.forks.stdin.closed:
            self.forks.stdin.close()  # the worker's end: it exits
        self.forks.wait(timeout=30)
        return self.forks.stderr.read()[-3000:] if self.forks.stderr else ""

    def close(self) -> None:
        self.errors()
        for pipe in (self.forks.stdout, self.forks.stderr):
            if pipe is not None:
                pipe.close()


def check_after_kill(db: Path, key_file: KeyFile, tally: Tally, in_flight: int) -> int:
    """Assert the store is whole; returns the next free transaction number."""
    with Store.open(db, key_file, config=FAST) as store:
        assert store.database.query("PRAGMA integrity_check") == [("ok",)]
        notes = store.database.query("SELECT notes FROM fish_observations")
        present = {int(note.removeprefix("txn-")) for (note,) in notes}
        lost = tally.reported - present
        assert not lost, f"committed transactions lost after kill {tally.kills}: {sorted(lost)}"
        extra = present - tally.reported
        assert extra <= {in_flight}, f"unexpected transactions {sorted(extra)}"
        tally.unreported_but_present += len(extra)
        tally.reported |= extra  # committed, so from now on it must stay
        assert_whole_transactions(store, len(present))
    return max(present, default=-1) + 1


def assert_whole_transactions(store: Store, observations: int) -> None:
    """Each observation came with one photo and two outbox entries, or none of them did."""
    query = store.database.query
    assert query("SELECT count(*) FROM photos") == [(observations,)]
    assert query("SELECT count(*) FROM fish_observations WHERE photo_id IS NULL") == [(0,)]
    by_entity = dict(query("SELECT entity, count(*) FROM outbox GROUP BY entity"))
    assert by_entity == (
        {"photo": observations, "fish_observation": observations} if observations else {}
    )


@pytest.mark.slow
def test_sigkill_mid_burst_never_loses_a_committed_transaction(
    db_path: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    Store.create(db_path, key_file, clock=clock, config=FAST).close()
    rng = random.Random(4)  # fixed: a failure can be replayed
    tally, start = Tally(), 0
    writers = Writers(db_path, key_file)
    try:
        for _ in range(KILLS):
            numbers = writers.burst_then_kill(start, delay_s=rng.uniform(0.0, 0.3))
            assert numbers == list(range(start, start + len(numbers)))
            tally.reported.update(numbers)
            tally.kills += 1
            start = check_after_kill(db_path, key_file, tally, in_flight=start + len(numbers))
    finally:
        writers.close()
    print(
        f"\n{tally.kills} SIGKILLs, {len(tally.reported)} committed transactions, 0 lost, "
        f"{tally.unreported_but_present} committed-but-unreported (whole)"
    )
    assert tally.kills == KILLS
    assert len(tally.reported) > KILLS  # the kills really landed mid-burst
