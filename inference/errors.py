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
    └── InputError                 an input tensor or image does not meet a model's contract
"""

from __future__ import annotations


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
