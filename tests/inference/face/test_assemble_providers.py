"""Every session a built pipeline runs is reported with its provider (`face detect`'s
"providers", the kiosk's ready line and its metrics gauge all read ``providers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.face.assemble import StageChoice, build_stages, providers
from inference.face.settings import load_settings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

ON_CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def runtime(model_pack: ModelPack) -> Runtime:
    return Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))


def test_facemesh_is_reported_where_the_policy_asks_for_challenges(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "challenge.toml"
    path.write_text('[decision]\nchallenge = "always"\n', encoding="utf-8")
    stages = build_stages(runtime, load_settings(path), StageChoice(recogniser=False))
    assert stages.challenges is not None
    found = providers(stages)
    assert found["challenges"] == {"facemesh": ON_CPU}  # before: KeyError, never reported
    assert found["liveness"] == {"minifasnet_v2": ON_CPU, "minifasnet_v1se": ON_CPU}


def test_no_facemesh_is_reported_where_no_challenge_is_ever_asked(runtime: Runtime) -> None:
    stages = build_stages(runtime, load_settings(None), StageChoice(liveness=False))
    assert stages.challenges is None
    assert set(providers(stages)) == {"detector", "recogniser"}


def test_yunet_is_reported_where_it_refines_a_byo_detectors_landmarks(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "scrfd_500m_bnkps.onnx").symlink_to(
        shared_path("models", "byo-test", "scrfd_500m_bnkps.onnx")
    )
    stages = build_stages(runtime, load_settings(None), StageChoice(tmp_path, liveness=False))
    found = providers(stages)
    assert found["detector"] == ON_CPU  # SCRFD
    assert found["aligner"] == ON_CPU  # before: YuNet ran in the aligner, unreported
