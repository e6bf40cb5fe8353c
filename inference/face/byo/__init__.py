"""Bring-your-own InsightFace packs: an SCRFD detector and an ArcFace recogniser that run
through the same pipeline as the default pack.

Typical use (``jaga face detect --pack DIR``, ``jaga face verify --pack DIR``)::

    pack = load_byo_pack(Path("~/models/buffalo_l").expanduser())
    detector = ScrfdDetector.from_pack(runtime, pack)
    recogniser = ArcFaceRecogniser.from_pack(runtime, pack)

The weights are the user's, under the user's licence (InsightFace's own are for
non-commercial research): Jaga never ships, downloads or defaults to them.
"""

from inference.face.byo.arcface import ARCFACE_CHIP, ArcFaceRecogniser
from inference.face.byo.pack import (
    MANIFEST_NAME,
    ByoPack,
    DetectorSpec,
    RecogniserSpec,
    load_byo_pack,
)
from inference.face.byo.scrfd import ScrfdDetector

__all__ = [
    "ARCFACE_CHIP",
    "MANIFEST_NAME",
    "ArcFaceRecogniser",
    "ByoPack",
    "DetectorSpec",
    "RecogniserSpec",
    "ScrfdDetector",
    "load_byo_pack",
]
