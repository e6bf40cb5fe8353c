"""Fixtures for the store tests: a fake clock, fast KDF settings, real SQLCipher files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from sync.store import (
    Consent,
    KeyFile,
    ModelRef,
    Passphrase,
    Photo,
    Store,
    StoreConfig,
    Template,
)
from sync.store.keys import create_key_file

REPO_ROOT = Path(__file__).resolve().parents[2]
# scrypt at N=2^10 keeps each open at a millisecond; production uses the default 2^17.
FAST = StoreConfig(busy_timeout_s=5.0, scrypt_n=2**10)
MODEL = ModelRef("dlib-resnet-128", "1")
OTHER_MODEL = ModelRef("arcface-r100", "2")


class FakeClock:
    """A clock that moves only when told. ``released``: the jaga release date it vouches for,
    as ``SystemClock`` does (``sync.store.clock.RELEASED``); None, the default, vouches for
    none, so a test's times are its own."""

    def __init__(
        self,
        start: datetime = datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        *,
        released: datetime | None = None,
    ) -> None:
        self.moment = start
        self.released = released

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "jaga.db"


@pytest.fixture
def passphrase() -> Passphrase:
    return Passphrase("correct horse battery staple")


@pytest.fixture
def store(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> Iterator[Store]:
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as opened:
        yield opened


@pytest.fixture
def key_file(tmp_path: Path) -> KeyFile:
    return create_key_file(tmp_path / "store.key")


def consent(clock: FakeClock, days: int = 365) -> Consent:
    return Consent(
        text_version="kiosk-consent-v3",
        given_at=clock.now(),
        operator="officer-7",
        retain_until=clock.now() + timedelta(days=days),
    )


def random_vector(seed: int, dim: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def template(seed: int, model: ModelRef = MODEL, dim: int = 128) -> Template:
    return Template(model=model, vector=random_vector(seed, dim), quality=0.9, source="camera")


def enrol(
    store: Store, clock: FakeClock, badge: str, seed: int, photos: Sequence[Photo] = ()
) -> str:
    """Enrol one person with one template; returns their uid."""
    enrolment = store.people.enrol(
        external_id=badge,
        display_name=f"Person {badge}",
        site="north-gate",
        consent=consent(clock),
        templates=[template(seed)],
        operator="officer-7",
        duplicate_threshold=0.6,
        photos=photos,
    )
    return enrolment.person.person_uid


def worker(*args: str) -> list[str]:
    """The command line that runs ``tests/sync/store_worker.py`` in a fresh interpreter."""
    return [sys.executable, "-m", "tests.sync.store_worker", *args]


def run_worker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        worker(*args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
