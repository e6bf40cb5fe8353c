"""One passphrase, however a keyboard encodes it: Unicode normalisation before the KDF.

"é" arrives precomposed (U+00E9) from one system and as "e" + U+0301 from another; Hangul
as syllables or as conjoining jamo; a space as U+0020 or as a no-break space. New key slots
derive from the RFC 8265 OpaqueString mapping of the passphrase and say so in the header;
slots written before that still open with the code points their owner always typed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from pathlib import Path

import pytest

from sync.errors import NotAStoreError, WrongKeyError
from sync.store import Passphrase, Store, backup, restore
from sync.store import keys as store_keys
from sync.store.key_sources import resolve_key_source
from tests.sync.conftest import FAST, FakeClock, enrol
from tests.sync.test_store_cli import jaga
from tests.sync.test_store_keys import folder_state

NFC_E = "caf\u00e9 au lait du p\u00eacheur"
NFD_E = unicodedata.normalize("NFD", NFC_E)
HANGUL = "\ud55c\uad6d\uc5b4 \uc554\ud638"  # "한국어 암호", as syllables
JAMO = unicodedata.normalize("NFD", HANGUL)  # the same text as conjoining jamo
SPACED = "four words with spaces"
NO_BREAK = SPACED.replace(" ", "\u00a0")  # macOS Option-Space, French keyboards

# Each pair: the same passphrase as two systems deliver it.
SAME_TEXT = [(NFC_E, NFD_E), (HANGUL, JAMO), (SPACED, NO_BREAK)]
EITHER_WAY = [*SAME_TEXT, *((second, first) for first, second in SAME_TEXT)]


def legacy_store(path: Path, secret: str, clock: FakeClock) -> str:
    """A store whose key slot is as Jaga wrote it before normalisation: scrypt over the
    UTF-8 of the code points as typed, and no normalisation field. Returns a person's uid."""
    salt = b"sixteen byte salt"
    key = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=FAST.scrypt_n, r=8, p=1, dklen=32, maxmem=2**25
    )
    with Store.create(path, Passphrase("set up"), clock=clock, config=FAST) as store:
        person_uid = enrol(store, clock, "L-1", seed=1)
        store.database.rekey(key)
    check = hmac.new(key, b"jaga-store key check v1", hashlib.sha256).hexdigest()[:32]
    kdf = {"name": "scrypt", "salt": base64.b64encode(salt).decode(), "n": FAST.scrypt_n}
    slot = {"kind": "passphrase", "key_check": check, "kdf": kdf | {"r": 8, "p": 1}}
    header = {"format": "jaga-store-key-header", "version": 1, "current": slot}
    store_keys.header_path(path).write_text(json.dumps(header, indent=2, sort_keys=True) + "\n")
    return person_uid


@pytest.mark.parametrize(("created_with", "opened_with"), EITHER_WAY)
def test_a_new_store_opens_with_its_passphrase_however_it_is_encoded(
    created_with: str, opened_with: str, db_path: Path, clock: FakeClock
) -> None:
    assert created_with != opened_with
    with Store.create(db_path, Passphrase(created_with), clock=clock, config=FAST) as store:
        person_uid = enrol(store, clock, "B-1", seed=1)
    with Store.open(db_path, Passphrase(opened_with), config=FAST) as reopened:
        assert reopened.people.get(person_uid).external_id == "B-1"


def test_a_new_slot_records_its_normalisation_and_round_trips(db_path: Path) -> None:
    Store.create(db_path, Passphrase(NFD_E), config=FAST).close()
    document = json.loads(store_keys.header_path(db_path).read_text())
    assert document["current"]["kdf"]["normalization"] == "opaque-string"
    header = store_keys.read_header(db_path)
    assert header.current.normalization == "opaque-string"
    store_keys.write_header(db_path, header)
    assert store_keys.read_header(db_path) == header


def test_a_legacy_slot_round_trips_without_a_normalisation_field(
    db_path: Path, clock: FakeClock
) -> None:
    legacy_store(db_path, NFD_E, clock)
    header = store_keys.read_header(db_path)
    assert header.current.normalization is None
    store_keys.write_header(db_path, header)
    document = json.loads(store_keys.header_path(db_path).read_text())
    assert "normalization" not in document["current"]["kdf"]
    assert store_keys.read_header(db_path) == header


@pytest.mark.parametrize("secret", [NFD_E, NFC_E, JAMO, NO_BREAK])
def test_a_legacy_store_opens_with_the_passphrase_its_owner_always_typed(
    secret: str, db_path: Path, clock: FakeClock
) -> None:
    person_uid = legacy_store(db_path, secret, clock)
    header_before = store_keys.header_path(db_path).read_text()
    with Store.open(db_path, Passphrase(secret), config=FAST) as store:
        assert store.people.get(person_uid).external_id == "L-1"
    assert store_keys.header_path(db_path).read_text() == header_before


@pytest.mark.parametrize(("created_with", "opened_with"), [(NFD_E, NFC_E), (NFC_E, NFD_E)])
def test_a_legacy_store_also_opens_with_the_canonically_equal_form(
    created_with: str, opened_with: str, db_path: Path, clock: FakeClock
) -> None:
    person_uid = legacy_store(db_path, created_with, clock)
    with Store.open(db_path, Passphrase(opened_with), config=FAST) as store:
        assert store.people.get(person_uid).external_id == "L-1"


@pytest.mark.parametrize("legacy", [True, False])
def test_a_wrong_passphrase_is_the_same_clear_error_for_either_slot(
    legacy: bool, db_path: Path, clock: FakeClock
) -> None:
    if legacy:
        legacy_store(db_path, NFC_E, clock)
    else:
        Store.create(db_path, Passphrase(NFC_E), config=FAST).close()
    before = folder_state(db_path.parent)
    with pytest.raises(WrongKeyError, match=r"^wrong passphrase: it does not open this store"):
        Store.open(db_path, Passphrase("caf\u00e9 au lait du pecheur"), config=FAST)
    assert folder_state(db_path.parent) == before


def test_an_unknown_normalisation_is_refused_not_guessed(db_path: Path) -> None:
    Store.create(db_path, Passphrase(NFC_E), config=FAST).close()
    path = store_keys.header_path(db_path)
    document = json.loads(path.read_text())
    document["current"]["kdf"]["normalization"] = "nfkc-from-the-future"
    path.write_text(json.dumps(document))
    with pytest.raises(NotAStoreError, match="normali"):
        Store.open(db_path, Passphrase(NFC_E), config=FAST)


def test_a_rekey_to_the_same_passphrase_normalises_a_legacy_store(
    db_path: Path, clock: FakeClock
) -> None:
    person_uid = legacy_store(db_path, JAMO, clock)
    with Store.open(db_path, Passphrase(JAMO), config=FAST) as store:
        store.change_key(Passphrase(JAMO), operator="admin")
    assert store_keys.read_header(db_path).current.normalization == "opaque-string"
    with Store.open(db_path, Passphrase(HANGUL), config=FAST) as store:
        assert store.people.get(person_uid).external_id == "L-1"


def test_a_backup_of_a_legacy_store_restores_with_the_original_passphrase(
    db_path: Path, tmp_path: Path, clock: FakeClock
) -> None:
    person_uid = legacy_store(db_path, NFD_E, clock)
    copy = tmp_path / "backup.db"
    with Store.open(db_path, Passphrase(NFD_E), config=FAST) as store:
        backup(store, copy, operator="admin")
    assert store_keys.read_header(copy).current.normalization is None
    target = tmp_path / "elsewhere" / "jaga.db"
    restore(copy, target, Passphrase(NFD_E), operator="admin", config=FAST)
    with Store.open(target, Passphrase(NFD_E), config=FAST) as restored:
        assert restored.people.get(person_uid).external_id == "L-1"


def test_a_backup_restores_with_the_passphrase_typed_on_another_system(
    db_path: Path, tmp_path: Path, clock: FakeClock
) -> None:
    with Store.create(db_path, Passphrase(HANGUL), clock=clock, config=FAST) as store:
        person_uid = enrol(store, clock, "B-1", seed=1)
        backup(store, tmp_path / "backup.db", operator="admin")
    target = tmp_path / "elsewhere" / "jaga.db"
    restore(tmp_path / "backup.db", target, Passphrase(JAMO), operator="admin", config=FAST)
    with Store.open(target, Passphrase(JAMO), config=FAST) as restored:
        assert restored.people.get(person_uid).external_id == "B-1"


def test_a_prompted_passphrase_typed_twice_in_two_encodings_is_one_passphrase() -> None:
    answers = iter([NFC_E, NFD_E])
    source = resolve_key_source(
        None, env={}, confirm=True, prompt=lambda _: next(answers), interactive=True
    )
    assert source == Passphrase(NFC_E)


def test_the_cli_opens_a_store_from_the_environment_in_another_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JAGA_STORE_PATH", str(tmp_path / "jaga.db"))
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", NFD_E)
    assert jaga("store", "init", "--scrypt-log2n", "10") == 0
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", NFC_E)
    capsys.readouterr()
    assert jaga("store", "info") == 0
    assert "integrity    ok" in capsys.readouterr().out


def test_info_says_when_a_store_derives_from_the_passphrase_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "jaga.db"
    legacy_store(db, NFD_E, FakeClock())
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", NFD_E)
    assert jaga("store", "info", "--db", str(db)) == 0
    assert "as typed: `jaga store rekey`" in capsys.readouterr().out
    monkeypatch.setenv("JAGA_STORE_NEW_PASSPHRASE", NFD_E)
    assert jaga("store", "rekey", "--db", str(db), "--scrypt-log2n", "10") == 0
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", NFC_E)
    capsys.readouterr()
    assert jaga("store", "info", "--db", str(db)) == 0
    assert "as typed" not in capsys.readouterr().out
