"""Errors of the fish pipeline, all under :class:`inference.errors.InferenceError`::

    InferenceError
    ├── PackError
    │   └── SpeciesPackError        a species pack is missing a file, malformed, or unverifiable
    │       └── PackVerificationError   a file's sha256 differs from the pack manifest
    └── InputError
        ├── DatasetError            a training or evaluation folder is unusable
        │   └── SpeciesMismatchError    its folders do not match the pack's species list
        └── ImageError              an image cannot be read (:mod:`inference.errors`, shared
                                    with the face tools: corrupt, empty, not an image, more
                                    pixels than a photo may have)

A blank or tiny image is not an error: it becomes a prediction with status ``no_fish``.
"""

from __future__ import annotations

from inference.errors import ChecksumMismatchError, InputError, PackError


class SpeciesPackError(PackError):
    """A species pack cannot be used."""


class PackVerificationError(SpeciesPackError, ChecksumMismatchError):
    """A species pack's file does not hash to what its manifest says."""


class DatasetError(InputError):
    """A folder of species folders cannot be used for training or evaluation."""


class SpeciesMismatchError(DatasetError):
    """The species folders do not match the species a pack knows."""
