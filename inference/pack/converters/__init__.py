"""Converters turn a model's pinned source files into the ONNX file the runtime loads.

A converter is a function ``convert(sources, output, options)``:

- ``sources`` maps the source names declared in ``assets/models.toml`` to local files whose
  sha256 has already been checked;
- ``output`` is where the ONNX file must be written (the installer moves it into place
  atomically and checksums it afterwards);
- ``options`` is the model's ``[models.convert]`` table from the manifest.

Converters import torch and friends lazily (the ``models`` extra): a kiosk that runs a
prebuilt pack never needs them. They are registered here by name so the manifest can only
name converters that exist.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from inference.errors import ConversionError, ManifestError


class Converter(Protocol):
    def __call__(
        self, sources: Mapping[str, Path], output: Path, options: Mapping[str, object]
    ) -> None: ...


def copy_onnx(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """A source that already is the ONNX file we run (YuNet): copied as is."""
    del options
    if len(sources) != 1:
        raise ConversionError(f"copy takes exactly one source, got {sorted(sources)}")
    (source,) = sources.values()
    shutil.copyfile(source, output)


# name -> "module:function"; modules are imported only when a conversion runs.
_REGISTRY: dict[str, str] = {
    "copy": "inference.pack.converters:copy_onnx",
    "minifasnet": "inference.pack.converters.minifasnet:convert",
    "dlib_resnet": "inference.pack.converters.dlib_resnet:convert",
    "facemesh_tflite": "inference.pack.converters.facemesh:convert",
    "efficientnet_lite0": "inference.pack.converters.efficientnet_lite:convert",
    "efficientnet_lite": "inference.pack.converters.efficientnet_lite:convert",
}


def known_converters() -> frozenset[str]:
    return frozenset(_REGISTRY)


def get_converter(name: str) -> Converter:
    """Import and return the converter registered under ``name``."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ManifestError(
            f"unknown converter {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConversionError(
            f"converter {name!r} needs the 'models' extra: pip install 'jaga[models]' ({exc})"
        ) from exc
    converter: Converter = getattr(module, function_name)
    return converter
