"""The installed model pack: where it lives and what its record says.

``installed.json`` records, per model, the built file's sha256 and a digest of the recipe
it was built from (:func:`build_digest`). Loading a model checks the file against that
record, so a file changed after install is caught before ONNX Runtime ever reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import platformdirs

from inference.errors import ChecksumMismatchError, ModelNotInstalledError, PackError
from inference.pack.files import read_checked, sha256_of, write_json_atomically
from inference.pack.lock import install_lock, swap_lock, swap_settled
from inference.pack.manifest import Manifest, ModelSpec, load_manifest

log = logging.getLogger(__name__)
RECORD_NAME = "installed.json"
ENV_MODELS_DIR = "JAGA_MODELS_DIR"


def default_pack_dir() -> Path:
    """``$JAGA_MODELS_DIR``, else the user's cache folder."""
    configured = os.environ.get(ENV_MODELS_DIR)
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("jaga")) / "models"


def build_digest(spec: ModelSpec) -> str:
    """A digest of what makes a model's built file: its converter, the converter's options
    and each named source's checksum. Its name, licence, card, input contract and where a
    source is downloaded from change no byte of the build, so rewording or moving them in
    the manifest leaves installed models usable (a kiosk has no converter to rebuild with).
    """
    recipe = {
        "converter": spec.converter,
        "convert": spec.convert,
        "sources": {name: source.sha256 for name, source in spec.sources.items()},
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def spec_digest(spec: ModelSpec) -> str:
    """The digest of the whole manifest entry, which Jaga recorded (as ``spec``) before
    :func:`build_digest`: still written, for an older Jaga reading this pack, and read for
    a record that has no build digest."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def built_as_specified(spec: ModelSpec, record: dict[str, str]) -> bool:
    """Whether the installed file a record describes is what ``spec`` builds today.

    A pinned build is its checksum, whoever recorded it. An unpinned one is its recipe; a
    record from before build digests can only say whether the whole entry is unchanged.
    """
    if spec.sha256 is not None:
        return record.get("sha256") == spec.sha256
    if "build" in record:
        return record["build"] == build_digest(spec)
    return record.get("spec") == spec_digest(spec)


def _parse_records(text: str) -> dict[str, dict[str, str]]:
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(r, dict) for r in data.values()):
        raise ValueError("not a record of installed models")
    return data


class ModelState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    MODIFIED = "modified"  # the file changed after install
    OUTDATED = "outdated"  # the manifest builds another file now (built_as_specified)


@dataclass(frozen=True)
class InstalledModel:
    spec: ModelSpec
    path: Path
    sha256: str
    fix: str = ""  # what to run where the file is not the one installed

    def read_checked(self) -> bytes:
        """The model file's bytes, checked against ``sha256``: hand these to the runtime,
        never the path, or a file replaced after the check runs unchecked."""
        try:
            return read_checked(self.path, self.sha256, f"model {self.spec.id}")
        except ChecksumMismatchError as exc:
            if not self.fix:
                raise
            raise ChecksumMismatchError(f"{exc}; {self.fix}") from None


class ModelPack:
    """An installed pack folder, read against the manifest it was built from."""

    def __init__(self, root: Path | None = None, manifest: Manifest | None = None) -> None:
        self.root = root or default_pack_dir()
        self.manifest = manifest or load_manifest()
        self._locked = False

    @property
    def sources_dir(self) -> Path:
        return self.root / "sources"

    @property
    def engines_dir(self) -> Path:
        return self.root / "engines"

    def install_command(self, *args: str) -> str:
        """``jaga models install ARGS`` for this pack: with ``--dir`` unless it is the default
        folder, or the fix, followed as printed, installs elsewhere and this pack stays broken."""
        words = ["jaga", "models", "install", *args]
        if self.root.resolve() != default_pack_dir().resolve():
            words += ["--dir", shlex.quote(str(self.root))]
        return " ".join(words)

    def records(self) -> dict[str, dict[str, str]]:
        path = self.root / RECORD_NAME
        if not path.exists():
            return {}
        try:
            return _parse_records(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PackError(f"{path} is unreadable ({exc}); run: {self.install_command()}") from exc

    def set_aside_unreadable_record(self) -> Path | None:
        """Move an unreadable ``installed.json`` to ``installed.json.bad-<time>`` and return
        that path, or None if the record reads. Without this a damaged record is a dead end:
        every command, install included, stops on it. It is moved, not deleted, so whoever
        looks into what damaged it still can."""
        with self.locked():
            try:
                self.records()
            except PackError:
                aside = self.root / f"{RECORD_NAME}.bad-{time.strftime('%Y%m%d-%H%M%S')}"
                (self.root / RECORD_NAME).replace(aside)
                return aside
        return None

    @contextlib.contextmanager
    def locked(self, on_wait: Callable[[str], None] = log.info) -> Iterator[None]:
        """Hold the pack's install lock (see ``inference.pack.lock``); nested uses on this
        object hold it once, so an install can write records under the lock it already has."""
        if self._locked:
            yield
            return
        with install_lock(self.root, on_wait):
            self._locked = True
            try:
                yield
            finally:
                self._locked = False

    def write_record(self, spec: ModelSpec, sha256: str | None) -> None:
        with self.locked():  # read, change and write back with no other writer in between
            records = self.records()
            if sha256 is None:
                records.pop(spec.id, None)
            else:
                records[spec.id] = {
                    "file": spec.file, "sha256": sha256,
                    "build": build_digest(spec), "spec": spec_digest(spec),
                }  # fmt: skip
            write_json_atomically(records, self.root / RECORD_NAME)

    @contextlib.contextmanager
    def replacing(self) -> Iterator[None]:
        """Held by an install while it replaces a model, from taking its record out to
        writing it back: a reader meanwhile waits (:meth:`_settled`) rather than finding
        the model missing or its file not the recorded one."""
        with self.locked(), swap_lock(self.root):
            yield

    def state(self, spec: ModelSpec, *, hash_file: bool = True) -> ModelState:
        return self._settled(spec, hash_file=hash_file)[1]

    def _settled(
        self, spec: ModelSpec, *, hash_file: bool = True
    ) -> tuple[dict[str, str] | None, ModelState]:
        """The model's record and state. One not OK is read again once no install is
        replacing a model (``inference.pack.lock``): an install may have been half-way,
        and the happy path takes no lock."""
        record = self.records().get(spec.id)
        state = self._state_of(spec, record, hash_file=hash_file)
        if state is ModelState.OK:
            return record, state
        waiting = f"an install is replacing models in {self.root}; waiting for it"
        with swap_settled(self.root, log.info, waiting):
            record = self.records().get(spec.id)
            return record, self._state_of(spec, record, hash_file=hash_file)

    def _state_of(
        self, spec: ModelSpec, record: dict[str, str] | None, *, hash_file: bool = True
    ) -> ModelState:
        path = self.root / spec.file
        if record is None or not path.exists():
            return ModelState.MISSING
        if not built_as_specified(spec, record):
            return ModelState.OUTDATED
        if hash_file and sha256_of(path) != record["sha256"]:
            return ModelState.MODIFIED
        return ModelState.OK

    def model(self, model_id: str, *, hash_file: bool = True) -> InstalledModel:
        """The checked file of an installed model, or a one-line error saying how to fix it.
        ``hash_file=False`` only where the caller checks the bytes it uses
        (:meth:`InstalledModel.read_checked`, as a session does), or checked the file just
        now under the install lock (an install building on a model it has just installed).

        The record is read with the state it gives: an install in another process may take
        it out and write it back between two readings (``install --force``), and one found
        so half-way is waited for and read again (:meth:`_settled`)."""
        spec = self.manifest.model(model_id)
        record, state = self._settled(spec, hash_file=hash_file)
        if record is None or state is not ModelState.OK:
            raise self._unusable(spec, state)
        fix = f"run: {self.install_command(spec.id, '--force')}"
        return InstalledModel(spec, self.root / spec.file, record["sha256"], fix)

    def _unusable(self, spec: ModelSpec, state: ModelState) -> PackError:
        """The one-line error, with its fix, of a model in ``state`` (not OK)."""
        fix = f"run: {self.install_command(spec.id)}"
        if state is ModelState.MODIFIED:
            return ChecksumMismatchError(
                f"{self.root / spec.file} changed after install (checksum differs); "
                f"run: {self.install_command(spec.id, '--force')}"
            )
        if state is ModelState.OUTDATED:
            return ModelNotInstalledError(
                f"model {spec.id} was built from other sources or by another converter than "
                f"the manifest now names; {fix}"
            )
        return ModelNotInstalledError(f"model {spec.id} is not installed in {self.root}; {fix}")

    def source_path(self, model_id: str, source_name: str) -> Path:
        """The cached, checked source file a model was built from (for parity tests)."""
        source = self.manifest.model(model_id).sources[source_name]
        path = self.sources_dir / f"{source.sha256[:16]}-{source.filename}"
        if not path.exists():
            raise ModelNotInstalledError(
                f"source {path.name} is not cached; run: {self.install_command()}"
            )
        return path
