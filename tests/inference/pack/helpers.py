"""Small manifests and source files built inside tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from inference.pack.files import sha256_of
from inference.pack.installed import ModelPack
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


def pack_of_one(model_pack: ModelPack, model_id: str, root: Path) -> ModelPack:
    """A model pack at ``root`` holding only ``model_id`` of ``model_pack`` (copied, with its
    install record): a models folder the tests may lock, build into and break."""
    spec = model_pack.manifest.model(model_id)
    manifest = Manifest.model_validate(
        {"schema": 1, "pack": "t", "version": "1", "models": [spec.model_dump()]}
    )
    pack = ModelPack(root, manifest)
    pack.root.mkdir()
    source = model_pack.model(model_id).path
    shutil.copyfile(source, pack.root / spec.file)
    pack.write_record(spec, sha256_of(source))
    return pack


# A second process holding a models folder's install lock (argv[1]) until the test opens
# its gate (argv[2]): a `jaga models install` running meanwhile.
HOLD_INSTALL_LOCK = """
import sys
from pathlib import Path
from inference.pack.lock import install_lock
from tests.inference.pack.pack_worker import wait_at
with install_lock(Path(sys.argv[1]), print):
    wait_at(Path(sys.argv[2]))
"""
