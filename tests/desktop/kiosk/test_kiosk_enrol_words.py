"""What ``jaga kiosk enrol`` says of a field left blank: "an external id", "an operator",
in one line naming the field (a usage error, exit status 2, before the models load), with
nothing enrolled. Through ``main``, on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from main import main
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.sync.conftest import FAST

FIELDS = {"--id": "B-7", "--name": "Ada", "--consent-version": "v3", "--operator": "desk"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, model_pack: ModelPack) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv("JAGA_MODELS_DIR", str(model_pack.root))


@pytest.mark.parametrize(
    ("blank", "said"),
    [("--id", "an external id"), ("--operator", "an operator"), ("--name", "a display name"),
     ("--consent-version", "a consent version")],
)  # fmt: skip
def test_a_blank_field_is_named_in_plain_english(
    store_path: Path, tmp_path: Path, blank: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = FIELDS | {blank: " "}
    given = [item for pair in fields.items() for item in pair]
    with pytest.raises(SystemExit) as stopped:  # a usage error: before the models load
        main(["kiosk", "enrol", str(tmp_path / "never-read.jpg"), *given, "--retain-days",
              "90", "--site", "front-gate", "--db", str(store_path), "--providers", "cpu",
              "--threads", "1"])  # fmt: skip
    assert stopped.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"jaga kiosk enrol: error: argument {blank}: enrolment needs {said}, got ' '"
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0
