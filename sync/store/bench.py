"""Benchmark of the store: open + gallery load, and durable write throughput.

Run ``python -m sync.store.bench`` (``--help`` for sizes). It builds real SQLCipher stores
in a temporary folder (about 0.6 GB for 1M templates), then reports:

* open (key file: no KDF) + load of one model's gallery, for each size: median and min of
  several runs, wall and CPU time, with the OS page cache warm;
* opening with a passphrase: the scrypt cost alone, paid once per start;
* durable writes (``synchronous=FULL``, one fsync per commit): access events and fish
  observations one per transaction, and observations batched per transaction.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sync.store.keys import KeyFile, ScryptParams, create_key_file
from sync.store.records import AccessEvent, FishObservation, ModelRef, SpeciesScore, new_uid
from sync.store.store import Store

MODEL = ModelRef("bench-model", "1")
_BULK_ROWS = 50_000


def fill_templates(store: Store, count: int, dim: int) -> None:
    """Insert ``count`` random templates under one person, in large transactions."""
    rng = np.random.default_rng(0)
    with store.database.write() as connection:
        connection.execute(
            "INSERT INTO people (person_uid, external_id, display_name, site,"
            " consent_text_version, consent_given_at, consent_operator, retain_until,"
            " created_at) VALUES ('bench', 'bench', 'Bench', 's', 'v', 't', 'o', 't', 't')"
        )
    for start in range(0, count, _BULK_ROWS):
        rows = min(_BULK_ROWS, count - start)
        vectors = rng.normal(size=(rows, dim)).astype("<f4")
        with store.database.write() as connection:
            connection.executemany(
                "INSERT INTO face_templates (template_uid, person_id, model_id, model_version,"
                " dim, vector, quality, source, created_at)"
                " VALUES (?, 1, ?, ?, ?, ?, 0.9, 'bench', 't')",
                (
                    (f"t{start + i:09d}", MODEL.model_id, MODEL.model_version, dim, v.tobytes())
                    for i, v in enumerate(vectors)
                ),
            )
    store.database.checkpoint()


def timed(action: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def bench_load(folder: Path, count: int, dim: int, runs: int) -> str:
    key = create_key_file(folder / f"{count}.key")
    path = folder / f"{count}.db"
    with Store.create(path, key) as store:
        fill_templates(store, count, dim)

    def open_and_load() -> None:
        with Store.open(path, key) as store:
            gallery = store.gallery(MODEL)
            assert len(gallery) == count

    walls, cpus = timed(open_and_load, runs)
    size_mb = path.stat().st_size / 1e6
    return (
        f"open+load {count:>9,} x {dim}-D ({size_mb:,.0f} MB): "
        f"median {statistics.median(walls):.3f} s wall (min {min(walls):.3f}), "
        f"median {statistics.median(cpus):.3f} s CPU  [{runs} runs, warm page cache]"
    )


def bench_kdf(runs: int) -> str:
    params = ScryptParams.fresh()
    walls, _ = timed(lambda: params.derive("a passphrase"), runs)
    return (
        f"passphrase KDF (scrypt N=2^17 r=8 p=1, 128 MiB): median {statistics.median(walls):.3f} s"
        " (added once to every passphrase open)"
    )


def _event(number: int) -> AccessEvent:
    # A real person uid: the outbox refuses a payload the hub's schema would.
    return AccessEvent(datetime.now(UTC), "site", "kiosk-1", "verified", new_uid(), 0.8, 0.9)


def _catch(number: int) -> FishObservation:
    return FishObservation(
        datetime.now(UTC), (SpeciesScore("Gadus morhua", 0.8),), False, "bench", notes=f"n{number}"
    )


def bench_writes(folder: Path, seconds: float, batch: int) -> list[str]:
    key: KeyFile = create_key_file(folder / "writes.key")
    lines = []
    with Store.create(folder / "writes.db", key) as store:
        cases: list[tuple[str, int, Callable[[int], object]]] = [
            ("access event + audit + outbox, 1 per commit", 1,
             lambda n: store.access.record(_event(n))),
            ("fish observation + outbox, 1 per commit", 1,
             lambda n: store.observations.add(_catch(n))),
            (f"fish observations + outbox, {batch} per commit", batch,
             lambda n: store.observations.add_many([_catch(n + i) for i in range(batch)])),
        ]  # fmt: skip
        for label, per_commit, write in cases:
            commits, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                write(commits * per_commit)
                commits += 1
            lines.append(
                f"durable writes, {label}: {commits * per_commit / elapsed:,.0f} records/s "
                f"({commits / elapsed:,.0f} commits/s, synchronous=FULL)"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sync.store.bench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: temp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for count in args.sizes:
            print(bench_load(Path(folder), count, args.dim, args.runs), flush=True)
        print(bench_kdf(3), flush=True)
        for line in bench_writes(Path(folder), args.write_seconds, args.batch):
            print(line, flush=True)


if __name__ == "__main__":
    main()
