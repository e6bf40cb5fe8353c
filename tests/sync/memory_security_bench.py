"""What ``PRAGMA cipher_memory_security = ON`` costs a store: one open and 1,000 reads.

``python -m tests.sync.memory_security_bench [--rounds 5]``. The setting is the whole
process's and cannot be turned off once on (SQLCipher 4.5+), so each timing runs in a
process of its own, on and off taking turns in the same run, on one real store (a key file:
no scrypt, which memory security does not touch). Each timing is the process's CPU time
(user and system) for ``Store.open``, 1,000 reads of one 1 KiB row by its id (each its own
statement, as the app's reads are), and the close; then, the store open, every row in one
query (as a gallery load reads its templates).
Prints each mode's median and the ratio. Not a test: timings on a shared machine are not
asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlcipher3

from sync.store import KeyFile, Store, key_memory
from sync.store.key_memory import turn_on_memory_security
from sync.store.keys import create_key_file

ROWS = 2_000
READS = 1_000


def make_store(folder: Path) -> tuple[Path, Path]:
    key = create_key_file(folder / "bench.key").path
    path = folder / "bench.db"
    with Store.create(path, KeyFile(key)) as store, store.database.write() as connection:
        connection.execute("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, data BLOB)")
        rows = [(i, random.randbytes(1024)) for i in range(ROWS)]
        connection.executemany("INSERT INTO bench_rows VALUES (?, ?)", rows)
    return path, key


def one_timing(path: Path, key: Path, memory_security: bool) -> tuple[float, float]:
    """CPU seconds (user and system: the machine is shared, and memory security's cost is
    CPU, memset and mlock) for an open, 1,000 reads and the close; then for reading every
    row at once (as a gallery load reads its templates), the store opened."""
    connection = sqlcipher3.connect(":memory:")
    if memory_security:
        turn_on_memory_security(connection)
    else:  # as before it was turned on: the store's first key does not turn it on
        key_memory._turned_on.set()
    connection.close()
    ids = [random.randrange(ROWS) for _ in range(READS)]
    started = time.process_time()
    with Store.open(path, KeyFile(key)) as store:
        for row_id in ids:
            store.database.query("SELECT data FROM bench_rows WHERE id = ?", (row_id,))
    reads = time.process_time() - started
    with Store.open(path, KeyFile(key)) as store:
        started = time.process_time()
        store.database.query("SELECT data FROM bench_rows")
        return reads, time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "STORE", "KEY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, path, key = args.child
        print(*one_timing(Path(path), Path(key), mode == "on"))
        return 0
    timings: dict[str, list[float]] = {"off": [], "on": []}
    scans: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as folder:
        path, key = make_store(Path(folder))
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                command = [
                    sys.executable,
                    "-m",
                    __spec__.name,
                    "--child",
                    mode,
                    str(path),
                    str(key),
                ]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                reads, scan = out.split()
                timings[mode].append(float(reads))
                scans[mode].append(float(scan))
    report("open + 1,000 reads", timings)
    report(f"all {ROWS:,} rows (2 MiB) in one query", scans)
    return 0


def report(what: str, timings: dict[str, list[float]]) -> None:
    print(what)
    for mode in ("off", "on"):
        print(f"  {mode:>3}: median {statistics.median(timings[mode]) * 1000:.1f} ms of"
              f" {', '.join(f'{t * 1000:.1f}' for t in timings[mode])} ms")  # fmt: skip
    off, on = (statistics.median(timings[mode]) for mode in ("off", "on"))
    print(f"  on/off: {on / off:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
