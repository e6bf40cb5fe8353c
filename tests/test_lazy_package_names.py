"""``sync.store`` and ``inference.face`` load their names on first use (PEP 562): three
lists name them (the ``TYPE_CHECKING`` imports the type checker reads, ``_HOMES`` that
``__getattr__`` reads, and ``__all__``). A name added to one and not the others would be known
to mypy and missing at run time, or the reverse: they must agree, and each must resolve to its
home's object."""

from __future__ import annotations

import ast
import importlib
import inspect
from types import ModuleType

import pytest

LAZY_PACKAGES = ("sync.store", "inference.face")


@pytest.fixture(params=LAZY_PACKAGES)
def package(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def _type_checking_imports(package: ModuleType) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(package))
    (block,) = [
        node for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]  # fmt: skip
    return {
        alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_lazy_names_the_type_checker_and_all_agree(package: ModuleType) -> None:
    homes = package._HOMES
    assert _type_checking_imports(package) == homes
    assert sorted(package.__all__) == sorted(homes)


def test_each_lazy_name_is_its_homes_object(package: ModuleType) -> None:
    for name, home in package._HOMES.items():
        assert getattr(package, name) is getattr(importlib.import_module(home), name), name
