"""How long after ``CatchStore.record`` is called its catch is durable on disk (committed,
``synchronous=FULL``, in the spool beside the store): the time a kill may lose a Record in.

Each run is a process of its own on a new store in a temporary folder, at the production
key cost (``StoreConfig()``: scrypt N=2^17) unless ``--scrypt-n``: the panel's start
(``CatchStore.at_start``, one open of the store), then one Record of ``--photo`` (default:
a JPEG of noise of about 4 MB, made once). The time runs from the call to the return of the
spool's write (``CatchSpool.keep``). ``--trees`` names source trees (the repository's root
of each version to compare); their runs are interleaved, so that the machine's other load
falls on all of them alike, and each tree's median is printed, with every run's figure.

    .venv/bin/python tools/measure_record_durable.py --runs 20 --trees /work/main .
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_ONE = "--one"


def measure_one(photo: Path, scrypt_n: int) -> float:
    """Seconds from the Record's call to its catch's commit in the spool, in this process."""
    from desktop.catch import CatchDetails, CaughtFish
    from desktop.catch_photo import read_catch_photo
    from desktop.catch_records import CatchRecord
    from desktop.catch_spool import CatchSpool
    from desktop.catch_store import CatchStore
    from inference.fish.types import FishPrediction, FishStatus
    from sync.store import Passphrase, Store, StoreConfig

    config = StoreConfig(scrypt_n=scrypt_n)
    source = Passphrase("a passphrase for the measurement")
    kept_at: list[float] = []
    keep = CatchSpool.keep

    def timed_keep(self: CatchSpool, *args: Any, **kwargs: Any) -> None:
        keep(self, *args, **kwargs)
        kept_at.append(time.perf_counter())

    CatchSpool.keep = timed_keep  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jaga.db"
        Store.create(path, source, config=config).close()
        catch_store = CatchStore(path, source, config)
        catch_store.at_start()
        no_fish = FishPrediction(FishStatus.NO_FISH, (), True, "measure", "no fish")
        catch = CatchRecord(
            read_catch_photo(photo, config).file(), (CaughtFish(None, no_fish),),
            CatchDetails(officer="Ana Lima"), (None,),
        )  # fmt: skip
        pressed = time.perf_counter()
        catch_store.record(catch)
    return kept_at[0] - pressed


def noise_jpeg(path: Path) -> Path:
    """A JPEG of noise, about 4 MB (noise does not compress): a phone's photo's size."""
    import cv2
    import numpy as np

    pixels = np.random.default_rng(7).integers(0, 256, (1600, 2150, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def run_in(tree: Path, photo: Path, scrypt_n: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), _ONE, str(photo), str(scrypt_n)],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == _ONE:
        print(measure_one(Path(sys.argv[2]), int(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--trees", type=Path, nargs="+", default=[Path.cwd()])
    parser.add_argument("--photo", type=Path)
    parser.add_argument("--scrypt-n", type=int, default=2**17)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photo = args.photo or noise_jpeg(Path(folder) / "catch.jpg")
        print(f"photo {photo.stat().st_size} bytes, scrypt N={args.scrypt_n}", flush=True)
        figures: dict[Path, list[float]] = {tree: [] for tree in args.trees}
        for run in range(args.runs):
            for tree in args.trees:
                figures[tree].append(run_in(tree, photo, args.scrypt_n))
                print(f"run {run + 1} {tree}: {figures[tree][-1] * 1000:.0f} ms", flush=True)
    for tree, seconds in figures.items():
        median = statistics.median(seconds) * 1000
        print(f"{tree}: median {median:.0f} ms over {len(seconds)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
