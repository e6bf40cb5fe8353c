"""Small manifests and source files built inside tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from inference.pack.manifest import InputContract, Manifest, ModelSpec, PypiSource, UrlSource

CONTRACT = InputContract(
    name="input", shape=("N", 3, 8, 8), example=(1, 3, 8, 8), layout="NCHW", colour="BGR",
    range="0-255",
)  # fmt: skip


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_spec(
    model_id: str, filename: str, source_sha: str, built_sha: str | None = None
) -> ModelSpec:
    """A copy-converter model whose single source is a URL (or a mirror file)."""
    return ModelSpec(
        id=model_id, name=model_id, role="test", version="1", licence="CC0-1.0",
        file=f"{model_id}.onnx", converter="copy", sha256=built_sha, card="none.md",
        sources={"onnx": UrlSource(url=f"http://127.0.0.1:9/{filename}", sha256=source_sha)},
        input=CONTRACT,
    )  # fmt: skip


def pypi_source(artifact: Path, member: str, member_sha: str) -> PypiSource:
    return PypiSource(
        pypi="jaga-test-artifact==1.0", artifact=artifact.name,
        artifact_sha256=sha256_bytes(artifact.read_bytes()), member=member, sha256=member_sha,
    )  # fmt: skip


def manifest_of(*specs: ModelSpec) -> Manifest:
    return Manifest.model_validate(
        {"schema": 1, "pack": "t", "version": "1", "models": [s.model_dump() for s in specs]}
    )


# Two copy-converter models whose sources sit in a mirror folder (see write_mirror).
PAYLOADS = {"a": b"model a" * 50, "b": b"model b" * 50}


def two_model_manifest() -> Manifest:
    return manifest_of(
        *(url_spec(i, f"{i}.onnx", sha256_bytes(data)) for i, data in PAYLOADS.items())
    )


def write_mirror(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for model_id, data in PAYLOADS.items():
        (folder / f"{model_id}.onnx").write_bytes(data)
    return folder
