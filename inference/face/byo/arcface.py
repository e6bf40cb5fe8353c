"""ArcFace recognisers (InsightFace) for bring-your-own packs: 112x112 chips, 512-D.

ArcFace models were trained on chips cut by a similarity transform that takes the five
landmarks (eye centres, nose tip, mouth corners) to InsightFace's fixed template
``arcface_dst``; :data:`ARCFACE_CHIP` is that template. YuNet's and SCRFD's landmarks are the
same five points in the same order (the subject's right eye, at the smaller x, first), so
they map onto it directly. The network reads RGB ``(x - 127.5) / 127.5`` and returns one
512-D vector per chip, L2-normalised here as every descriptor of the pipeline is.

The chip is cut by the pack's :class:`~inference.face.align.FaceAligner` and described by
its :class:`~inference.face.embed.FaceEmbedder` (the session is wrapped to apply ArcFace's
mean and std), so ArcFace descriptors are :class:`Embeddings` like dlib's, tagged with
their own model and checksum: a gallery refuses to compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from inference.errors import PackError
from inference.face.align import ChipTemplate, FaceAligner
from inference.face.byo.pack import ByoPack, RecogniserSpec
from inference.face.byo.sessions import (
    NormalisedSession,
    check_image_input,
    last_dims,
    open_session,
    read_graph_io,
)
from inference.face.embed import DescriptorModel, Embeddings, FaceEmbedder
from inference.face.types import FaceBox
from inference.runtime import Runtime, ThreadBudget

ARCFACE_CHIP = ChipTemplate(
    name="arcface112-v1",
    size=112,
    points=(
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    ),
    # Where YuNet's box lands in the chip: the median over 300 random LFW images.
    face_box=(16.3, 16.7, 94.4, 116.5),
)


class ArcFaceRecogniser:
    """Aligns faces to ArcFace's template and describes them with the pack's model."""

    def __init__(self, aligner: FaceAligner, embedder: FaceEmbedder) -> None:
        self.aligner = aligner
        self.embedder = embedder

    @classmethod
    def from_pack(
        cls, runtime: Runtime, pack: ByoPack, threads: ThreadBudget | None = None
    ) -> ArcFaceRecogniser:
        """The pack's recogniser, its checksum and contract checked before it runs."""
        spec = pack.recogniser
        if spec is None:
            raise PackError(f"{pack.root} declares no recogniser")
        path = pack.path(spec)
        sha256 = pack.checked_sha256(spec)
        io = read_graph_io(path, sha256)
        input_name = check_image_input(io, spec.input_size, spec.file)
        _check_output(spec, last_dims(io))
        session = open_session(runtime, path, sha256, io, side=spec.input_size, threads=threads)
        model = DescriptorModel(session.model_id, sha256[:12], spec.dimension)
        normalised = NormalisedSession(session, spec.mean, spec.std)
        embedder = FaceEmbedder(normalised, input_name, model, spec.input_size, spec.colour)
        return cls(FaceAligner(ARCFACE_CHIP), embedder)

    @property
    def model(self) -> DescriptorModel:
        return self.embedder.model

    @property
    def provider(self) -> str:
        return self.embedder.provider

    def describe(self, image: npt.NDArray[np.generic], faces: Sequence[FaceBox]) -> Embeddings:
        """One unit descriptor per face, in order."""
        return self.embedder.embed([self.aligner.align(image, face).chip for face in faces])


def _check_output(spec: RecogniserSpec, widths: Sequence[object]) -> None:
    if len(widths) != 1:
        raise PackError(f"{spec.file}: an ArcFace model has one output, the graph has "
                        f"{len(widths)}")  # fmt: skip
    width = widths[0]
    if isinstance(width, int) and width != spec.dimension:
        raise PackError(f"{spec.file}: the output is {width}-D, the contract says "
                        f"{spec.dimension}")  # fmt: skip
