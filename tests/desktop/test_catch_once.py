"""One photo, one record, even from two ``jaga catch`` runs at the same instant: two real
processes on a real store, each held just before its write and let go together. The check
for an earlier record of the photo is made inside the write, so the second to write sees the
first's record and is refused (``RecordedBeforeError``), whichever it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sync.store import Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.inference.fish.test_images import grey_png
from tests.sync.conftest import FAST, REPO_ROOT


def catch_worker(store: Path, photo: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.desktop.catch_worker", str(store), str(photo)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_runs_of_one_photo_at_once_record_it_once(store_path: Path, tmp_path: Path) -> None:
    photo = tmp_path / "deck.png"
    photo.write_bytes(grey_png(64, 48))
    runs = [catch_worker(store_path, photo) for _ in range(2)]
    try:
        for run in runs:  # both have read the store and are about to write
            assert run.stdout is not None
            assert run.stdout.readline().strip() == "writing"
        for run in runs:  # let both go at once: they race for the write lock
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        said = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate(timeout=60)
    assert [run.returncode for run in runs] == [0, 0]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        uids = [
            row[0] for row in store.database.query("SELECT observation_uid FROM fish_observations")
        ]
        photos = store.database.query("SELECT count(*) FROM photos")[0][0]
    assert (len(uids), photos) == (1, 1), f"recorded {len(uids)} times: {said}"
    assert said == sorted(["recorded before", f"recorded {uids[0]}"])
