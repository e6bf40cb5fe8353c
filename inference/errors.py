"""Errors raised by the inference package.

Everything the UI or the CLI may need to show is a subclass of :class:`InferenceError`;
third-party exceptions (ONNX Runtime, OpenCV, urllib) are translated at the boundary where
they occur, so callers never handle a raw ``onnxruntime`` error::

    InferenceError
    ├── PackError                  the model pack: manifest, sources, install, cache
    │   ├── ManifestError          assets/models.toml is malformed or names an unknown converter
    │   ├── SourceUnavailableError a source cannot be had (no network, no mirror, not installed)
    │   ├── ChecksumMismatchError  a file's sha256 is not the pinned one
    │   ├── ModelNotInstalledError a model is needed but the pack has not been built
    │   └── ConversionError        a converter failed
    ├── RuntimeSetupError          a session cannot be created on any planned provider
    └── InputError                 an input tensor, image or video does not meet a
        │                          model's contract (a video: not a regular file, or frames
        │                          or length over its bounds)
        └── ImageError             an image file cannot be read: not a regular file, corrupt,
            │                      empty, more pixels or JPEG scans than a photo may have
            └── ImageTooLargeError the file is over its size limit
"""

from __future__ import annotations

from pathlib import Path


class InferenceError(Exception):
    """Base class of every error the inference package raises on purpose."""


class PackError(InferenceError):
    """Something is wrong with the model pack."""


class ManifestError(PackError):
    """The model manifest is malformed."""


class SourceUnavailableError(PackError):
    """A model's source file cannot be obtained."""


class ChecksumMismatchError(PackError):
    """A file's sha256 differs from the one it must have."""


class ModelNotInstalledError(PackError):
    """A model was requested that the installed pack does not hold."""


class ConversionError(PackError):
    """Converting a source into ONNX failed."""


class RuntimeSetupError(InferenceError):
    """No inference session could be created."""


class InputError(InferenceError):
    """An input does not meet a model's input contract."""


class ImageError(InputError):
    """An image file cannot be read or decoded, or would cost more than a photo does
    (:mod:`inference.image_file`)."""


class ImageTooLargeError(ImageError):
    """An image file over the size limit; ``size`` is its size, or the bytes read when it
    grew past the limit while it was read (the limit plus one)."""

    def __init__(self, path: Path, size: int, max_bytes: int) -> None:
        super().__init__(f"{path} is larger than the {max_bytes} bytes an image file may have")
        self.size = size
