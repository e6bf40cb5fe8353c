"""When a catch was made: the officer's ``--observed-at``, else the photo's own EXIF time
where it names a moment, else the time of recording; a real store, the default pack, a real
f4k photo given an EXIF record by Pillow."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from desktop.catch_errors import CatchError
from desktop.catch_report import observed_text
from desktop.catch_time import ObservedTime, observed_time
from desktop.photo_time import PhotoTime
from sync.store import Passphrase, Store
from sync.store.clock import RELEASED
from sync.store.clock_floor import ClockFloor
from sync.store.key_sources import PASSPHRASE_ENV
from sync.store.photos import load_photo
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.test_catch import CONFIDENT
from tests.desktop.test_catch_cli import held, jaga_catch
from tests.sync.conftest import FAST

PIL = pytest.importorskip("PIL.Image")

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# Before any run of these tests, but within a trip (90 days) of this release: a photo taken
# long before the release date was taken by a camera whose clock was reset.
CAUGHT = RELEASED - timedelta(days=30) + timedelta(hours=6, minutes=15)
PLUS_8 = timezone(timedelta(hours=8))
CAUGHT_AT_PLUS_8 = f"{CAUGHT.astimezone(PLUS_8):%Y:%m:%d %H:%M:%S}"  # the camera's reading


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)


def with_exif(source: Path, folder: Path, reading: str, offset: str | None) -> Path:
    """``source`` re-saved as a JPEG whose EXIF says it was taken at ``reading``."""
    exif = PIL.Exif()
    fields = exif.get_ifd(0x8769)
    fields[0x9003] = reading
    if offset is not None:
        fields[0x9011] = offset
    buffer = io.BytesIO()
    PIL.open(source).convert("RGB").save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    photo = folder / "dated.jpg"
    photo.write_bytes(buffer.getvalue())
    return photo


def recorded(store_path: Path, out: dict[str, Any]) -> tuple[datetime, datetime, Any]:
    """The observation's time, its photo's taken_at, and the observation."""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.observations.get(out["observation_uid"])
        photo = load_photo(store.database, out["photo_uid"])
    return stored.observed_at, photo.taken_at, stored


def run_json(capsys: pytest.CaptureFixture[str], photo: Path, db: Path, *options: str) -> Any:
    assert jaga_catch(photo, db, *options, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_the_photos_own_time_with_its_offset_is_when_the_fish_was_caught(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo = with_exif(f4k / CONFIDENT, tmp_path, CAUGHT_AT_PLUS_8, "+08:00")
    pack = ["--pack", str(default_species_pack)]
    out = run_json(capsys, photo, store_path, *pack, "--confirm", "fish_01")
    observed_at, taken_at, stored = recorded(store_path, out)
    assert observed_at == taken_at == CAUGHT
    assert out["observed_at_source"] == "photo"
    assert datetime.fromisoformat(out["observed_at"]) == CAUGHT
    # Confirmed on the spot: reviewed when recorded, not back when it was caught.
    assert stored.reviewed_at is not None and stored.reviewed_at > CAUGHT + timedelta(days=1)


def test_a_reading_without_its_offset_is_not_guessed_and_the_text_says_so(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo = with_exif(f4k / CONFIDENT, tmp_path, "2026:11:20 14:15:00", None)
    before = datetime.now(UTC)
    assert jaga_catch(photo, store_path, "--pack", str(default_species_pack)) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[:-1])
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.observations.get(lines["observation"])
    assert stored.observed_at >= before  # the time of recording
    assert "recorded now" in lines["observed"]
    assert "2026:11:20 14:15:00 names no time zone" in lines["observed"]


@pytest.mark.parametrize(
    "case",
    [
        ("2026:11:20 06:15:00", "+99:99", "names its zone as '+99:99', which is no UTC offset"),
        ("2026:11:20 06:15:00", "+14:30", "names its zone as '+14:30', which is no UTC offset"),
        ("2026:13:45 25:61:61", "+08:00", "is no date and time that exists"),
    ],
    ids=["+99:99", "+14:30", "month 13"],
)
def test_a_time_that_cannot_be_read_is_recorded_now_and_the_text_says_why(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, str],
) -> None:
    """It said "names no time zone" of a photo that names one, unreadable or impossible."""
    reading, offset, why = case
    photo = with_exif(f4k / CONFIDENT, store_path.parent, reading, offset)
    assert jaga_catch(photo, store_path, "--pack", str(default_species_pack)) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[:-1])
    assert "recorded now" in lines["observed"]
    assert f"the photo's time {reading} {why} (--observed-at gives one)" in lines["observed"]
    assert "no time zone" not in lines["observed"]


def test_the_officers_time_comes_first(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    later = f"{(CAUGHT + timedelta(hours=19)).astimezone(PLUS_8):%Y:%m:%d %H:%M:%S}"
    photo = with_exif(f4k / CONFIDENT, tmp_path, later, "+08:00")
    given = ["--observed-at", CAUGHT.astimezone(PLUS_8).isoformat(), "--pack"]
    given.append(str(default_species_pack))
    out = run_json(capsys, photo, store_path, *given)
    observed_at, taken_at, _ = recorded(store_path, out)
    assert observed_at == taken_at == CAUGHT and out["observed_at_source"] == "given"


def test_the_text_says_a_time_given_with_an_offset_in_utc() -> None:
    """``--observed-at 2026-11-29T06:15+08:00`` read "2026-11-29T06:15:00Z": the time in its
    own offset, with a literal Z after it, 8 hours out."""
    given = datetime(2026, 11, 29, 6, 15, tzinfo=timezone(timedelta(hours=8)))
    text = observed_text(ObservedTime(given, "given"))
    assert text.startswith("2026-11-28T22:15:00Z (")
    assert text.endswith(f"{given.astimezone():%Y-%m-%d %H:%M %z} here; as given)")


@pytest.mark.parametrize(
    "case",
    [
        ("2026-11-20T14:15", "with its offset from UTC"),  # a reading, not a moment
        ("yesterday", "with its offset from UTC"),
        ("2999-01-01T00:00Z", "is in the future"),
        ("9999-12-31T23:00-12:00", "is in the future"),  # after the last datetime in UTC
        ("0001-01-01T00:00:00-12:00", "the time of a catch is from 1900 on"),  # was pydantic's
        ("0001-01-01T00:00+14:00", "the time of a catch is from 1900 on"),  # before year 1 UTC
        ("1899-12-31T23:59Z", "the time of a catch is from 1900 on"),
    ],
)
def test_a_time_without_offset_or_in_the_future_is_refused_and_nothing_written(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str],
) -> None:
    when, said = case
    before = held(store_path)
    options = ["--observed-at", when, "--pack", str(default_species_pack)]
    with pytest.raises(SystemExit) as usage:
        jaga_catch(f4k / CONFIDENT, store_path, *options)
    assert usage.value.code == 2
    assert said in capsys.readouterr().err
    assert held(store_path) == before


def test_observed_time_rule() -> None:
    zoned = PhotoTime(CAUGHT_AT_PLUS_8, CAUGHT)
    assert observed_time(None, zoned, NOW).at == CAUGHT
    assert observed_time(None, None, NOW).source == "recorded"
    ahead = PhotoTime("2026:12:01 00:00:00", NOW + timedelta(hours=1))  # a camera ahead
    late = observed_time(None, ahead, NOW)
    assert (late.at, late.source) == (NOW, "recorded") and "later than this clock" in (
        late.note or ""
    )
    assert observed_time(CAUGHT, ahead, NOW).source == "given"
    reset = PhotoTime("2000:01:01 00:00:00", datetime(2000, 1, 1, tzinfo=UTC))  # never set
    unset = observed_time(None, reset, NOW)
    assert (unset.at, unset.source) == (NOW, "recorded") and "predates" in (unset.note or "")
    with pytest.raises(CatchError, match="in the future"):
        observed_time(NOW + timedelta(seconds=1), None, NOW)
    # Deterministic: what was stored as "now" is said again to have come from that source.
    for photo in (zoned, ahead, None):
        first = observed_time(None, photo, NOW)
        assert observed_time(None, photo, first.at) == first


def test_a_catch_is_recorded_as_of_when_it_was_asked_for(
    store_path: Path, default_species_pack: Path, f4k: Path
) -> None:
    """The panel's Retry writes a refused catch later, maybe after the clock was corrected
    back: it is dated as of the Record, and a time then later than the clock is no error."""
    from desktop.catch import CatchDetails, classify_catch, record_catches
    from desktop.catch_photo import read_catch_photo
    from inference.fish.classify import SpeciesClassifier

    photo = read_catch_photo(f4k / CONFIDENT)  # no capture time of its own
    fish = classify_catch(SpeciesClassifier.from_path(default_species_pack), photo, [])
    pressed = datetime.now(UTC) + timedelta(hours=1)  # the clock has since stepped back
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (recorded,) = record_catches(
            store.observations, photo, fish, CatchDetails("Ana Lima"),
            confirmed_species=["fish_01"], clock=store.clock, recorded_at=pressed,
        )  # fmt: skip
    assert recorded.observed_at == recorded.reviewed_at == pressed


YEARS = timedelta(days=3 * 365)


def test_with_the_clock_behind_the_hub_time_seen_the_true_time_is_taken() -> None:
    """A clock reset years back (dead RTC battery): the newest hub time this device pulled is
    a lower bound on the true time, so the officer's time and the camera's are taken up to
    that bound plus a trip's slack, and the time of recording is not years ago."""
    hub_seen = NOW + YEARS  # the clock reads NOW, three years behind
    caught = hub_seen + timedelta(days=2)  # two days at sea since the last sync
    given = observed_time(caught, None, NOW, floor=ClockFloor(hub_seen=hub_seen))
    assert (given.at, given.source) == (caught, "given")
    assert "clock looks wrong" in (given.note or "")
    photo = PhotoTime(f"{caught:%Y:%m:%d %H:%M:%S}", caught)
    assert observed_time(None, photo, NOW, floor=ClockFloor(hub_seen=hub_seen)).at == caught
    unknown = observed_time(None, None, NOW, floor=ClockFloor(hub_seen=hub_seen))
    assert (unknown.at, unknown.source) == (hub_seen, "recorded")
    assert "clock looks wrong" in (unknown.note or "")
    with pytest.raises(CatchError, match=r"in the future.*clock looks wrong"):
        observed_time(
            hub_seen + timedelta(days=400), None, NOW, floor=ClockFloor(hub_seen=hub_seen)
        )
    # A clock that is right is held to itself, whatever the hub time seen
    with pytest.raises(CatchError, match="in the future"):
        observed_time(
            NOW + timedelta(seconds=1),
            None,
            NOW,
            floor=ClockFloor(hub_seen=NOW - timedelta(hours=1)),
        )


def test_jaga_catch_takes_the_true_time_when_the_clock_is_behind(
    store_path: Path,
    default_species_pack: Path,
    f4k: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sync.store.edit_clock import note_hub_time

    true_now = datetime.now(UTC) + YEARS  # this machine's clock reads three years behind it
    with (
        Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store,
        store.database.write() as connection,  # as a pull from the hub leaves it
    ):
        hub_time = true_now - timedelta(days=1)
        note_hub_time(connection, [(str(uuid4()), hub_time)], hub_time, store.clock.now())
    caught = true_now - timedelta(hours=2)
    given = ["--observed-at", caught.isoformat(), "--pack", str(default_species_pack)]
    assert jaga_catch(f4k / CONFIDENT, store_path, *given) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[:-1])
    assert "clock looks wrong" in lines["observed"]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.observations.get(lines["observation"]).observed_at == caught
