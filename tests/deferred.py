"""Modules a test module names at its top but imports only when a test uses them.

Collecting the suite imported torch (about 4 s of CPU) in every pytest worker through the
conversion and fine-tuning tests' module-level imports, though most runs never reach them.
``deferred("torch")`` stands for the module and imports it on the first attribute read;
:func:`models_extra` skips a module's tests where a package is missing, found without
importing it (``pytest.importorskip`` imports it). ``tests/test_collection_imports.py``
holds collection to it.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest


class _Deferred:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # pytest's collector probes every name of a module
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)


def deferred(name: str) -> Any:
    """The module ``name``, imported when an attribute of it is first read."""
    return _Deferred(name)


def models_extra(*names: str, reason: str = "conversion needs the 'models' extra") -> Any:
    """A mark that skips the tests where one of ``names`` is not installed."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{reason} ({', '.join(missing)})")
