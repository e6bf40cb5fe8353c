"""Match a parsed dlib network against the face descriptor's ResNet template.

:mod:`.dlib_dat` reads the layers; dlib writes no name for a ``tag`` or a ``skip``, so which
wrapper was which, and where each residual block (``ares``, ``ares_down``) starts and ends,
is decided here by walking the layers from the input and checking each is what the template
(:mod:`.dlib_resnet`'s docstring) expects there. Anything else is refused with the layer's
index and what was expected. Only numpy dataclasses: :mod:`.dlib_resnet` builds the torch
module from the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from inference.errors import ConversionError
from inference.pack.converters.dlib_dat import (
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    FullyConnected,
    InputRgbImage,
    Layer,
    Pool,
    Relu,
    TagOrSkip,
)

_L = TypeVar("_L", bound=Layer)


@dataclass(frozen=True)
class ConvAffine:
    """A convolution and the affine layer (dlib's frozen batch norm) that follows it."""

    conv: Conv
    affine: Affine


@dataclass(frozen=True)
class ResidualBlock:
    first: ConvAffine
    second: ConvAffine
    shortcut_pool: Pool | None  # the avg_pool of ares_down; None for ares


@dataclass(frozen=True)
class DescriptorPlan:
    input: InputRgbImage
    stem: ConvAffine
    stem_pool: Pool
    blocks: tuple[ResidualBlock, ...]
    head: FullyConnected


class _LayerCursor:
    """Walks the parsed layers from the input, checking each is what the template expects."""

    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self._layers = layers
        self._index = 0

    def peek(self) -> Layer | None:
        return self._layers[self._index] if self._index < len(self._layers) else None

    def take(self, kind: type[_L], expected: str) -> _L:
        layer = self.peek()
        if not isinstance(layer, kind):
            raise self.mismatch(expected)
        self._index += 1
        return layer

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise self.mismatch("the end of the network")

    def mismatch(self, expected: str) -> ConversionError:
        layer = self.peek()
        found = "the end of the network" if layer is None else repr(layer)[:120]
        return ConversionError(
            f"dlib .dat layer {self._index} of {len(self._layers)} (counting from the input): "
            f"expected {expected}, found {found}; this is not dlib's ResNet face descriptor"
        )


def _take_conv_affine(cursor: _LayerCursor, where: str) -> ConvAffine:
    conv = cursor.take(Conv, f"the convolution of {where}")
    affine = cursor.take(Affine, f"a per-channel affine layer after the convolution of {where}")
    channels = conv.filters.shape[0]
    if not affine.per_channel or affine.gamma.shape != (channels, 1, 1):
        raise ConversionError(
            f"dlib .dat {where}: expected a per-channel affine layer of {channels} channels "
            f"after its convolution, found gamma of shape {affine.gamma.shape}"
        )
    return ConvAffine(conv=conv, affine=affine)


def _take_pool(cursor: _LayerCursor, kind: str, whole_plane: bool, expected: str) -> Pool:
    pool = cursor.take(Pool, expected)
    # Only unpadded pools: dlib and torch count padding differently in an average.
    if pool.kind != kind or (pool.window == (0, 0)) != whole_plane or pool.padding != (0, 0):
        raise ConversionError(f"dlib .dat: expected {expected}, found {pool}")
    return pool


def _take_block(cursor: _LayerCursor, number: int) -> ResidualBlock:
    where = f"residual block {number}"
    cursor.take(TagOrSkip, f"the tag1 that opens {where}")
    first = _take_conv_affine(cursor, f"{where}'s first half")
    cursor.take(Relu, f"the relu inside {where}")
    second = _take_conv_affine(cursor, f"{where}'s second half")
    shortcut_pool = None
    if isinstance(cursor.peek(), TagOrSkip):  # ares_down: tag2, skip1, avg_pool
        cursor.take(TagOrSkip, f"the tag2 of down-sampling {where}")
        cursor.take(TagOrSkip, f"the skip1 of down-sampling {where}")
        shortcut_pool = _take_pool(cursor, "avg", False, f"the unpadded avg_pool of {where}")
    cursor.take(AddPrev, f"the add_prev that closes {where}")
    cursor.take(Relu, f"the relu after {where}")
    return ResidualBlock(first=first, second=second, shortcut_pool=shortcut_pool)


def plan_descriptor(network: DlibNetwork) -> DescriptorPlan:
    """Match the parsed layers against dlib's face-descriptor ResNet template."""
    cursor = _LayerCursor(network.layers)
    stem = _take_conv_affine(cursor, "the stem")
    cursor.take(Relu, "the stem's relu")
    stem_pool = _take_pool(cursor, "max", False, "the stem's unpadded max_pool")
    blocks: list[ResidualBlock] = []
    while isinstance(cursor.peek(), TagOrSkip):
        blocks.append(_take_block(cursor, len(blocks) + 1))
    if not blocks:
        raise cursor.mismatch("the tag1 that opens the first residual block")
    _take_pool(cursor, "avg", True, "avg_pool_everything after the last residual block")
    head = cursor.take(FullyConnected, "the final fc_no_bias layer")
    cursor.expect_end()
    return DescriptorPlan(network.input, stem, stem_pool, tuple(blocks), head)
