"""The kiosk reads its gallery (templates by a person's row id, then who those ids are) from
one snapshot of the store. Read in two, a sync page committed between them that erased the
person with the highest row id and brought another gave the newcomer the erased person's
row id (SQLite reuses the highest rowid), and the erased person's templates were taken as
the newcomer's: the erased face was still let in, greeted with someone else's name."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from desktop.kiosk.gallery import load_gallery, template_model
from inference.face.match import MatchSettings
from inference.face.stages import Stages
from sync.store import Passphrase, Store
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, enrol
from tests.sync.conftest import FAST

# The erasure below runs inside this test's own read (the snapshot it is about): its purge
# would wait the default 30 s for that read to end. Left owed instead, as a busy store does.
PURGE_LATER = dataclasses.replace(FAST, purge_wait_s=0)

pytestmark = pytest.mark.needs_shared
TEMPLATES_READ = "SELECT id, person_id, vector FROM face_templates"


def once_templates_are_read(store: Store, act: Any) -> None:
    """Run ``act`` (another connection's commit) as the store starts reading template rows:
    the moment a sync's page can land in."""
    done: list[bool] = []

    def trace(statement: str) -> None:
        if not done and statement.startswith(TEMPLATES_READ):
            done.append(True)
            act()

    with store.database.read() as connection:
        connection.set_trace_callback(trace)


def test_a_page_erasing_one_and_enrolling_another_mid_read_lends_nobody_their_face(
    kiosk_store: Store, stages: Stages
) -> None:
    assert stages.recogniser is not None
    model = stages.recogniser.model
    erased = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])  # row id 1
    john = sorted(next(p for p in sorted(shared_path("data", "faces", "johns").iterdir())
                       if p.is_dir()).glob("*.jpg"))[:1]  # fmt: skip

    def erase_and_enrol_elsewhere() -> None:
        with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=PURGE_LATER) as other:
            other.people.erase(erased, operator="hub", reason="erasure request")
            enrol(other, stages, "J-0", john)  # row id 1 again

    once_templates_are_read(kiosk_store, erase_and_enrol_elsewhere)
    index = load_gallery(kiosk_store, model, MatchSettings(), KIOSK.site).index
    newcomer = kiosk_store.people.by_external_id("J-0")
    assert newcomer is not None
    theirs = kiosk_store.gallery(template_model(model)).normalized()
    assert kiosk_store.people.by_local_ids([1]) == {1: newcomer}  # the row id was reused
    if newcomer.person_uid in index:
        assert np.allclose(index.templates_of(newcomer.person_uid).vectors, theirs)
    assert set(index.identities) <= {erased, newcomer.person_uid}
