"""Fixtures of the face pipeline's tests: one real YuNet detector per session, on the CPU.

The CPU is asked for explicitly so that the golden boxes and the parity with OpenCV hold on
a machine with a GPU as well (TensorRT fp16 moves scores in the third decimal).
"""

from __future__ import annotations

import pytest

from inference.face import FaceDetector
from inference.pack.installed import ModelPack
from inference.runtime import OnnxSession, Runtime, ThreadBudget
from inference.runtime.providers import CPU


@pytest.fixture(scope="session")
def yunet_session(model_pack: ModelPack) -> OnnxSession:
    return Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2)).session("yunet_n")


@pytest.fixture(scope="session")
def detector(yunet_session: OnnxSession) -> FaceDetector:
    return FaceDetector(yunet_session, yunet_session.contract.name)
